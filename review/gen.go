package review

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/store"
)

// GenOptions shapes a generated trail. Zero fields take their defaults.
type GenOptions struct {
	// Seed makes the trail reproducible; the same options give the same
	// events.
	Seed uint64
	// Start is the first day (default 2025-01-06 UTC); the trail ends
	// Days days later (default 90), at End. A negative Days is an error.
	Start time.Time
	Days  int
	// PerDay is the number of ordinary requests a day (default 8); a
	// negative one is an error. About 1,000,000 events take PerDay 2800.
	PerDay int
}

// PlantedPair is a requester/role pair with a known history.
type PlantedPair struct {
	RoleKey
	User        string
	Asks        int
	MaxDuration time.Duration
}

// Planted says what Generate wrote, with exact numbers, so a test can
// compare a review with the truth.
type Planted struct {
	Start, End time.Time
	// Policy is the configuration the trail was made under.
	Policy StaticPolicy
	Events int
	// Totals as a review of [Start, End) must count them.
	Requests, Approved, Denied, AutoApproved, Expired, Cancelled int
	BreakGlass, ActiveAtEnd                                      int

	Automate   PlantedPair // asked 12 times, always approved
	NearMiss   PlantedPair // asked 4 times: not enough
	DeniedPair PlantedPair // asked 6 times, denied once
	Denial     Denial      // the planted denial

	Stamp          string // approves everything, within seconds
	StampDecisions int

	StaleRole      RoleKey
	IdleApprover   string
	UnusedProvider string
	OneOffRoles    map[RoleKey]int

	Tighten Tighten

	BreakGlassGrants  []string
	BreakGlassUnacked int
	FailedGrant       string
	FailedAttempts    int
	// LateGrants maps grant ids to their lateness as a review shows it.
	LateGrants map[string]time.Duration
	// DriftPrincipal holds a role reconcile found and reported;
	// DriftRemoved one it found and removed, on a target no role maps to.
	DriftPrincipal string
	DriftRemoved   Drift
	// WeakReasons maps each weak reason to its count and why it is weak.
	WeakReasons map[string]WeakReason
}

// Generate writes a realistic trail of opts.Days days in time order, each
// event shaped as the access core writes it (grant events by "jitbot" that
// name the holder in a "user" detail, lateness to the nanosecond): a
// steady flow of ordinary requests from many people (no pair asked more
// than 4 times, every regular approver denies now and then, revokes run
// within 30 s) and the patterns described by Planted. Events due after the
// last day are not written; their grants stay active.
func Generate(w EventWriter, opts GenOptions) (Planted, error) {
	if opts.Days < 0 || opts.PerDay < 0 {
		return Planted{}, fmt.Errorf("generate trail: %d day(s) of %d request(s) a day: "+
			"neither may be negative", opts.Days, opts.PerDay)
	}
	g := newGen(opts)
	g.plant()
	for day := 0; day < g.days; day++ {
		g.background(day)
		dayEnd := g.start.AddDate(0, 0, day+1)
		if err := g.flush(w, dayEnd); err != nil {
			return g.p, err
		}
	}
	g.p.ActiveAtEnd = g.open
	return g.p, nil
}

type gen struct {
	rnd        *rand.Rand
	start, end time.Time
	days       int
	perDay     int
	queue      eventQueue
	seq        int
	reqN       int
	grantN     int
	reasonN    int
	users      int
	pairAsks   map[pairKey]int
	votes      map[string]int
	open       int
	p          Planted
}

func newGen(o GenOptions) *gen {
	if o.Start.IsZero() {
		o.Start = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	}
	o.Days = cmp0(o.Days, 90)
	o.PerDay = cmp0(o.PerDay, 8)
	g := &gen{
		rnd:   rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		start: o.Start, days: o.Days, perDay: o.PerDay,
		end:      o.Start.AddDate(0, 0, o.Days),
		pairAsks: map[pairKey]int{}, votes: map[string]int{},
	}
	// Enough people that no ordinary pair needs a fifth ask.
	g.users = max(40, o.PerDay*o.Days/(len(bgRoles)*2))
	g.p = Planted{Start: g.start, End: g.end, Policy: demoPolicy(),
		OneOffRoles: map[RoleKey]int{}, LateGrants: map[string]time.Duration{},
		WeakReasons: map[string]WeakReason{}}
	return g
}

