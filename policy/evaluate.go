package policy

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Evaluate judges in against the policy. A refused request has Allowed
// false and Problems saying why, each naming the input field it concerns.
// The error is non-nil only when the directory fails. Input.Now must be set
// for time windows to match.
func (p *Policy) Evaluate(ctx context.Context, dir Directory, in Input) (Decision, error) {
	d := Decision{}
	r, problem := p.lookup(in.Resource, in.Role)
	if r == nil {
		d.Problems = []Problem{problem}
		return d, nil
	}
	d.Rules = r.snapshot()
	m := newMatcher(dir, in.Requester)

	problems, err := r.checkRequester(ctx, m)
	if err != nil {
		return Decision{}, err
	}
	d.Duration, d.BreakGlass = r.duration(in, &problems)
	problems = append(problems, r.checkReason(in.Reason)...)
	if !d.BreakGlass {
		problems = append(problems, r.checkSelfApproval(in.Requester)...)
	}
	d.Problems, d.Allowed = problems, len(problems) == 0
	if !d.Allowed || d.BreakGlass {
		return d, nil
	}
	d.AutoRule, err = r.autoApproval(ctx, m, d.Duration, in.Now)
	d.AutoApproved = d.AutoRule != ""
	return d, err
}

// Check runs the checks of Evaluate that need no directory: a known
// resource and role, a duration within the limit (or the break-glass cap),
// and a reason that meets the rules. It is cheap enough to answer a form
// before its submission is acknowledged; Evaluate still decides.
func (p *Policy) Check(in Input) []Problem {
	r, problem := p.lookup(in.Resource, in.Role)
	if r == nil {
		return []Problem{problem}
	}
	var problems []Problem
	r.duration(in, &problems)
	return append(problems, r.checkReason(in.Reason)...)
}

// lookup finds a role, or says which resources or roles exist.
func (p *Policy) lookup(resource, roleName string) (*role, Problem) {
	res, ok := p.resources[resource]
	if !ok {
		return nil, Problem{Field: "resource", Message: fmt.Sprintf(
			"unknown resource %q; known: %s", resource, listOrNone(sortedKeys(p.resources)))}
	}
	r, ok := res.roles[roleName]
	if !ok {
		return nil, Problem{Field: "role", Message: fmt.Sprintf(
			"unknown role %q for %s; known: %s", roleName, resource,
			listOrNone(sortedKeys(res.roles)))}
	}
	return r, Problem{}
}

func (r *role) checkRequester(ctx context.Context, m *matcher) ([]Problem, error) {
	var out []Problem
	if strings.Contains(r.rules.PrincipalTemplate, ".Email") {
		email, err := m.email(ctx)
		if err != nil {
			return nil, err
		}
		if email == "" {
			out = append(out, Problem{Field: "requester", Message: "no email address"})
		}
	}
	if len(r.requesters) == 0 {
		return out, nil
	}
	ok, err := m.anyOf(ctx, r.requesters)
	if err != nil {
		return nil, err
	}
	if !ok {
		out = append(out, Problem{Field: "requester", Message: fmt.Sprintf(
			"not allowed to request %s/%s", r.rules.Resource, r.rules.Role)})
	}
	return out, nil
}

// duration fills in the default and applies the cap: a break-glass request
// is shortened to the break-glass maximum, any other is refused when too
// long.
func (r *role) duration(in Input, problems *[]Problem) (time.Duration, bool) {
	d := in.Duration
	if d == 0 {
		d = r.rules.DefaultDuration
	}
	if d < 0 {
		*problems = append(*problems, Problem{Field: "duration", Message: "must be positive"})
		return 0, false
	}
	if d < r.rules.MinDuration {
		*problems = append(*problems, Problem{Field: "duration", Message: fmt.Sprintf(
			"%s is shorter than the minimum of %s", FormatDuration(d),
			FormatDuration(r.rules.MinDuration))})
		return d, in.BreakGlass && r.breakGlass.enabled
	}
	if in.BreakGlass {
		if !r.breakGlass.enabled {
			*problems = append(*problems, Problem{Field: "break_glass", Message: fmt.Sprintf(
				"break-glass is not enabled for %s/%s", r.rules.Resource, r.rules.Role)})
			return d, false
		}
		return min(d, r.breakGlass.maxDuration), true
	}
	if d > r.rules.MaxDuration {
		*problems = append(*problems, Problem{Field: "duration", Message: fmt.Sprintf(
			"%s is longer than the maximum of %s", FormatDuration(d),
			FormatDuration(r.rules.MaxDuration))})
	}
	return d, false
}

func (r *role) checkReason(reason string) []Problem {
	var out []Problem
	reason = strings.TrimSpace(reason)
	n := len([]rune(reason))
	if n < r.reasonMin {
		out = append(out, Problem{Field: "reason", Message: fmt.Sprintf(
			"must be at least %d characters", r.reasonMin)})
	}
	if n > MaxReason {
		out = append(out, Problem{Field: "reason", Message: fmt.Sprintf(
			"must be at most %d characters; link a ticket for the details", MaxReason)})
	}
	if strings.ContainsFunc(reason, hiddenFormatting) {
		out = append(out, Problem{Field: "reason", Message: "must not contain invisible " +
			"or direction-changing characters; approvers must read what is stored"})
	}
	if r.reason != nil && !r.reason.MatchString(reason) {
		msg := "must match " + r.reason.String()
		if r.reasonHint != "" {
			msg += ", e.g. " + r.reasonHint
		}
		out = append(out, Problem{Field: "reason", Message: msg})
	}
	return out
}

