package review

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// coreTrail is a day of events shaped as the access core writes them: the
// grant events are jitbot's and name the holder only in their "user"
// detail, an approval names its grant, lateness is to the nanosecond.
func coreTrail() memTrail {
	const m = time.Minute
	created := func(at time.Duration, user, req, grant string, bg bool) store.Event {
		return ev(at, store.EvRequestCreated, user, req, grant, "duration", "1h0m0s",
			"reason", "INC-7 look at the locks", "requester", user,
			"break_glass", map[bool]string{true: "true", false: "false"}[bg])
	}
	granted := func(at time.Duration, req, grant, user string) store.Event {
		return ev(at, store.EvGrantCreated, "jitbot", req, grant, "duration", "1h0m0s",
			"provider", "pg", "principal", strings.ToLower(user), "user", user)
	}
	return memTrail{
		// U1 asks; two approvals are needed.
		created(0, "U1", "r1", "", false),
		ev(10*time.Second, store.EvRequestApproval, "U2", "r1", "", "approvals", "1 of 2"),
		ev(20*time.Second, store.EvRequestApproved, "U3", "r1", "g1", "approvals", "2 of 2"),
		granted(20*time.Second, "r1", "g1", "U1"),
		// U4's request is approved by a rule.
		created(m, "U4", "r2", "g2", false),
		ev(m, store.EvRequestAuto, "policy", "r2", "g2", "rule", "office-hours"),
		granted(m, "r2", "g2", "U4"),
		// U6 breaks the glass; U9 looks at it later.
		created(2*m, "U6", "r4", "g4", true),
		ev(2*m, store.EvBreakGlassUsed, "U6", "r4", "g4"),
		granted(2*m, "r4", "g4", "U6"),
		// g3 was granted long before the trail is read.
		ev(30*m, store.EvGrantRevokeFailed, "jitbot", "r3", "g3", "error", "timeout",
			"attempt", "1", "user", "U5"),
		ev(55*m, store.EvBreakGlassAcked, "U9", "r4", "g4", "user", "U6"),
		ev(61*m, store.EvGrantRevoked, "jitbot", "r2", "g2", "held", "1h0m0s",
			"late", "704.414771ms", "reason", "expired", "covered", "false", "user", "U4"),
		ev(80*m, store.EvGrantRevokeFailed, "jitbot", "r1", "g1", "error", "timeout",
			"attempt", "1", "user", "U1"),
		ev(82*m, store.EvGrantRevoked, "jitbot", "r1", "g1", "held", "1h21m40s",
			"late", "1m59.704414771s", "reason", "expired", "covered", "false",
			"user", "U1"),
		ev(90*m, store.EvGrantRevoked, "jitbot", "r4", "g4", "held", "1h28m0s",
			"late", "28m0.5s", "reason", "expired", "covered", "false", "user", "U6"),
		{Time: t0.Add(2 * time.Hour), Type: store.EvReconcileRevoked, Actor: "jitbot",
			Details: map[string]string{"provider": "pg", "principal": "carol",
				"target": "app_admin"}},
	}
}

func TestReviewNamesHoldersOnTheCoresTrail(t *testing.T) {
	r, err := Analyze(coreTrail(), nil, t0, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	late := map[string]string{}
	for _, l := range r.LateRevocations {
		late[l.GrantID] = l.User + " " + l.Late.String()
	}
	want := map[string]string{"g1": "U1 2m", "g4": "U6 28m1s"}
	if len(late) != len(want) || late["g1"] != want["g1"] || late["g4"] != want["g4"] {
		t.Errorf("late revocations %v, want %v", late, want)
	}
	failed := map[string]string{}
	for _, f := range r.FailedRevokes {
		failed[f.GrantID] = f.User
	}
	if len(failed) != 2 || failed["g1"] != "U1" || failed["g3"] != "U5" {
		t.Errorf("failed revocations name holders %v, want g1 U1 and g3 U5", failed)
	}
	if len(r.BreakGlass) != 1 || r.BreakGlass[0].User != "U6" ||
		r.BreakGlass[0].AckedBy != "U9" || r.Totals.BreakGlassUnacked != 0 {
		t.Errorf("break-glass %+v, want U6's, acknowledged by U9", r.BreakGlass)
	}
	if r.Totals.Approved != 1 || r.Totals.AutoApproved != 1 || r.Totals.ActiveGrants != 0 {
		t.Errorf("totals %+v, want one approval, one auto, nothing active", r.Totals)
	}

	var md bytes.Buffer
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	health := section(t, md.String(), "## 6.")
	for _, want := range []string{"(db/ro, U1) revoked 2m after", "(db/ro, U6) revoked 28m1s",
		"(db/ro, U5) 1 attempt(s)", "Drift on pg/app\\_admin: principal carol",
		"removed by reconcile"} {
		if !strings.Contains(health, want) {
			t.Errorf("revocation health lacks %q:\n%s", want, health)
		}
	}
	if strings.Contains(health, "jitbot") || strings.Contains(health, "ms ") {
		t.Errorf("revocation health names jitbot or shows milliseconds:\n%s", health)
	}
}

// section returns the part of md from the heading that starts with head to
// the next level-two heading.
func section(t *testing.T, md, head string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, "\n"+head)
	if !ok {
		t.Fatalf("no section %q in:\n%s", head, md)
	}
	body, _, _ := strings.Cut(rest, "\n## ")
	return body
}