func cmp0(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

var (
	roReadonly  = RoleKey{"prod-db", "readonly"}
	roReadwrite = RoleKey{"prod-db", "readwrite"}
	roStaging   = RoleKey{"staging-db", "readwrite"}
	roK8sView   = RoleKey{"k8s-prod", "view"}
	roK8sAdmin  = RoleKey{"k8s-prod", "admin"}
	roDev       = RoleKey{"dev-db", "readonly"}
	roAnalytics = RoleKey{"analytics-db", "writer"}
	roAudit     = RoleKey{"audit-log", "export"}
	roBilling   = RoleKey{"billing-db", "admin"}
)

// bgRoles carry the ordinary traffic; dev-db is auto-approved.
var bgRoles = []RoleKey{roReadonly, roReadwrite, roStaging, roK8sView, roDev}

func demoPolicy() StaticPolicy {
	dba := []string{"U2DBA01", "U2DBA02", "U2DBA03"}
	sre := []string{"U5SRE01", "U5SRE02", "U5SRE03"}
	sec := []string{"U3SEC01", "U3SEC02"}
	role := func(k RoleKey, prov string, maxDur time.Duration, ap []string) RoleInfo {
		return RoleInfo{Resource: k.Resource, Role: k.Role, Provider: prov,
			MaxDuration: maxDur, Approvers: ap}
	}
	dev := role(roDev, "pg-staging", 8*time.Hour, []string{"U4LEAD01"})
	dev.AutoRules = []AutoRule{{Name: "devs-anytime", Requesters: []string{"*"}}}
	return StaticPolicy{
		role(roReadonly, "pg-prod", 2*time.Hour, dba),
		role(roReadwrite, "pg-prod", 4*time.Hour, dba),
		role(roStaging, "pg-staging", 8*time.Hour,
			[]string{"U4LEAD01", "U4LEAD02", "U9STAMP"}),
		role(roK8sView, "k8s", 4*time.Hour, sre),
		role(roK8sAdmin, "k8s", time.Hour, sre),
		dev,
		role(roAnalytics, "pg-analytics", 4*time.Hour, []string{"U6DATA01", "U6DATA02"}),
		role(roAudit, "s3-audit", time.Hour, sec),
		role(roBilling, "ldap-legacy", 2*time.Hour, []string{"U3SEC01", "U8IDLE"}),
	}
}

func (g *gen) info(k RoleKey) RoleInfo {
	for _, ri := range g.p.Policy {
		if ri.Resource == k.Resource && ri.Role == k.Role {
			return ri
		}
	}
	panic("review: generator role " + k.String() + " is not in its policy")
}

// push queues an event; events leave the queue in time order.
func (g *gen) push(e store.Event) {
	g.seq++
	heap.Push(&g.queue, queued{e: e, seq: g.seq})
}

func (g *gen) flush(w EventWriter, until time.Time) error {
	for g.queue.Len() > 0 && g.queue[0].e.Time.Before(until) {
		q := heap.Pop(&g.queue).(queued)
		if !q.e.Time.Before(g.end) {
			continue
		}
		g.count(q.e)
		if err := w.Append(q.e); err != nil {
			return fmt.Errorf("append generated event %d (%s): %w",
				g.p.Events, q.e.Type, err)
		}
	}
	return nil
}

// count keeps the planted totals in step with what was written.
func (g *gen) count(e store.Event) {
	g.p.Events++
	switch e.Type {
	case store.EvRequestCreated:
		g.p.Requests++
	case store.EvRequestApproved:
		g.p.Approved++
	case store.EvRequestDenied:
		g.p.Denied++
	case store.EvRequestAuto:
		g.p.AutoApproved++
	case store.EvRequestExpired:
		g.p.Expired++
	case store.EvRequestCancelled:
		g.p.Cancelled++
	case store.EvBreakGlassUsed:
		g.p.BreakGlass++
	case store.EvGrantCreated:
		g.open++
	case store.EvGrantRevoked, store.EvGrantReleased, store.EvGrantFailed:
		g.open--
	}
}

type queued struct {
	e   store.Event
	seq int
}

type eventQueue []queued

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].e.Time.Equal(q[j].e.Time) {
		return q[i].e.Time.Before(q[j].e.Time)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(queued)) }
