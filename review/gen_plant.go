package review

import (
	"fmt"
	"time"

	"github.com/jitbot/jitbot/store"
)

// plant queues the known patterns; they are few, so all go in at once.
func (g *gen) plant() {
	g.plantPairs()
	g.plantStamp()
	g.plantTighten()
	g.plantOneOff()
	g.plantBreakGlass()
	g.plantRevocations()
	g.p.StaleRole = roBilling
	g.p.IdleApprover = "U8IDLE"
	g.p.UnusedProvider = "ldap-legacy"
}

func (g *gen) minutes(lo, hi int) time.Duration {
	return time.Duration(lo+g.rnd.IntN(hi-lo+1)) * time.Minute
}

func (g *gen) plantPairs() {
	dba := g.info(roReadonly).Approvers
	const weekly = "refresh the weekly revenue report"
	for i := range 12 {
		a := ask{user: "U7AUTO01", key: roReadonly, at: g.day(3 + 7*i),
			dur: time.Hour, reason: weekly}
		if i%4 == 3 {
			a.dur = 2 * time.Hour
		}
		g.approveAndHold(a, dba[i%len(dba)], g.minutes(3, 20), 0, 0)
	}
	g.p.Automate = PlantedPair{RoleKey: roReadonly, User: "U7AUTO01", Asks: 12,
		MaxDuration: 2 * time.Hour}
	g.p.WeakReasons[weekly] = WeakReason{Reason: weekly, Count: 12, Why: "repeated"}

	for i := range 4 {
		a := ask{user: "U7NEAR01", key: roReadonly, at: g.day(5 + 20*i),
			dur: time.Hour, reason: g.reason(topics[i])}
		if i < 2 {
			a.reason = "need access"
		}
		g.approveAndHold(a, dba[(i+1)%len(dba)], g.minutes(3, 20), 0, 0)
	}
	g.p.NearMiss = PlantedPair{RoleKey: roReadonly, User: "U7NEAR01", Asks: 4}
	g.p.WeakReasons["need access"] = WeakReason{Reason: "need access", Count: 2,
		Why: "filler"}
	g.plantDenied()
}

// plantDenied writes a pair asked six times and denied once.
func (g *gen) plantDenied() {
	sre := g.info(roK8sView).Approvers
	for i := range 6 {
		a := ask{user: "U7DENY01", key: roK8sView, at: g.day(8 + 13*i),
			dur: time.Hour, reason: g.reason(topics[i])}
		if i%2 == 0 {
			a.reason = "fix"
		}
		if i != 2 {
			g.approveAndHold(a, sre[i%len(sre)], g.minutes(3, 20), 0, 0)
			continue
		}
		id := g.request(a, "")
		at := a.at.Add(g.minutes(3, 20))
		g.decide(id, a, sre[0], at, false)
		g.p.Denial = Denial{RoleKey: roK8sView, RequestID: id, Requester: a.user,
			Approver: sre[0], Time: at, Reason: a.reason}
	}
	g.p.DeniedPair = PlantedPair{RoleKey: roK8sView, User: "U7DENY01", Asks: 6}
	g.p.WeakReasons["fix"] = WeakReason{Reason: "fix", Count: 3, Why: "filler"}
}

// plantStamp writes fifteen approvals given within seconds by one person.
func (g *gen) plantStamp() {
	for i := range 15 {
		a := ask{user: fmt.Sprintf("U7STG%03d", i), key: roStaging,
			at: g.day(2 + 6*i), dur: 4 * time.Hour, reason: g.reason(topics[i%8])}
		delay := time.Duration(5+g.rnd.IntN(20)) * time.Second
		g.approveAndHold(a, "U9STAMP", delay, 0, 0)
	}
	g.p.Stamp, g.p.StampDecisions = "U9STAMP", 15
}

