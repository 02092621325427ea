package review

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// fillers are reasons that explain nothing, in normReason form.
var fillers = map[string]bool{
	"need access": true, "needs access": true, "access": true, "access please": true,
	"fix": true, "fixing": true, "test": true, "testing": true, "debug": true,
	"debugging": true, "work": true, "stuff": true, "asap": true, "urgent": true,
	"pls": true, "please": true, "n/a": true, "na": true, "none": true,
	"todo": true, "check": true, "investigate": true, "as discussed": true,
	"see ticket": true, "same as before": true, "routine": true,
}

// groupRef matches approver references that are not Slack user ids.
var groupRef = regexp.MustCompile(`^(group:|subteam:|S[A-Z0-9]+$)|@`)

// finish turns the aggregates into the report's findings.
func (a *analyzer) finish(roles []RoleInfo) *Report {
	r := a.r
	r.Totals.MedianDecision = Duration(a.decide.quantile(50))
	r.Totals.ActiveGrants = len(a.grants)
	r.Totals.FailedRevocations = len(a.failures)
	r.Totals.BreakGlassUnacked = a.countUnacked()
	byKey := map[RoleKey]RoleInfo{}
	for _, ri := range roles {
		byKey[RoleKey{Resource: ri.Resource, Role: ri.Role}] = ri
	}
	r.Automate = a.candidates(byKey)
	r.OneOffRoles = a.oneOffs()
	r.BreakGlass = listed(r, "break_glass", derefAll(a.bgUses), a.o.MaxListed)
	r.FailedRevokes = listed(r, "failed_revocations", derefAll(a.failures),
		a.o.MaxListed)
	a.stale(roles)
	r.Tighten = a.tighten(byKey)
	a.rubberStamps()
	r.WeakReasons = a.weakReasons()
	a.charts(roles)
	slices.SortStableFunc(r.LateRevocations, func(x, y LateRevocation) int {
		return cmp.Compare(y.Late, x.Late)
	})
	r.fillEmpty()
	return r
}

// fillEmpty gives every list of the report a value, so JSON shows an empty
// list as [] rather than null.
func (r *Report) fillEmpty() {
	empty(&r.Automate)
	empty(&r.OneOffRoles)
	empty(&r.BreakGlass)
	empty(&r.Denials)
	empty(&r.StaleRoles)
	empty(&r.IdleApprovers)
	empty(&r.UnusedProviders)
	empty(&r.Tighten)
	empty(&r.QuickApprovals)
	empty(&r.AlwaysApprove)
	empty(&r.WeakReasons)
	empty(&r.LateRevocations)
	empty(&r.FailedRevokes)
	empty(&r.Drift)
	empty(&r.Weekly)
	empty(&r.RoleStats)
}

func empty[T any](s *[]T) {
	if *s == nil {
		*s = []T{}
	}
}

func (a *analyzer) countUnacked() int {
	seen := map[*BreakGlassUse]bool{}
	for _, u := range a.unacked {
		seen[u] = true
	}
	return len(seen)
}

func (a *analyzer) candidates(byKey map[RoleKey]RoleInfo) []Candidate {
	var out []Candidate
	for k, p := range a.pairs {
		if p.asks < a.o.MinAsks || p.denied > 0 || p.approved < a.o.MinAsks {
			continue
		}
		p95 := p.durs.quantile(95)
		c := Candidate{RoleKey: k.RoleKey, Requester: k.user, Asks: p.asks,
			Approved: p.approved, First: p.first, Last: p.last,
			Approvers:    rankApprovers(p.approvers),
			P95Requested: Duration(p95),
			MaxDuration:  Duration(roundUp(p95, 15*time.Minute)),
			Existing:     existingRule(byKey[k.RoleKey], k.user)}
		c.YAML = ruleYAML(c)
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Candidate) int {
		return cmp.Or(cmp.Compare(y.Asks, x.Asks),
			cmp.Compare(x.String(), y.String()),
			cmp.Compare(x.Requester, y.Requester))
	})
	return listed(a.r, "automate", out, a.o.MaxListed)
}

func rankApprovers(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(x, y string) int {
		return cmp.Or(cmp.Compare(m[y], m[x]), cmp.Compare(x, y))
	})
	return out
}

func existingRule(ri RoleInfo, user string) string {
	for _, rule := range ri.AutoRules {
		if len(rule.Requesters) == 0 || contains(rule.Requesters, "*") ||
			contains(rule.Requesters, user) {
			return rule.Name
		}
	}
	return ""
}

var slugJunk = regexp.MustCompile(`[^a-z0-9]+`)

// ruleYAML renders an auto_approve entry ready to paste under the role.
func ruleYAML(c Candidate) string {
	name := strings.Trim(slugJunk.ReplaceAllString(
		strings.ToLower(c.Requester+"-"+c.Resource+"-"+c.Role), "-"), "-")
	rule := []struct {
		Name        string   `yaml:"name"`
		Requesters  []string `yaml:"requesters,flow"`
		MaxDuration string   `yaml:"max_duration"`
	}{{Name: "auto-" + name, Requesters: []string{c.Requester},
		MaxDuration: c.MaxDuration.String()}}
	b, err := yaml.Marshal(rule)
	if err != nil {
		// A struct of strings always marshals; keep the report usable anyway.
		return ""
	}
	head := "# resources." + c.Resource + ".roles." + c.Role + ".auto_approve:\n"
	return head + string(b)
}