// checkSelfApproval refuses a request that only its requester could
// approve. It can only tell when every approver is a named person.
func (r *role) checkSelfApproval(requester Identity) []Problem {
	n, known := approversBesides(approverPool(r.rules), requester)
	if !known || n >= r.rules.Approvals {
		return nil
	}
	return []Problem{{Field: "requester", Message: fmt.Sprintf(
		"needs %d approval(s) from people other than you, but only %d can approve",
		r.rules.Approvals, n)}}
}

// approverPool is everyone who may ever approve a request of the role: the
// approvers, and the backup approvers when the role escalates.
func approverPool(r Rules) []Ref {
	if r.EscalateAfter <= 0 {
		return r.Approvers
	}
	return append(append([]Ref(nil), r.Approvers...), r.BackupApprovers...)
}

// approversBesides counts the named people in pool other than id. The bool
// is false when pool also names sets of people whose size is unknown.
func approversBesides(pool []Ref, id Identity) (int, bool) {
	var others []Ref
	for _, ref := range pool {
		if !namesIdentity(ref, id) {
			others = append(others, ref)
		}
	}
	return namedPeople(others)
}

func namesIdentity(ref Ref, id Identity) bool {
	switch ref.kind() {
	case refUser:
		return string(ref) == id.UserID
	case refEmail:
		return id.Email != "" && strings.EqualFold(string(ref), id.Email)
	}
	return false
}

// autoApproval returns the name of the first auto-approval rule that
// admits the request, or "".
func (r *role) autoApproval(
	ctx context.Context, m *matcher, d time.Duration, now time.Time,
) (string, error) {
	for _, a := range r.auto {
		if a.maxDuration > 0 && d > a.maxDuration {
			continue
		}
		if a.window != nil && (now.IsZero() || !a.window.contains(now)) {
			continue
		}
		if len(a.requesters) > 0 {
			ok, err := m.anyOf(ctx, a.requesters)
			if err != nil {
				return "", err
			}
			if !ok {
				continue
			}
		}
		return a.name, nil
	}
	return "", nil
}

// IsAdmin reports whether id is one of the policy's admins, who may revoke
// anyone's grant, acknowledge break-glass and run reviews.
func (p *Policy) IsAdmin(ctx context.Context, dir Directory, id Identity) (bool, error) {
	return newMatcher(dir, id).anyOf(ctx, p.admins)
}

// MayApprove reports whether actor is an approver of the role. Backup
// approvers count only once the request is escalated. It asks the directory
// at the time of the click, so someone who left an approving user group no
// longer approves once the directory's cache of the group has lapsed (a
// minute for the Slack directory).
// It does not know the requester: refusing self-approval is the caller's.
func (r Rules) MayApprove(
	ctx context.Context, dir Directory, actor Identity, escalated bool,
) (bool, error) {
	m := newMatcher(dir, actor)
	ok, err := m.anyOf(ctx, r.Approvers)
	if err != nil || ok || !escalated {
		return ok, err
	}
	return m.anyOf(ctx, r.BackupApprovers)
}

var principalChars = regexp.MustCompile(`^[A-Za-z0-9._@+-]+$`)

// Principal renders the role's principal template for id: the identity the
// provider grants to, such as a database login. It fails when the result is
// empty or holds characters other than letters, digits and . _ @ + -.
func (r Rules) Principal(id Identity) (string, error) {
	return principalFor(r.PrincipalTemplate, id)
}

func principalFor(text string, id Identity) (string, error) {
	t, err := parsePrincipal(text)
	if err != nil {
		return "", fmt.Errorf("parse principal template: %w", err)
	}
	local, _, _ := strings.Cut(id.Email, "@")
	data := struct{ UserID, Email, EmailLocal string }{id.UserID, id.Email, local}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("render principal for %s: %w", id.UserID, err)
	}
	out := strings.TrimSpace(buf.String())
	if out == "" {
		return "", fmt.Errorf("render principal for %s: empty result", id.UserID)
	}
	if !principalChars.MatchString(out) {
		return "", fmt.Errorf("render principal for %s: %q has characters other than "+
			"letters, digits and . _ @ + -", id.UserID, out)
	}
	// A leading dash would read as an option to a provider's program.
	if strings.HasPrefix(out, "-") {
		return "", fmt.Errorf("render principal for %s: %q starts with a dash", id.UserID, out)
	}
	return out, nil
}

// MaxReason is the longest reason a request may give, in characters: what
// approvers see in full.
const MaxReason = 1500

// hiddenFormatting reports characters that change how text is shown
// without being seen: zero-width characters and direction overrides.
func hiddenFormatting(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E,
		r >= 0x2066 && r <= 0x2069, r == 0xFEFF:
		return true
	}
	return false
}