// plantTighten writes ten 4h grants released after 15 to 33 minutes.
func (g *gen) plantTighten() {
	ap := g.info(roAnalytics).Approvers
	for i := range 10 {
		a := ask{user: fmt.Sprintf("U7ANA%03d", i), key: roAnalytics,
			at: g.day(4 + 8*i), dur: 4 * time.Hour, reason: g.reason(topics[i%8])}
		held := 15*time.Minute + time.Duration(2*i)*time.Minute
		g.approveAndHold(a, ap[i%2], g.minutes(3, 20), held, 0)
	}
	g.p.Tighten = Tighten{RoleKey: roAnalytics, Grants: 10, ReleasedEarly: 10,
		P95Held: Duration(33 * time.Minute), MaxDuration: Duration(4 * time.Hour),
		Suggested: Duration(45 * time.Minute)}
}

func (g *gen) plantOneOff() {
	sec := g.info(roAudit).Approvers
	for i := range 2 {
		a := ask{user: fmt.Sprintf("U7AUD%03d", i), key: roAudit,
			at: g.day(30 + 25*i), dur: 30 * time.Minute,
			reason: g.reason("export access log for the external audit")}
		g.approveAndHold(a, sec[i], g.minutes(3, 20), 0, 0)
	}
	g.p.OneOffRoles[roAudit] = 2
}

// plantBreakGlass writes two break-glass grants; only the first is
// acknowledged.
func (g *gen) plantBreakGlass() {
	for i, d := range []int{20, 85} {
		a := ask{user: fmt.Sprintf("U7BG%04d", i), key: roK8sAdmin, at: g.day(d),
			dur: 30 * time.Minute, breakGlass: true,
			reason: g.reason("production outage, api pods not starting")}
		gid := g.newGrantID()
		id := g.request(a, gid)
		g.push(reqEvent(store.EvBreakGlassUsed, id, gid, a, a.user, a.at, nil))
		g.grant(id, gid, a, a.at.Add(time.Second))
		g.endGrant(id, gid, a, a.at.Add(time.Second), a.dur, 0)
		g.p.BreakGlassGrants = append(g.p.BreakGlassGrants, gid)
		if i == 0 {
			g.push(grantEvent(store.EvBreakGlassAcked, id, gid, a, "U3SEC01",
				a.at.Add(40*time.Minute), nil))
		}
	}
	g.p.OneOffRoles[roK8sAdmin] = 2
	g.p.BreakGlassUnacked = 1
}

// plantRevocations writes a revoke that keeps failing, two late revokes
// and two memberships found by reconcile: one reported on a role of the
// policy, one removed from a target no role maps to.
func (g *gen) plantRevocations() {
	dba := g.info(roReadwrite).Approvers
	a := ask{user: "U7FAIL01", key: roReadwrite, at: g.day(60), dur: time.Hour,
		reason: g.reason("apply the hotfix data correction")}
	id := g.request(a, "")
	gid := g.decide(id, a, dba[0], a.at.Add(9*time.Minute), true)
	exp := g.grant(id, gid, a, a.at.Add(9*time.Minute+2*time.Second))
	for i, after := range []time.Duration{0, time.Minute, 5 * time.Minute} {
		g.push(grantEvent(store.EvGrantRevokeFailed, id, gid, a, "jitbot", exp.Add(after),
			map[string]string{"error": "dial tcp: connection refused",
				"attempt": fmt.Sprint(i + 1)}))
	}
	g.p.FailedGrant, g.p.FailedAttempts = gid, 3

	sre := g.info(roK8sView).Approvers
	// Lateness is measured to the nanosecond; a review rounds it.
	lates := []time.Duration{3*time.Minute + 704414771, 12*time.Minute + 2719}
	for i, late := range lates {
		a := ask{user: fmt.Sprintf("U7LATE%02d", i), key: roK8sView,
			at: g.day(40 + 10*i), dur: time.Hour, reason: g.reason(topics[i])}
		gid := g.approveAndHold(a, sre[i], g.minutes(3, 20), 0, late)
		g.p.LateGrants[gid] = roundDur(late)
	}
	g.plantDrift()
}