func TestGeneratedTrailIsShapedLikeTheCores(t *testing.T) {
	m, _ := generated(t, GenOptions{Seed: 5, Days: 14})
	grantsOf := map[string]bool{}
	for _, e := range m {
		switch e.Type {
		case store.EvRequestApproved, store.EvRequestAuto:
			if e.GrantID == "" {
				t.Fatalf("%s of %s names no grant", e.Type, e.RequestID)
			}
			grantsOf[e.GrantID] = true
		case store.EvGrantCreated, store.EvGrantRevokeFailed:
			if e.Actor != "jitbot" || e.Details["user"] == "" || e.RequestID == "" {
				t.Fatalf("%s of %s by %q for %q", e.Type, e.GrantID, e.Actor,
					e.Details["user"])
			}
		case store.EvGrantRevoked, store.EvGrantReleased, store.EvBreakGlassAcked:
			if e.Details["user"] == "" {
				t.Fatalf("%s of %s names no holder", e.Type, e.GrantID)
			}
		}
	}
	if len(grantsOf) < 50 {
		t.Fatalf("only %d approvals name their grant", len(grantsOf))
	}
}

func TestEmptyReportSaysNone(t *testing.T) {
	r, err := Analyze(memTrail{}, StaticPolicy{}, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var md, page strings.Builder
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, head := range []string{"## 2.", "### Break-glass", "### Denials", "## 4.",
		"## 5.", "## 6."} {
		if body := section(t, md.String(), head); !strings.Contains(body, "None.") {
			t.Errorf("markdown section %s is empty rather than None.:%s", head, body)
		}
	}
	for _, head := range []string{"2. One-off", "Break-glass</h3>", "Denials</h3>",
		"4. Tighten", "5. Rubber", "6. Revocation"} {
		_, rest, _ := strings.Cut(page.String(), head)
		if next, _, _ := strings.Cut(rest, "<h"); !strings.Contains(next, "None.") {
			t.Errorf("html section %s is empty rather than None.: %s", head, next)
		}
	}
}

func TestJSONListsAreNeverNull(t *testing.T) {
	for name, p := range map[string]PolicyView{"with policy": StaticPolicy{},
		"without": nil} {
		r, err := Analyze(memTrail{}, p, t0, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := r.JSON(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "null") || !strings.Contains(b.String(), `"drift": []`) {
			t.Errorf("%s: JSON of an empty review:\n%s", name, b.String())
		}
	}
}

func TestTotalsShowCancelled(t *testing.T) {
	r := &Report{From: t0, To: t0.Add(time.Hour), Totals: Totals{Cancelled: 7}}
	var md, page strings.Builder
	if err := r.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.HTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| Cancelled | 7 |") ||
		!strings.Contains(page.String(), "<th>Cancelled</th><td>7</td>") {
		t.Errorf("totals lack the cancelled requests:\n%s", md.String())
	}
}

func TestDurationsAreRounded(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", 704414771: "1s", 400 * time.Millisecond: "0s",
		9 * time.Second: "9s", 3*time.Minute + 704414771: "3m1s",
		59*time.Minute + 59600*time.Millisecond: "1h",
		time.Hour + 31*time.Second:              "1h1m",
		26*time.Hour + 29*time.Second:           "26h",
		-90 * time.Second:                       "-1m30s",
	} {
		if got := Duration(in).String(); got != want {
			t.Errorf("Duration(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestHeldChartShowsSeconds(t *testing.T) {
	var trail memTrail
	for i, gid := range []string{"g1", "g2", "g3"} {
		at := time.Duration(i) * time.Minute
		trail = append(trail,
			ev(at, store.EvGrantCreated, "jitbot", "r"+gid, gid, "user", "U1"),
			ev(at+9*time.Second, store.EvGrantReleased, "U1", "r"+gid, gid,
				"held", "9s", "late", "0s", "reason", "released", "user", "U1"))
	}
	pol := StaticPolicy{{Resource: "db", Role: "ro", Provider: "pg",
		MaxDuration: time.Hour}}
	r, err := Analyze(trail, pol, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var page strings.Builder
	if err := r.HTML(&page); err != nil {
		t.Fatal(err)
	}
	_, held, _ := strings.Cut(page.String(), "Held time (p95)")
	if len(r.RoleStats) != 1 || r.RoleStats[0].P95Held.String() != "9s" ||
		!strings.Contains(held, ">9s</text>") || strings.Contains(held, ">1m</text>") {
		t.Errorf("held-time chart of 9 s grants: %+v\n%.600s", r.RoleStats, held)
	}
}
