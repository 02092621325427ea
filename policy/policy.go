// Package policy owns who may ask for which role, who approves it, how many
// approvals it needs, how long it may last, and when it is approved
// automatically or granted as break-glass. A Policy is immutable once loaded
// and safe for concurrent use; Holder swaps in a new one when the file
// changes.
package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Policy is a loaded, validated policy. The zero value is not usable; build
// one with Parse or FromMap.
type Policy struct {
	admins    []Ref
	resources map[string]*resource
	version   string
	// problems holds what static validation found; Parse and FromMap refuse
	// a policy that has any, so it is normally empty.
	problems []Problem
}

type resource struct {
	name        string
	description string
	provider    string
	roles       map[string]*role
}

type role struct {
	path       string // key path, for explanations and problems
	rules      Rules
	requesters []Ref // expanded; empty means anyone
	reasonMin  int
	reason     *regexp.Regexp
	reasonHint string
	auto       []autoRule
	breakGlass breakGlass
}

type autoRule struct {
	name        string
	requesters  []Ref // expanded; empty means the role's requesters
	maxDuration time.Duration
	window      *window
}

type breakGlass struct {
	enabled     bool
	maxDuration time.Duration
}

// ValidationError lists every problem found in a policy, each with its key
// path.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid policy"
	}
	msg := fmt.Sprintf("invalid policy: %s: %s", e.Problems[0].Field, e.Problems[0].Message)
	if n := len(e.Problems) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Version returns a short hash of the policy's canonical content: two files
// that differ only in comments, layout or key order have the same version.
func (p *Policy) Version() string { return p.version }

// Catalog returns every resource with its role names, sorted. The caller may
// modify the result.
func (p *Policy) Catalog() map[string][]string {
	out := make(map[string][]string, len(p.resources))
	for name, res := range p.resources {
		out[name] = sortedKeys(res.roles)
	}
	return out
}

// Rules returns a snapshot of the rules of one role, with policy groups
// expanded. The bool is false when the resource or role does not exist.
func (p *Policy) Rules(resource, role string) (Rules, bool) {
	r, ok := p.role(resource, role)
	if !ok {
		return Rules{}, false
	}
	return r.snapshot(), true
}

// Validate returns the problems of the policy, and cross-checks every
// resource's provider against providers, the names of the configured
// provider instances. A nil providers map skips that check.
func (p *Policy) Validate(providers map[string]bool) []Problem {
	out := append([]Problem(nil), p.problems...)
	if providers == nil {
		return out
	}
	known := sortedKeys(providers)
	for _, name := range sortedKeys(p.resources) {
		// A missing provider is among the problems already.
		res := p.resources[name]
		if res.provider == "" || providers[res.provider] {
			continue
		}
		out = append(out, Problem{
			Field: "resources." + name + ".provider",
			Message: fmt.Sprintf("unknown provider %q; configured: %s",
				res.provider, listOrNone(known)),
		})
	}
	return dedupe(out)
}

func (p *Policy) role(resource, role string) (*role, bool) {
	res, ok := p.resources[resource]
	if !ok {
		return nil, false
	}
	r, ok := res.roles[role]
	return r, ok
}

// snapshot copies the rules so callers cannot alter the policy's slices.
func (r *role) snapshot() Rules {
	s := r.rules
	s.Approvers = append([]Ref(nil), r.rules.Approvers...)
	s.BackupApprovers = append([]Ref(nil), r.rules.BackupApprovers...)
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// dedupe drops repeated problems, keeping the first of each.
func dedupe(ps []Problem) []Problem {
	seen := make(map[Problem]bool, len(ps))
	out := ps[:0]
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
