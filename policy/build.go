package policy

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"
)

const (
	// DefaultHardCap bounds every max_duration unless the policy sets
	// hard_cap.
	DefaultHardCap = 24 * time.Hour
	// BreakGlassCap bounds every break-glass max_duration.
	BreakGlassCap = 4 * time.Hour
	// DefaultPrincipal is the principal template of a resource that sets none.
	DefaultPrincipal   = "{{ .EmailLocal }}"
	defaultBreakGlass  = time.Hour
	builtinMax         = time.Hour
	builtinTimeout     = 30 * time.Minute
	builtinWarnBefore  = 10 * time.Minute
	builtinApprovalMin = 1
)

// resolved is a role's settings after inheritance; the *Path fields say
// where max and default were set so problems name the right key.
type resolved struct {
	max, def, timeout, warn, remind, escalate time.Duration
	maxPath, defPath                          string
	approvals                                 int
	channel                                   string
	reason                                    reasonDoc
	reasonPath                                string
}

type builder struct {
	problems []Problem
	groups   map[string][]Ref
	hardCap  time.Duration
}

func (b *builder) add(field, format string, args ...any) {
	b.problems = append(b.problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func build(doc document) (*Policy, []Problem) {
	b := &builder{hardCap: DefaultHardCap}
	if doc.HardCap != "" {
		b.duration("hard_cap", doc.HardCap, &b.hardCap, true)
	}
	b.buildGroups(doc.Groups)
	p := &Policy{
		admins:    b.refs("admins", doc.Admins, false),
		resources: map[string]*resource{},
	}
	defaults := b.resolve("defaults", doc.Defaults, resolved{
		max: builtinMax, def: builtinMax, timeout: builtinTimeout,
		warn: builtinWarnBefore, approvals: builtinApprovalMin,
	})
	if len(doc.Resources) == 0 {
		b.add("resources", "no resources defined")
	}
	for _, name := range sortedKeys(doc.Resources) {
		p.resources[name] = b.resource(name, doc.Resources[name], defaults, doc.SecurityChannel)
	}
	return p, dedupe(b.problems)
}

func (b *builder) buildGroups(groups map[string][]string) {
	b.groups = map[string][]Ref{}
	for _, name := range sortedKeys(groups) {
		path := "groups." + name
		for i, raw := range groups[name] {
			ref := Ref(raw)
			switch ref.kind() {
			case refPolicyGroup, refAnyone:
				b.add(fmt.Sprintf("%s[%d]", path, i), "a group lists people, not %q", raw)
				continue
			case refInvalid:
				b.add(fmt.Sprintf("%s[%d]", path, i), "unknown reference %q: %s", raw, refHelp)
				continue
			}
			b.groups[name] = appendUnique(b.groups[name], ref)
		}
		if len(groups[name]) == 0 {
			b.add(path, "group has no members")
		}
	}
}

const refHelp = "use a Slack user id (U…), an email, a Slack user group (S…) " +
	"or group:<name>"

// refs validates refs and expands policy groups. allowAnyone admits "*",
// which is returned as is.
func (b *builder) refs(path string, raws []string, allowAnyone bool) []Ref {
	var out []Ref
	for i, raw := range raws {
		ref, at := Ref(strings.TrimSpace(raw)), fmt.Sprintf("%s[%d]", path, i)
		switch ref.kind() {
		case refAnyone:
			if !allowAnyone {
				b.add(at, `"*" is only allowed in requesters`)
				continue
			}
			out = appendUnique(out, ref)
		case refPolicyGroup:
			members, ok := b.groups[ref.groupName()]
			if !ok {
				b.add(at, "unknown group %q; defined: %s", ref.groupName(),
					listOrNone(sortedKeys(b.groups)))
			}
			for _, m := range members {
				out = appendUnique(out, m)
			}
		case refInvalid:
			b.add(at, "unknown reference %q: %s", raw, refHelp)
		default:
			out = appendUnique(out, ref)
		}
	}
	return out
}

func appendUnique(refs []Ref, r Ref) []Ref {
	for _, have := range refs {
		if have == r {
			return refs
		}
	}
	return append(refs, r)
}

// duration parses raw into dst. positive demands a value above zero,
// otherwise zero is allowed.
func (b *builder) duration(path, raw string, dst *time.Duration, positive bool) bool {
	d, err := time.ParseDuration(strings.TrimSpace(raw))
	switch {
	case err != nil:
		b.add(path, "%q is not a duration; write it like 1h30m", raw)
		return false
	case d < 0 || (positive && d == 0):
		b.add(path, "must be greater than zero")
		return false
	}
	*dst = d
	return true
}

// resolve applies the settings in doc, found at path, over base.
func (b *builder) resolve(path string, doc settingsDoc, base resolved) resolved {
	r := base
	if doc.MaxDuration != "" && b.duration(join(path, "max_duration"), doc.MaxDuration, &r.max, true) {
		r.maxPath = join(path, "max_duration")
	}
	if doc.DefaultDuration != "" &&
		b.duration(join(path, "default_duration"), doc.DefaultDuration, &r.def, true) {
		r.defPath = join(path, "default_duration")
	}
	b.optional(join(path, "approval_timeout"), doc.ApprovalTimeout, &r.timeout, true)
	b.optional(join(path, "warn_before"), doc.WarnBefore, &r.warn, false)
	b.optional(join(path, "remind_after"), doc.RemindAfter, &r.remind, false)
	b.optional(join(path, "escalate_after"), doc.EscalateAfter, &r.escalate, false)
	if doc.Approvals != nil {
		r.approvals = *doc.Approvals
		if r.approvals < 1 {
			b.add(join(path, "approvals"), "must be at least 1")
		}
	}
	if doc.Channel != "" {
		r.channel = doc.Channel
	}
	if doc.Reason != nil {
		r.reason, r.reasonPath = *doc.Reason, join(path, "reason")
	}
	return r
}

func (b *builder) optional(path, raw string, dst *time.Duration, positive bool) {
	if raw != "" {
		b.duration(path, raw, dst, positive)
	}
}

func (b *builder) resource(
	name string, doc resourceDoc, defaults resolved, secChan string,
) *resource {
	path := "resources." + name
	res := &resource{name: name, description: doc.Description, roles: map[string]*role{}}
	if doc.Provider == "" {
		b.add(path+".provider", "missing: name a configured provider")
	}
	principal := doc.Principal
	if principal == "" {
		principal = DefaultPrincipal
	}
	b.checkPrincipal(path+".principal", principal)
	if len(doc.Roles) == 0 {
		b.add(path+".roles", "no roles defined")
	}
	for _, roleName := range sortedKeys(doc.Roles) {
		r := b.role(path+".roles."+roleName, doc.Roles[roleName], defaults, secChan)
		r.rules.Resource, r.rules.Role = name, roleName
		r.rules.Provider, r.rules.PrincipalTemplate = doc.Provider, principal
		if r.rules.Target == "" {
			r.rules.Target = roleName
		}
		res.roles[roleName] = r
	}
	return res
}

func (b *builder) checkPrincipal(path, text string) {
	if _, err := parsePrincipal(text); err != nil {
		b.add(path, "bad template: %v", err)
		return
	}
	sample := Identity{UserID: "U0SAMPLE", Email: "sample.user@example.com"}
	if _, err := principalFor(text, sample); err != nil {
		b.add(path, "%v", err)
	}
}

func (b *builder) role(path string, doc roleDoc, defaults resolved, secChan string) *role {
	s := b.resolve(path, doc.settingsDoc, defaults)
	b.checkDurations(path, &s)
	r := &role{path: path}
	r.rules = Rules{
		Target:          doc.Target,
		MaxDuration:     s.max,
		DefaultDuration: s.def,
		Channel:         s.channel,
		Approvers:       b.refs(path+".approvers", doc.Approvers, false),
		BackupApprovers: b.refs(path+".backup_approvers", doc.BackupApprovers, false),
		Approvals:       s.approvals,
		ApprovalTimeout: s.timeout,
		WarnBefore:      s.warn,
		RemindAfter:     s.remind,
		EscalateAfter:   s.escalate,
	}
	if s.channel == "" {
		b.add(path+".channel", "missing: the channel where approvers are asked")
	}
	// When every listed ref was refused, that is reported already.
	if len(doc.Approvers) == 0 || len(r.rules.Approvers) > 0 {
		b.checkApprovers(path, r.rules)
	}
	r.requesters = anyoneToEmpty(b.refs(path+".requesters", doc.Requesters, true))
	b.reason(s, r)
	for i, a := range doc.AutoApprove {
		r.auto = append(r.auto, b.autoRule(fmt.Sprintf("%s.auto_approve[%d]", path, i), a, r))
	}
	b.breakGlass(path+".break_glass", doc.BreakGlass, secChan, r)
	return r
}

func anyoneToEmpty(refs []Ref) []Ref {
	for _, r := range refs {
		if r == Anyone {
			return nil
		}
	}
	return refs
}

// checkDurations enforces default <= max <= hard cap. A built-in default
// longer than the role's max is lowered to it rather than reported.
func (b *builder) checkDurations(path string, s *resolved) {
	maxPath := s.maxPath
	if maxPath == "" {
		maxPath = path + ".max_duration"
	}
	if s.max > b.hardCap {
		b.add(maxPath, "%s is longer than the hard cap of %s", s.max, b.hardCap)
	}
	if s.def > s.max {
		if s.defPath == "" {
			s.def = s.max
			return
		}
		at := s.defPath
		if s.maxPath != "" && strings.HasPrefix(s.maxPath, path+".") {
			at = path + ".default_duration"
		}
		b.add(at, "default %s is longer than max_duration %s", s.def, s.max)
	}
}

func (b *builder) checkApprovers(path string, r Rules) {
	if len(r.Approvers) == 0 {
		b.add(path+".approvers", "no approvers: nobody could approve this role")
		return
	}
	pool := r.Approvers
	if r.EscalateAfter > 0 {
		pool = append(append([]Ref(nil), pool...), r.BackupApprovers...)
	}
	if n, known := namedPeople(pool); known && n < r.Approvals {
		b.add(path+".approvals", "needs %d approvals but only %d approver(s) are named: %s",
			r.Approvals, n, describeRefs(pool))
	}
}

func (b *builder) reason(s resolved, r *role) {
	r.reasonMin, r.reasonHint = s.reason.MinLength, s.reason.Hint
	if s.reason.MinLength < 0 {
		b.add(s.reasonPath+".min_length", "must not be negative")
	}
	if s.reason.Pattern == "" {
		return
	}
	re, err := regexp.Compile(s.reason.Pattern)
	if err != nil {
		b.add(s.reasonPath+".pattern", "does not compile: %v", err)
		return
	}
	r.reason = re
}

func (b *builder) autoRule(path string, doc autoDoc, r *role) autoRule {
	a := autoRule{name: doc.Name}
	if doc.Name == "" {
		b.add(path+".name", "missing: name the rule so grants can say why")
	}
	for _, other := range r.auto {
		if other.name == doc.Name && doc.Name != "" {
			b.add(path+".name", "duplicate rule name %q", doc.Name)
		}
	}
	a.requesters = anyoneToEmpty(b.refs(path+".requesters", doc.Requesters, true))
	if doc.MaxDuration != "" &&
		b.duration(path+".max_duration", doc.MaxDuration, &a.maxDuration, true) &&
		a.maxDuration > r.rules.MaxDuration {
		b.add(path+".max_duration", "%s is longer than the role's max_duration %s",
			a.maxDuration, r.rules.MaxDuration)
	}
	if doc.Window != nil {
		a.window = b.window(path+".window", *doc.Window)
	}
	return a
}

func (b *builder) breakGlass(path string, doc *breakGlassDoc, secChan string, r *role) {
	if doc == nil {
		r.rules.SecurityChannel = secChan
		return
	}
	r.rules.SecurityChannel = doc.Channel
	if r.rules.SecurityChannel == "" {
		r.rules.SecurityChannel = secChan
	}
	if !doc.Enabled {
		return
	}
	bg := breakGlass{enabled: true, maxDuration: min(defaultBreakGlass, r.rules.MaxDuration)}
	if doc.MaxDuration != "" &&
		b.duration(path+".max_duration", doc.MaxDuration, &bg.maxDuration, true) &&
		bg.maxDuration > BreakGlassCap {
		b.add(path+".max_duration", "%s is longer than the break-glass cap of %s",
			bg.maxDuration, BreakGlassCap)
	}
	if r.rules.SecurityChannel == "" {
		b.add(path+".channel", "missing: break-glass needs a channel for the security alert")
	}
	r.breakGlass = bg
}

func parsePrincipal(text string) (*template.Template, error) {
	return template.New("principal").Option("missingkey=error").Parse(text)
}