func (q *eventQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// ask describes one request to write.
type ask struct {
	user       string
	key        RoleKey
	at         time.Time
	dur        time.Duration
	reason     string
	breakGlass bool
}

// reqEvent is an event about request id, as the core writes it.
func reqEvent(
	typ store.EventType, id, gid string, a ask, actor string, at time.Time,
	details map[string]string,
) store.Event {
	return store.Event{Time: at, Type: typ, Actor: actor, RequestID: id, GrantID: gid,
		Resource: a.key.Resource, Role: a.key.Role, Details: details}
}

// grantEvent is an event about grant gid of a.user, as the core writes it:
// the holder is in the "user" detail whoever the actor is.
func grantEvent(
	typ store.EventType, id, gid string, a ask, actor string, at time.Time,
	details map[string]string,
) store.Event {
	e := reqEvent(typ, id, gid, a, actor, at, map[string]string{"user": a.user})
	for k, v := range details {
		e.Details[k] = v
	}
	return e
}

func (g *gen) newGrantID() string {
	g.grantN++
	return "g" + strconv.Itoa(100000+g.grantN)
}

// request writes request.created and returns the request id. gid is the
// grant of a request approved as it is made (break-glass, auto), else "".
func (g *gen) request(a ask, gid string) string {
	g.reqN++
	id := "r" + strconv.Itoa(100000+g.reqN)
	g.push(reqEvent(store.EvRequestCreated, id, gid, a, a.user, a.at, map[string]string{
		"duration": a.dur.String(), "reason": a.reason, "requester": a.user,
		"break_glass": strconv.FormatBool(a.breakGlass)}))
	return id
}

// decide writes an approver's closing vote. An approval names the grant it
// leads to, whose id it returns.
func (g *gen) decide(id string, a ask, approver string, at time.Time, approve bool) string {
	if !approve {
		g.push(reqEvent(store.EvRequestDenied, id, "", a, approver, at, nil))
		return ""
	}
	gid := g.newGrantID()
	g.push(reqEvent(store.EvRequestApproved, id, gid, a, approver, at,
		map[string]string{"approvals": "1 of 1"}))
	return gid
}

// grant writes grant.created for gid at `at` and returns the expiry.
func (g *gen) grant(reqID, gid string, a ask, at time.Time) time.Time {
	exp := at.Add(a.dur)
	g.push(grantEvent(store.EvGrantCreated, reqID, gid, a, "jitbot", at,
		map[string]string{"expires_at": exp.UTC().Format(time.RFC3339),
			"duration": a.dur.String(), "provider": g.info(a.key).Provider,
			"principal": principal(a.user)}))
	return exp
}

// endGrant writes the grant's end after held, late past its expiry: a
// release by the holder when held is short of the duration, else the
// expiry's revoke by jitbot.
func (g *gen) endGrant(reqID, gid string, a ask, granted time.Time, held, late time.Duration) {
	typ, why, actor := store.EvGrantRevoked, store.EndExpired, "jitbot"
	if held < a.dur {
		typ, why, actor, late = store.EvGrantReleased, store.EndReleased, a.user, 0
	}
	g.push(grantEvent(typ, reqID, gid, a, actor, granted.Add(held), map[string]string{
		"held": held.Round(time.Second).String(), "late": late.String(),
		"reason": why, "covered": "false"}))
}

func principal(user string) string { return "u_" + user }

// approveAndHold writes an approval by approver after delay, the grant and
// its end after held (the full duration plus late when held is zero).
func (g *gen) approveAndHold(a ask, approver string, delay, held, late time.Duration) string {
	id := g.request(a, "")
	gid := g.decide(id, a, approver, a.at.Add(delay), true)
	granted := a.at.Add(delay + 2*time.Second)
	g.grant(id, gid, a, granted)
	if held == 0 {
		held = a.dur + late
	}
	g.endGrant(id, gid, a, granted, held, late)
	return gid
}

func (g *gen) reason(topic string) string {
	g.reasonN++
	return fmt.Sprintf("INC-%05d %s", 10000+g.reasonN, topic)
}

var topics = []string{
	"investigate slow checkout queries", "backfill missing invoices",
	"rotate the reporting service password", "check replication lag alert",
	"debug failing nightly export", "apply the approved schema migration",
	"inspect pods stuck in CrashLoopBackOff", "verify customer data fix",
}

// day returns a working-hours time on day d.
func (g *gen) day(d int) time.Time {
	return g.start.AddDate(0, 0, d).Add(8*time.Hour +
		time.Duration(g.rnd.IntN(10*3600))*time.Second)
}