// plantDrift writes what reconcile records, as it records it.
func (g *gen) plantDrift() {
	drift := func(typ store.EventType, at time.Time, k RoleKey, prov, who, target string) {
		g.push(store.Event{Time: at, Type: typ, Actor: "jitbot",
			Resource: k.Resource, Role: k.Role, Details: map[string]string{
				"provider": prov, "principal": who, "target": target}})
	}
	drift(store.EvReconcileDrift, g.day(45), roReadwrite, "pg-prod", "jsmith",
		"app_readwrite")
	g.p.DriftPrincipal = "jsmith"
	at := g.day(46)
	drift(store.EvReconcileRevoked, at, RoleKey{}, "pg-prod", "olduser", "app_superuser")
	g.p.DriftRemoved = Drift{Provider: "pg-prod", Principal: "olduser",
		Target: "app_superuser", Time: at, Revoked: true}
}

// background queues the ordinary requests of one day.
func (g *gen) background(day int) {
	for i := range g.perDay {
		key := bgRoles[(day*g.perDay+i)%len(bgRoles)]
		user := g.pickUser(key)
		ri := g.info(key)
		durs := []time.Duration{ri.MaxDuration / 4, ri.MaxDuration / 2, ri.MaxDuration}
		a := ask{user: user, key: key, at: g.day(day), dur: durs[g.rnd.IntN(3)],
			reason: g.reason(topics[g.rnd.IntN(len(topics))])}
		g.ordinary(a, ri)
	}
}

// pickUser finds a person who asked for key fewer than four times.
func (g *gen) pickUser(key RoleKey) string {
	n := g.rnd.IntN(g.users)
	for range g.users {
		user := fmt.Sprintf("U1%06d", n)
		pk := pairKey{user: user, RoleKey: key}
		if g.pairAsks[pk] < 4 {
			g.pairAsks[pk]++
			return user
		}
		n = (n + 1) % g.users
	}
	panic("review: generator ran out of people")
}

// ordinary writes one everyday request: auto-approved on dev-db, expired
// or cancelled now and then, otherwise decided by one of the role's
// approvers, each of whom denies their 4th, 20th, 36th... decision.
func (g *gen) ordinary(a ask, ri RoleInfo) {
	if len(ri.AutoRules) > 0 {
		gid := g.newGrantID()
		id := g.request(a, gid)
		g.push(reqEvent(store.EvRequestAuto, id, gid, a, "policy", a.at,
			map[string]string{"rule": ri.AutoRules[0].Name}))
		g.hold(id, gid, a, a.at.Add(time.Second))
		return
	}
	id := g.request(a, "")
	switch g.rnd.IntN(60) {
	case 0, 1:
		g.push(reqEvent(store.EvRequestExpired, id, "", a, "jitbot",
			a.at.Add(30*time.Minute), nil))
		return
	case 2:
		g.push(reqEvent(store.EvRequestCancelled, id, "", a, a.user,
			a.at.Add(g.minutes(1, 20)), nil))
		return
	}
	ap := ri.Approvers[g.rnd.IntN(2)]
	g.votes[ap]++
	at := a.at.Add(g.minutes(2, 40))
	approve := g.votes[ap]%16 != 4
	if gid := g.decide(id, a, ap, at, approve); approve {
		g.hold(id, gid, a, at.Add(2*time.Second))
	}
}

// hold writes a grant that is released early one time in ten and
// otherwise revoked up to 30 s after it expires, to the nanosecond.
func (g *gen) hold(reqID, gid string, a ask, at time.Time) {
	g.grant(reqID, gid, a, at)
	if g.rnd.IntN(10) == 0 {
		g.endGrant(reqID, gid, a, at, time.Duration(1+g.rnd.IntN(int(a.dur/time.Minute)))*
			time.Minute-time.Second, 0)
		return
	}
	late := time.Duration(g.rnd.Int64N(int64(30 * time.Second)))
	g.endGrant(reqID, gid, a, at, a.dur+late, late)
}
