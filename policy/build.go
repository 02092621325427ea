package policy

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"
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
	builtinMin         = time.Minute
	builtinTimeout     = 30 * time.Minute
	builtinWarnBefore  = 10 * time.Minute
	builtinApprovalMin = 1
)

// resolved is a role's settings after inheritance; the *Path fields say
// where min, max and default were set so problems name the right key.
type resolved struct {
	min, max, def, timeout, warn, remind, escalate time.Duration
	minPath, maxPath, defPath                      string
	approvals                                      int
	channel                                        string
	reason                                         reasonDoc
	reasonPath                                     string
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
		min: builtinMin, max: builtinMax, def: builtinMax, timeout: builtinTimeout,
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
	d, err := ParseDuration(raw)
	switch {
	case err != nil:
		b.add(path, "%q is not a duration; write it like 1h30m, 45s or 1d", raw)
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
	if doc.MinDuration != "" &&
		b.duration(join(path, "min_duration"), doc.MinDuration, &r.min, true) {
		r.minPath = join(path, "min_duration")
	}
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
	if doc.Approvals.Kind != 0 && doc.Approvals.ShortTag() != "!!null" {
		b.approvals(join(path, "approvals"), &doc.Approvals, &r.approvals)
	}
	if doc.Channel != "" {
		r.channel = doc.Channel
	}
	if doc.Reason != nil {
		r.reason, r.reasonPath = *doc.Reason, join(path, "reason")
	}
	return r
}

// approvals reads a count of approvers from n into dst. YAML would turn
// 2.9 into 2 on its own; a count must be written as a whole number.
func (b *builder) approvals(path string, n *yaml.Node, dst *int) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		b.add(path, "must be a whole number of approvers, such as 2, not %s", describeNode(n))
		return
	}
	if v < 1 {
		b.add(path, "must be at least 1")
		return
	}
	*dst = v
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a map"
	}
	return "this"
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
	res := &resource{
		name: name, description: doc.Description, provider: doc.Provider,
		roles: map[string]*role{},
	}
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
		MinDuration:     s.min,
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
	b.checkRequesters(path+".requesters", r)
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

// checkDurations enforces min <= default <= max <= hard cap. A built-in
// default longer than the role's max is lowered to it rather than reported.
func (b *builder) checkDurations(path string, s *resolved) {
	maxPath := s.maxPath
	if maxPath == "" {
		maxPath = path + ".max_duration"
	}
	if s.max > b.hardCap {
		b.add(maxPath, "%s is longer than the hard cap of %s",
			FormatDuration(s.max), FormatDuration(b.hardCap))
	}
	if s.def > s.max {
		if s.defPath == "" {
			s.def = s.max
		} else {
			at := s.defPath
			if s.maxPath != "" && strings.HasPrefix(s.maxPath, path+".") {
				at = path + ".default_duration"
			}
			b.add(at, "default %s is longer than max_duration %s",
				FormatDuration(s.def), FormatDuration(s.max))
			return
		}
	}
	b.checkMin(path, s)
}

// checkMin enforces min <= default. The problem goes to the min_duration
// key of the role unless the clash lies wholly in the defaults.
func (b *builder) checkMin(path string, s *resolved) {
	if s.min <= s.def {
		return
	}
	limit, name := s.def, "default_duration"
	if s.min > s.max {
		limit, name = s.max, "max_duration"
	}
	at := path + ".min_duration"
	inRole := func(p string) bool { return strings.HasPrefix(p, path+".") }
	if s.minPath != "" && !inRole(s.maxPath) && !inRole(s.defPath) {
		at = s.minPath
	}
	what := "minimum " + FormatDuration(s.min)
	if s.minPath == "" {
		what = "built-in minimum " + FormatDuration(s.min)
	}
	b.add(at, "%s is longer than %s %s; set min_duration no longer than that",
		what, name, FormatDuration(limit))
}

func (b *builder) checkApprovers(path string, r Rules) {
	if len(r.Approvers) == 0 {
		b.add(path+".approvers", "no approvers: nobody could approve this role")
		return
	}
	pool := approverPool(r)
	if n, known := namedPeople(pool); known && n < r.Approvals {
		b.add(path+".approvals", "needs %d approvals but only %d approver(s) are named: %s",
			r.Approvals, n, describeRefs(pool))
	}
}

// checkRequesters reports named requesters nobody could ever approve:
// without them, fewer named approvers remain than the role needs. It can
// only tell when every approver is a named person, and it spares a
// requester whom an auto-approval rule may admit.
func (b *builder) checkRequesters(path string, r *role) {
	pool := approverPool(r.rules)
	if n, known := namedPeople(pool); !known || n < r.rules.Approvals {
		// Unknown, or reported already as too few approvers.
		return
	}
	var stuck []string
	for _, ref := range r.requesters {
		id, ok := identityOf(ref)
		if !ok || r.mayAutoApprove(id) {
			continue
		}
		if n, _ := approversBesides(pool, id); n < r.rules.Approvals {
			stuck = append(stuck, string(ref))
		}
	}
	if len(stuck) == 0 {
		return
	}
	b.add(path, "%s could never be approved: the role needs %d approval(s) from people "+
		"other than the requester, and its approvers are %s",
		strings.Join(stuck, ", "), r.rules.Approvals, describeRefs(pool))
}

// identityOf returns the person a user or email ref names.
func identityOf(ref Ref) (Identity, bool) {
	switch ref.kind() {
	case refUser:
		return Identity{UserID: string(ref)}, true
	case refEmail:
		return Identity{Email: string(ref)}, true
	}
	return Identity{}, false
}

// mayAutoApprove reports whether some auto-approval rule of the role might
// admit id: one open to the role's requesters, naming id, or naming a user
// group that id may be in.
func (r *role) mayAutoApprove(id Identity) bool {
	for _, a := range r.auto {
		if len(a.requesters) == 0 {
			return true
		}
		for _, ref := range a.requesters {
			if _, named := identityOf(ref); !named || namesIdentity(ref, id) {
				return true
			}
		}
	}
	return false
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
			FormatDuration(a.maxDuration), FormatDuration(r.rules.MaxDuration))
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
		b.duration(path+".max_duration", doc.MaxDuration, &bg.maxDuration, true) {
		switch {
		case bg.maxDuration > BreakGlassCap:
			b.add(path+".max_duration", "%s is longer than the break-glass cap of %s",
				FormatDuration(bg.maxDuration), FormatDuration(BreakGlassCap))
		case bg.maxDuration < r.rules.MinDuration:
			b.add(path+".max_duration", "%s is shorter than the role's min_duration %s",
				FormatDuration(bg.maxDuration), FormatDuration(r.rules.MinDuration))
		}
	}
	if r.rules.SecurityChannel == "" {
		b.add(path+".channel", "missing: break-glass needs a channel for the security alert")
	}
	r.breakGlass = bg
}

func parsePrincipal(text string) (*template.Template, error) {
	return template.New("principal").Option("missingkey=error").Parse(text)
}
