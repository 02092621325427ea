package policy

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Explanation tells an operator how the policy treats one request: whether
// it is allowed, by which rule, who would approve it and for how long.
type Explanation struct {
	Input Input
	// Rule is the key path of the role that applies, empty when none does.
	Rule     string
	Allowed  bool
	Problems []Problem
	Duration time.Duration
	// MaxDuration is the longest the request could last.
	MaxDuration time.Duration
	Channel     string
	Approvals   int
	// Approvers and BackupApprovers list each ref with the people it
	// resolves to where the directory can tell.
	Approvers       []string
	BackupApprovers []string
	AutoApproved    bool
	AutoRule        string
	BreakGlass      bool
	SecurityChannel string
}

// Explain evaluates in as Evaluate does and resolves who would approve it.
// The error is non-nil only when evaluation cannot ask the directory; a
// user group that cannot be resolved is shown as such.
func (p *Policy) Explain(ctx context.Context, dir Directory, in Input) (Explanation, error) {
	d, err := p.Evaluate(ctx, dir, in)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{
		Input: in, Allowed: d.Allowed, Problems: d.Problems, Duration: d.Duration,
		AutoApproved: d.AutoApproved, AutoRule: d.AutoRule, BreakGlass: d.BreakGlass,
	}
	r, _ := p.lookup(in.Resource, in.Role)
	if r == nil {
		return e, nil
	}
	e.Rule, e.Channel, e.Approvals = r.path, r.rules.Channel, r.rules.Approvals
	e.MaxDuration, e.SecurityChannel = r.rules.MaxDuration, r.rules.SecurityChannel
	if d.BreakGlass {
		e.MaxDuration = r.breakGlass.maxDuration
	}
	e.Approvers = resolveRefs(ctx, dir, r.rules.Approvers)
	e.BackupApprovers = resolveRefs(ctx, dir, r.rules.BackupApprovers)
	return e, nil
}

func resolveRefs(ctx context.Context, dir Directory, refs []Ref) []string {
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if ref.kind() != refSlackGroup || dir == nil {
			out = append(out, string(ref))
			continue
		}
		members, err := dir.GroupMembers(ctx, ref.slackGroupID())
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s (members unknown: %v)", ref, err))
		case len(members) == 0:
			out = append(out, fmt.Sprintf("%s (no members)", ref))
		default:
			out = append(out, fmt.Sprintf("%s (%s)", ref, strings.Join(members, ", ")))
		}
	}
	return out
}

// String renders the explanation as readable text, one fact per line.
func (e Explanation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "request: %s wants %s/%s", e.Input.Requester.UserID,
		e.Input.Resource, e.Input.Role)
	if e.Input.BreakGlass {
		b.WriteString(" (break-glass)")
	}
	b.WriteString("\n")
	if e.Rule != "" {
		fmt.Fprintf(&b, "rule: %s\n", e.Rule)
	}
	if !e.Allowed {
		b.WriteString("allowed: no\n")
		for _, p := range e.Problems {
			fmt.Fprintf(&b, "  %s: %s\n", p.Field, p.Message)
		}
		return b.String()
	}
	b.WriteString("allowed: yes\n")
	fmt.Fprintf(&b, "duration: %s (max %s)\n", FormatDuration(e.Duration),
		FormatDuration(e.MaxDuration))
	switch {
	case e.BreakGlass:
		fmt.Fprintf(&b, "approval: none, break-glass; security alert to %s\n", e.SecurityChannel)
	case e.AutoApproved:
		fmt.Fprintf(&b, "approval: automatic by rule %s\n", e.AutoRule)
	default:
		fmt.Fprintf(&b, "approval: %d of %s in %s\n", e.Approvals,
			strings.Join(e.Approvers, ", "), e.Channel)
		if len(e.BackupApprovers) > 0 {
			fmt.Fprintf(&b, "backup approvers: %s\n", strings.Join(e.BackupApprovers, ", "))
		}
	}
	return b.String()
}