func (a *analyzer) oneOffs() []RoleAsks {
	var out []RoleAsks
	for k, ra := range a.roles {
		if ra.requests == 0 || ra.requests > a.o.OneOffMax {
			continue
		}
		out = append(out, RoleAsks{RoleKey: k, Count: ra.requests, Asks: ra.asks})
	}
	slices.SortFunc(out, func(x, y RoleAsks) int {
		return cmp.Compare(x.String(), y.String())
	})
	return listed(a.r, "one_off_roles", out, a.o.MaxListed)
}

// stale lists the roles, approvers and providers of the policy that the
// period never used.
func (a *analyzer) stale(roles []RoleInfo) {
	r := a.r
	idle, unused := map[string]bool{}, map[string]bool{}
	for _, ri := range roles {
		k := RoleKey{Resource: ri.Resource, Role: ri.Role}
		if ra := a.roles[k]; ra == nil || ra.requests == 0 {
			r.StaleRoles = append(r.StaleRoles, k)
		}
		for _, ap := range ri.Approvers {
			if ag := a.approvers[ap]; ag == nil && !groupRef.MatchString(ap) {
				idle[ap] = true
			}
		}
		if ri.Provider != "" && !a.providers[ri.Provider] {
			unused[ri.Provider] = true
		}
	}
	slices.SortFunc(r.StaleRoles, func(x, y RoleKey) int {
		return cmp.Compare(x.String(), y.String())
	})
	r.IdleApprovers = sortedKeys(idle)
	r.UnusedProviders = sortedKeys(unused)
}

func (a *analyzer) tighten(byKey map[RoleKey]RoleInfo) []Tighten {
	var out []Tighten
	for k, ra := range a.roles {
		maxDur := byKey[k].MaxDuration
		if ra.ended < a.o.TightenMinGrants || maxDur <= 0 {
			continue
		}
		p95 := ra.held.quantile(95)
		suggest := roundUp(p95, 15*time.Minute)
		if float64(p95) > a.o.TightenRatio*float64(maxDur) || suggest >= maxDur {
			continue
		}
		out = append(out, Tighten{RoleKey: k, Grants: ra.ended,
			ReleasedEarly: ra.released, P95Held: Duration(p95),
			MaxDuration: Duration(maxDur), Suggested: Duration(suggest)})
	}
	slices.SortFunc(out, func(x, y Tighten) int {
		return cmp.Compare(x.String(), y.String())
	})
	return out
}

func (a *analyzer) rubberStamps() {
	r := a.r
	for id, ag := range a.approvers {
		if ag.quick > 0 {
			r.QuickApprovals = append(r.QuickApprovals, QuickApprover{
				Approver: id, Count: ag.quick, Fastest: Duration(roundDur(ag.fastest)),
				Examples: ag.examples})
		}
		n := ag.approvals + ag.denials
		if n >= a.o.StampMinDecisions && ag.denials == 0 {
			r.AlwaysApprove = append(r.AlwaysApprove, ApproverRate{
				Approver: id, Decisions: n, Approved: ag.approvals})
		}
	}
	slices.SortFunc(r.QuickApprovals, func(x, y QuickApprover) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Approver, y.Approver))
	})
	slices.SortFunc(r.AlwaysApprove, func(x, y ApproverRate) int {
		return cmp.Or(cmp.Compare(y.Decisions, x.Decisions),
			cmp.Compare(x.Approver, y.Approver))
	})
	r.QuickApprovals = listed(r, "quick_approvals", r.QuickApprovals, a.o.MaxListed)
	r.AlwaysApprove = listed(r, "always_approve", r.AlwaysApprove, a.o.MaxListed)
}

func (a *analyzer) weakReasons() []WeakReason {
	var out []WeakReason
	for text, ra := range a.reasons {
		why := ""
		switch {
		case fillers[text]:
			why = "filler"
		case utf8.RuneCountInString(text) < 10:
			why = "short"
		case ra.count >= a.o.RepeatedReason:
			why = "repeated"
		default:
			continue
		}
		out = append(out, WeakReason{Reason: trimText(text, 80), Count: ra.count,
			Why: why, Users: ra.users})
	}
	slices.SortFunc(out, func(x, y WeakReason) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Reason, y.Reason))
	})
	return listed(a.r, "weak_reasons", out, a.o.MaxListed)
}

// charts fills the per-week and per-role series.
func (a *analyzer) charts(roles []RoleInfo) {
	r := a.r
	for i, n := range a.weekly {
		r.Weekly = append(r.Weekly, WeekCount{
			Start: a.from.Add(time.Duration(i) * 7 * 24 * time.Hour), Requests: n})
	}
	maxOf := map[RoleKey]time.Duration{}
	for _, ri := range roles {
		k := RoleKey{Resource: ri.Resource, Role: ri.Role}
		maxOf[k] = ri.MaxDuration
		if a.roles[k] == nil {
			a.roles[k] = &roleAgg{held: newHist()}
		}
	}
	for k, ra := range a.roles {
		r.RoleStats = append(r.RoleStats, RoleStat{RoleKey: k,
			Requests: ra.requests, Grants: ra.grants,
			P95Held: Duration(ra.held.quantile(95)), MaxDuration: Duration(maxOf[k])})
	}
	slices.SortFunc(r.RoleStats, func(x, y RoleStat) int {
		return cmp.Or(cmp.Compare(y.Requests, x.Requests),
			cmp.Compare(x.String(), y.String()))
	})
}

// listed cuts s to n entries and records how many were left out.
func listed[T any](r *Report, name string, s []T, n int) []T {
	if len(s) <= n {
		return s
	}
	r.Omitted[name] += len(s) - n
	return s[:n]
}

func derefAll[T any](s []*T) []T {
	out := make([]T, 0, len(s))
	for _, p := range s {
		out = append(out, *p)
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
