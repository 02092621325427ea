package review

import (
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/store"
)

// maxReasons bounds the distinct reason texts remembered for the
// repeated-reason check; later new texts are not tracked.
const maxReasons = 20000

// Analyze reads the trail for [from, to) and returns the review with the
// default thresholds. See AnalyzeWith.
func Analyze(src Source, p PolicyView, from, to time.Time) (*Report, error) {
	return AnalyzeWith(src, p, from, to, Options{})
}

// AnalyzeWith reads the trail once, from Options.Lookback before from up to
// to, and returns the review of [from, to). Events before from only tell
// which requests, grants and break-glass uses were already open. p may be
// nil, which skips the checks that need the policy.
func AnalyzeWith(
	src Source, p PolicyView, from, to time.Time, o Options,
) (*Report, error) {
	if !from.Before(to) {
		return nil, fmt.Errorf("analyze trail: period %s to %s is empty",
			from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	a := newAnalyzer(o.withDefaults(), from, to)
	start := from.Add(-a.o.Lookback)
	err := src.Events(start, to, func(e store.Event) error {
		a.add(e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read trail from %s to %s: %w",
			start.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	var roles []RoleInfo
	if p != nil {
		roles = p.Roles()
	}
	r := a.finish(roles)
	r.WithoutPolicy = p == nil
	return r, nil
}

type openRequest struct {
	id         string
	requester  string
	key        RoleKey
	created    time.Time
	dur        time.Duration
	reason     string
	breakGlass bool
	inPeriod   bool
	// decided is set once the request is approved: it stays known until
	// its grant is created or fails, so the grant's holder is the requester.
	decided bool
	voters  []string
}

type openGrant struct {
	key  RoleKey
	user string
	// bgReason keeps a break-glass request's reason for its use event.
	bgReason string
}

type pairKey struct {
	user string
	RoleKey
}

type pairAgg struct {
	asks, approved, auto, denied int
	first, last                  time.Time
	durs                         *hist
	approvers                    map[string]int
}

type roleAgg struct {
	requests, grants, ended, released int
	asks                              []Ask
	held                              *hist
}

type approverAgg struct {
	approvals, denials, quick int
	fastest                   time.Duration
	examples                  []string
}

type reasonAgg struct {
	count int
	users []string
}

type analyzer struct {
	o        Options
	from, to time.Time
	r        *Report

	reqs      map[string]*openRequest
	grants    map[string]*openGrant
	unacked   map[string]*BreakGlassUse
	pairs     map[pairKey]*pairAgg
	roles     map[RoleKey]*roleAgg
	approvers map[string]*approverAgg
	reasons   map[string]*reasonAgg
	providers map[string]bool
	failed    map[string]*FailedRevocation
	bgUses    []*BreakGlassUse
	failures  []*FailedRevocation
	decide    *hist
	weekly    []int
}

func newAnalyzer(o Options, from, to time.Time) *analyzer {
	return &analyzer{
		o: o, from: from, to: to,
		r:         &Report{From: from, To: to, Omitted: map[string]int{}},
		reqs:      map[string]*openRequest{},
		grants:    map[string]*openGrant{},
		unacked:   map[string]*BreakGlassUse{},
		pairs:     map[pairKey]*pairAgg{},
		roles:     map[RoleKey]*roleAgg{},
		approvers: map[string]*approverAgg{},
		reasons:   map[string]*reasonAgg{},
		providers: map[string]bool{},
		failed:    map[string]*FailedRevocation{},
		decide:    newHist(),
	}
}

// add folds one event into the aggregates.
func (a *analyzer) add(e store.Event) {
	if e.Time.Before(a.from.Add(-a.o.Lookback)) || !e.Time.Before(a.to) {
		return
	}
	in := !e.Time.Before(a.from)
	switch e.Type {
	case store.EvRequestCreated:
		a.onCreated(e, in)
	case store.EvRequestApproval:
		a.onVote(e, in, true, false)
	case store.EvRequestApproved:
		a.onVote(e, in, true, true)
	case store.EvRequestDenied:
		a.onVote(e, in, false, true)
	case store.EvRequestAuto:
		a.onAuto(e, in)
	case store.EvRequestExpired, store.EvRequestCancelled:
		a.onClosed(e, in)
	case store.EvGrantCreated:
		a.onGrant(e, in)
	case store.EvGrantRevoked, store.EvGrantReleased:
		a.onEnded(e, in)
	case store.EvGrantFailed:
		delete(a.grants, e.GrantID)
		delete(a.reqs, e.RequestID)
	case store.EvGrantRevokeFailed:
		a.onRevokeFailed(e, in)
	case store.EvBreakGlassUsed:
		a.onBreakGlass(e, in)
	case store.EvBreakGlassAcked:
		a.onAck(e)
	case store.EvReconcileDrift, store.EvReconcileRevoked:
		a.onDrift(e, in)
	}
}

func (a *analyzer) role(k RoleKey) *roleAgg {
	r := a.roles[k]
	if r == nil {
		r = &roleAgg{held: newHist()}
		a.roles[k] = r
	}
	return r
}

func (a *analyzer) approver(id string) *approverAgg {
	ag := a.approvers[id]
	if ag == nil {
		ag = &approverAgg{}
		a.approvers[id] = ag
	}
	return ag
}

func (a *analyzer) pair(user string, k RoleKey) *pairAgg {
	pk := pairKey{user: user, RoleKey: k}
	p := a.pairs[pk]
	if p == nil {
		p = &pairAgg{durs: newHist(), approvers: map[string]int{}}
		a.pairs[pk] = p
	}
	return p
}

func (a *analyzer) onCreated(e store.Event, in bool) {
	req := &openRequest{
		id:         e.RequestID,
		requester:  e.Details["requester"],
		key:        RoleKey{Resource: e.Resource, Role: e.Role},
		created:    e.Time,
		reason:     e.Details["reason"],
		breakGlass: e.Details["break_glass"] == "true",
		inPeriod:   in,
	}
	if req.requester == "" {
		req.requester = e.Actor
	}
	req.dur, _ = time.ParseDuration(e.Details["duration"])
	a.reqs[e.RequestID] = req
	if !in {
		return
	}
	a.r.Totals.Requests++
	a.countWeek(e.Time)
	ra := a.role(req.key)
	ra.requests++
	if len(ra.asks) <= a.o.OneOffMax {
		ra.asks = append(ra.asks, Ask{RequestID: req.id, User: req.requester,
			Time: e.Time, Reason: trimText(req.reason, 80)})
	}
	if !req.breakGlass {
		p := a.pair(req.requester, req.key)
		p.asks++
		if p.first.IsZero() {
			p.first = e.Time
		}
		p.last = e.Time
		p.durs.add(req.dur)
	}
	a.noteReason(req.reason, req.requester)
}

func (a *analyzer) countWeek(t time.Time) {
	w := int(t.Sub(a.from) / (7 * 24 * time.Hour))
	for len(a.weekly) <= w {
		a.weekly = append(a.weekly, 0)
	}
	a.weekly[w]++
}

func (a *analyzer) noteReason(reason, user string) {
	norm := normReason(reason)
	ra := a.reasons[norm]
	if ra == nil {
		if len(a.reasons) >= maxReasons {
			return
		}
		ra = &reasonAgg{}
		a.reasons[norm] = ra
	}
	ra.count++
	if len(ra.users) < 5 && !contains(ra.users, user) {
		ra.users = append(ra.users, user)
	}
}

// onVote handles one approver's vote; final votes close the request. An
// approved request is kept until its grant event, which names no requester.
func (a *analyzer) onVote(e store.Event, in, approve, final bool) {
	req := a.reqs[e.RequestID]
	if req != nil && req.decided {
		return
	}
	if in && (req == nil || !contains(req.voters, e.Actor)) {
		a.countVote(e, req, approve)
	}
	if req != nil && !contains(req.voters, e.Actor) {
		req.voters = append(req.voters, e.Actor)
		if approve && req.inPeriod && !req.breakGlass {
			a.pair(req.requester, req.key).approvers[e.Actor]++
		}
	}
	if !final {
		return
	}
	if in {
		a.countDecision(e, req, approve)
	}
	if req != nil && req.inPeriod && !req.breakGlass {
		p := a.pair(req.requester, req.key)
		if approve {
			p.approved++
		} else {
			p.denied++
		}
	}
	a.settle(e.RequestID, approve)
}

// settle closes a decided request: an approved one is remembered until its
// grant is created or fails, a denied one is forgotten.
func (a *analyzer) settle(id string, approved bool) {
	if req := a.reqs[id]; req != nil && approved {
		req.decided = true
		return
	}
	delete(a.reqs, id)
}

func (a *analyzer) countVote(e store.Event, req *openRequest, approve bool) {
	ag := a.approver(e.Actor)
	if !approve {
		ag.denials++
		return
	}
	ag.approvals++
	if req == nil {
		return
	}
	took := e.Time.Sub(req.created)
	if took >= a.o.QuickApproval {
		return
	}
	if ag.quick == 0 || took < ag.fastest {
		ag.fastest = took
	}
	ag.quick++
	if len(ag.examples) < 3 {
		ag.examples = append(ag.examples, fmt.Sprintf("%s (%s on %s, %s)",
			req.id, req.key, e.Time.UTC().Format("2006-01-02"), shortDur(took)))
	}
}

func (a *analyzer) countDecision(e store.Event, req *openRequest, approve bool) {
	if approve {
		a.r.Totals.Approved++
	} else {
		a.r.Totals.Denied++
	}
	if req != nil {
		a.decide.add(e.Time.Sub(req.created))
	}
	if approve {
		return
	}
	d := Denial{RequestID: e.RequestID, Approver: e.Actor, Time: e.Time,
		RoleKey: RoleKey{Resource: e.Resource, Role: e.Role},
		Note:    trimText(firstOf(e.Details, "reason", "comment", "note"), 120)}
	if req != nil {
		d.Requester = req.requester
		d.Reason = trimText(req.reason, 120)
		d.RoleKey = req.key
	}
	if a.keep("denials", len(a.r.Denials)) {
		a.r.Denials = append(a.r.Denials, d)
	}
}

func (a *analyzer) onAuto(e store.Event, in bool) {
	req := a.reqs[e.RequestID]
	if req != nil && req.decided {
		return
	}
	if in {
		a.r.Totals.AutoApproved++
	}
	if req != nil && req.inPeriod && !req.breakGlass {
		a.pair(req.requester, req.key).auto++
	}
	a.settle(e.RequestID, true)
}

func (a *analyzer) onClosed(e store.Event, in bool) {
	if in && e.Type == store.EvRequestExpired {
		a.r.Totals.Expired++
	} else if in {
		a.r.Totals.Cancelled++
	}
	delete(a.reqs, e.RequestID)
}

// onGrant opens a grant. Its holder is the request's requester, or the
// event's "user" detail for a request made before the trail was read; never
// the actor, which is jitbot.
func (a *analyzer) onGrant(e store.Event, in bool) {
	g := &openGrant{key: RoleKey{Resource: e.Resource, Role: e.Role},
		user: e.Details["user"]}
	if req := a.reqs[e.RequestID]; req != nil {
		g.user = req.requester
		if req.breakGlass {
			g.bgReason = req.reason
		}
		if g.key.Resource == "" {
			g.key = req.key
		}
	}
	a.grants[e.GrantID] = g
	delete(a.reqs, e.RequestID)
	if !in {
		return
	}
	a.role(g.key).grants++
	if prov := e.Details["provider"]; prov != "" {
		a.providers[prov] = true
	}
}

func (a *analyzer) onEnded(e store.Event, in bool) {
	g := a.grants[e.GrantID]
	delete(a.grants, e.GrantID)
	if f := a.failed[e.GrantID]; f != nil {
		f.Resolved, f.ResolvedAt = true, e.Time
	}
	if !in {
		return
	}
	key := RoleKey{Resource: e.Resource, Role: e.Role}
	user := e.Details["user"]
	if g != nil {
		key, user = g.key, g.user
	}
	ra := a.role(key)
	if held, err := time.ParseDuration(e.Details["held"]); err == nil {
		ra.held.add(held)
		ra.ended++
	}
	if e.Type == store.EvGrantReleased || e.Details["reason"] == store.EndReleased {
		ra.released++
	}
	late, err := time.ParseDuration(e.Details["late"])
	if err != nil || late <= a.o.LateAfter {
		return
	}
	a.r.Totals.LateRevocations++
	if !a.keep("late_revocations", len(a.r.LateRevocations)) {
		return
	}
	a.r.LateRevocations = append(a.r.LateRevocations, LateRevocation{
		RoleKey: key, GrantID: e.GrantID, User: user,
		Late: Duration(roundDur(late)), Time: e.Time})
}

func (a *analyzer) onRevokeFailed(e store.Event, in bool) {
	if !in {
		return
	}
	f := a.failed[e.GrantID]
	if f == nil {
		f = &FailedRevocation{GrantID: e.GrantID, First: e.Time,
			RoleKey: RoleKey{Resource: e.Resource, Role: e.Role},
			User:    e.Details["user"]}
		if g := a.grants[e.GrantID]; g != nil {
			f.RoleKey, f.User = g.key, g.user
		}
		a.failed[e.GrantID] = f
		a.failures = append(a.failures, f)
	}
	f.Attempts++
	f.LastError = trimText(e.Details["error"], 160)
}

func (a *analyzer) onBreakGlass(e store.Event, in bool) {
	u := &BreakGlassUse{RoleKey: RoleKey{Resource: e.Resource, Role: e.Role},
		User: e.Actor, RequestID: e.RequestID, GrantID: e.GrantID, Time: e.Time}
	if req := a.reqs[e.RequestID]; req != nil {
		u.User, u.Reason = req.requester, trimText(req.reason, 120)
		if u.Resource == "" {
			u.RoleKey = req.key
		}
	} else if g := a.grants[e.GrantID]; g != nil {
		u.User, u.Reason = g.user, trimText(g.bgReason, 120)
	}
	for _, k := range []string{e.GrantID, e.RequestID} {
		if k != "" {
			a.unacked[k] = u
		}
	}
	if in {
		a.r.Totals.BreakGlass++
		a.bgUses = append(a.bgUses, u)
	}
}

func (a *analyzer) onAck(e store.Event) {
	u := a.unacked[e.GrantID]
	if u == nil {
		u = a.unacked[e.RequestID]
	}
	if u == nil {
		return
	}
	u.AckedBy, u.AckedAt = e.Actor, e.Time
	delete(a.unacked, u.GrantID)
	delete(a.unacked, u.RequestID)
}

// onDrift lists a membership reconcile found without a live grant, whether
// it was only reported (reconcile.drift) or also removed (reconcile.revoked).
func (a *analyzer) onDrift(e store.Event, in bool) {
	if !in || !a.keep("drift", len(a.r.Drift)) {
		return
	}
	a.r.Drift = append(a.r.Drift, Drift{
		RoleKey: RoleKey{Resource: e.Resource, Role: e.Role}, GrantID: e.GrantID,
		Provider: e.Details["provider"], Principal: e.Details["principal"],
		Target: e.Details["target"], Time: e.Time,
		Revoked: e.Type == store.EvReconcileRevoked})
}

// keep reports whether a list of n entries may grow; if not, it counts
// the entry as omitted.
func (a *analyzer) keep(list string, n int) bool {
	if n < a.o.MaxListed {
		return true
	}
	a.r.Omitted[list]++
	return false
}

func firstOf(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// normReason is the form under which reasons are compared.
func normReason(s string) string {
	s = strings.ToLower(strings.Join(strings.Fields(s), " "))
	return strings.Trim(s, " .!?,;:-")
}
