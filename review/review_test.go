package review

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// memTrail is an in-memory trail: an EventWriter and a Source.
type memTrail []store.Event

func (m *memTrail) Append(e store.Event) error {
	e.Seq = uint64(len(*m) + 1)
	*m = append(*m, e)
	return nil
}

func (m memTrail) Events(from, to time.Time, fn func(store.Event) error) error {
	for _, e := range m {
		if e.Time.Before(from) || !e.Time.Before(to) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func generated(t testing.TB, o GenOptions) (memTrail, Planted) {
	t.Helper()
	var m memTrail
	p, err := Generate(&m, o)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return m, p
}

func analyzed(t *testing.T) (*Report, Planted, memTrail) {
	t.Helper()
	m, p := generated(t, GenOptions{Seed: 7})
	r, err := Analyze(m, p.Policy, p.Start, p.End)
	if err != nil {
		t.Fatalf("analyze: %v", err)
	}
	return r, p, m
}

func TestGenerateIsOrderedAndRepeatable(t *testing.T) {
	a, _ := generated(t, GenOptions{Seed: 3})
	b, _ := generated(t, GenOptions{Seed: 3})
	if len(a) != len(b) || len(a) < 2000 {
		t.Fatalf("got %d and %d events, want the same, at least 2000", len(a), len(b))
	}
	for i := range a {
		if i > 0 && a[i].Time.Before(a[i-1].Time) {
			t.Fatalf("event %d (%s) is earlier than the one before", i, a[i].Type)
		}
		if a[i].Type != b[i].Type || !a[i].Time.Equal(b[i].Time) {
			t.Fatalf("event %d differs between two runs with one seed", i)
		}
	}
}

func TestTotalsMatchPlanted(t *testing.T) {
	r, p, m := analyzed(t)
	want := Totals{Requests: p.Requests, Approved: p.Approved, Denied: p.Denied,
		AutoApproved: p.AutoApproved, Expired: p.Expired, Cancelled: p.Cancelled,
		BreakGlass:     p.BreakGlass,
		MedianDecision: Duration(medianDecision(m)), ActiveGrants: p.ActiveAtEnd,
		BreakGlassUnacked: p.BreakGlassUnacked, LateRevocations: len(p.LateGrants),
		FailedRevocations: 1}
	if r.Totals != want {
		t.Errorf("totals\n got %+v\nwant %+v", r.Totals, want)
	}
	if r.Totals.ActiveGrants < 1 || r.Totals.Denied < 2 || r.Totals.Cancelled < 1 {
		t.Errorf("trail too thin to test: %+v", r.Totals)
	}
}

// medianDecision recomputes the median the slow way, second-rounded up
// like the report.
func medianDecision(m memTrail) time.Duration {
	created := map[string]time.Time{}
	var took []time.Duration
	for _, e := range m {
		switch e.Type {
		case store.EvRequestCreated:
			created[e.RequestID] = e.Time
		case store.EvRequestApproved, store.EvRequestDenied:
			took = append(took, e.Time.Sub(created[e.RequestID]).Round(time.Second))
		}
	}
	slices.Sort(took)
	return took[(len(took)+1)/2-1]
}

func TestAutomationCandidates(t *testing.T) {
	r, p, _ := analyzed(t)
	if len(r.Automate) != 1 {
		t.Fatalf("got %d candidates, want only the planted pair: %+v",
			len(r.Automate), r.Automate)
	}
	c := r.Automate[0]
	if c.Requester != p.Automate.User || c.RoleKey != p.Automate.RoleKey ||
		c.Asks != 12 || c.Approved != 12 ||
		time.Duration(c.MaxDuration) != p.Automate.MaxDuration {
		t.Errorf("candidate %+v, want %+v", c, p.Automate)
	}
	for _, line := range []string{"requesters: [" + p.Automate.User + "]",
		"max_duration: 2h", "name: auto-u7auto01-prod-db-readonly"} {
		if !strings.Contains(c.YAML, line) {
			t.Errorf("rule YAML lacks %q:\n%s", line, c.YAML)
		}
	}
	for _, notPair := range []PlantedPair{p.NearMiss, p.DeniedPair} {
		for _, c := range r.Automate {
			if c.Requester == notPair.User {
				t.Errorf("%s (asked %d times) suggested for automation", notPair.User,
					notPair.Asks)
			}
		}
	}
}

func TestEscalationsAndStale(t *testing.T) {
	r, p, _ := analyzed(t)
	oneOff := map[RoleKey]int{}
	for _, ra := range r.OneOffRoles {
		oneOff[ra.RoleKey] = ra.Count
	}
	if !maps.Equal(oneOff, p.OneOffRoles) {
		t.Errorf("one-off roles %v, want %v", oneOff, p.OneOffRoles)
	}
	var bg []string
	for _, u := range r.BreakGlass {
		bg = append(bg, u.GrantID)
		if u.Reason == "" || u.User == "" {
			t.Errorf("break-glass use %s lacks who or why: %+v", u.GrantID, u)
		}
	}
	if !slices.Equal(bg, p.BreakGlassGrants) || r.BreakGlass[0].AckedBy == "" ||
		r.BreakGlass[1].AckedBy != "" {
		t.Errorf("break-glass %+v, want %v with the first acknowledged", r.BreakGlass,
			p.BreakGlassGrants)
	}
	if len(r.Denials) != p.Denied || !slices.Contains(r.Denials, p.Denial) {
		t.Errorf("%d denials, want %d including %+v", len(r.Denials), p.Denied, p.Denial)
	}
	if !slices.Equal(r.StaleRoles, []RoleKey{p.StaleRole}) ||
		!slices.Equal(r.IdleApprovers, []string{p.IdleApprover}) ||
		!slices.Equal(r.UnusedProviders, []string{p.UnusedProvider}) {
		t.Errorf("stale roles %v, approvers %v, providers %v; want %v, %s, %s",
			r.StaleRoles, r.IdleApprovers, r.UnusedProviders,
			p.StaleRole, p.IdleApprover, p.UnusedProvider)
	}
}

func TestTightenAndRubberStamps(t *testing.T) {
	r, p, _ := analyzed(t)
	if !slices.Equal(r.Tighten, []Tighten{p.Tighten}) {
		t.Errorf("tighten %+v, want only %+v", r.Tighten, p.Tighten)
	}
	if len(r.QuickApprovals) != 1 || r.QuickApprovals[0].Approver != p.Stamp ||
		r.QuickApprovals[0].Count != p.StampDecisions {
		t.Errorf("quick approvals %+v, want %s x%d", r.QuickApprovals, p.Stamp,
			p.StampDecisions)
	}
	want := []ApproverRate{{p.Stamp, p.StampDecisions, p.StampDecisions}}
	if !slices.Equal(r.AlwaysApprove, want) {
		t.Errorf("always-approve %+v, want %+v", r.AlwaysApprove, want)
	}
	got := map[string]WeakReason{}
	for _, w := range r.WeakReasons {
		w.Users = nil
		got[w.Reason] = w
	}
	same := func(a, b WeakReason) bool {
		return a.Reason == b.Reason && a.Count == b.Count && a.Why == b.Why
	}
	if !maps.EqualFunc(got, p.WeakReasons, same) {
		t.Errorf("weak reasons %+v, want %+v", got, p.WeakReasons)
	}
}

func TestRevocationHealth(t *testing.T) {
	r, p, _ := analyzed(t)
	late := map[string]time.Duration{}
	for _, l := range r.LateRevocations {
		late[l.GrantID] = time.Duration(l.Late)
		if !strings.HasPrefix(l.User, "U7LATE") {
			t.Errorf("late revoke of %s names %q as the holder", l.GrantID, l.User)
		}
	}
	if !maps.Equal(late, p.LateGrants) {
		t.Errorf("late revocations %v, want %v", late, p.LateGrants)
	}
	f := r.FailedRevokes
	if len(f) != 1 || f[0].GrantID != p.FailedGrant || f[0].User != "U7FAIL01" ||
		f[0].Attempts != p.FailedAttempts || f[0].Resolved {
		t.Errorf("failed revocations %+v, want %s of U7FAIL01 unresolved after %d attempts",
			f, p.FailedGrant, p.FailedAttempts)
	}
	want := Drift{RoleKey: roReadwrite, Provider: "pg-prod", Principal: p.DriftPrincipal,
		Target: "app_readwrite"}
	if len(r.Drift) != 2 {
		t.Fatalf("drift %+v, want %s's and the removed one", r.Drift, p.DriftPrincipal)
	}
	if want.Time = r.Drift[0].Time; r.Drift[0] != want || r.Drift[1] != p.DriftRemoved {
		t.Errorf("drift %+v, want %+v and %+v", r.Drift, want, p.DriftRemoved)
	}
}

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func ev(at time.Duration, typ store.EventType, actor, req, grant string,
	kv ...string) store.Event {
	d := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		d[kv[i]] = kv[i+1]
	}
	return store.Event{Time: t0.Add(at), Type: typ, Actor: actor, RequestID: req,
		GrantID: grant, Resource: "db", Role: "ro", Details: d}
}

func TestAnalyzeEdges(t *testing.T) {
	const m = time.Minute
	tests := []struct {
		name  string
		trail memTrail
		check func(*testing.T, *Report)
	}{{
		name: "request made before the period is decided in it",
		trail: memTrail{
			ev(-10*m, store.EvRequestCreated, "U1", "r1", "", "duration", "1h"),
			ev(5*m, store.EvRequestApproved, "U2", "r1", ""),
		},
		check: func(t *testing.T, r *Report) {
			if r.Totals.Requests != 0 || r.Totals.Approved != 1 ||
				r.Totals.MedianDecision != Duration(15*m) {
				t.Errorf("totals %+v, want 0 requests, 1 approval after 15m", r.Totals)
			}
		},
	}, {
		name: "one minute late is on time, 61 s is late",
		trail: memTrail{
			ev(m, store.EvGrantCreated, "U1", "r1", "g1"),
			ev(2*m, store.EvGrantCreated, "U1", "r2", "g2"),
			ev(70*m, store.EvGrantRevoked, "", "", "g1", "held", "1h", "late", "1m0s"),
			ev(71*m, store.EvGrantRevoked, "", "", "g2", "held", "1h", "late", "61s"),
		},
		check: func(t *testing.T, r *Report) {
			if len(r.LateRevocations) != 1 || r.LateRevocations[0].GrantID != "g2" ||
				r.Totals.ActiveGrants != 0 {
				t.Errorf("late %+v active %d, want only g2, none active",
					r.LateRevocations, r.Totals.ActiveGrants)
			}
		},
	}, {
		name: "a vote repeated as the closing event counts once",
		trail: memTrail{
			ev(0, store.EvRequestCreated, "U1", "r1", "", "reason", "INC-1 look at locks"),
			ev(10*time.Second, store.EvRequestApproval, "U2", "r1", "", "approvals", "1 of 2"),
			ev(20*time.Second, store.EvRequestApproved, "U2", "r1", "", "approvals", "2 of 2"),
		},
		check: func(t *testing.T, r *Report) {
			if len(r.QuickApprovals) != 1 || r.QuickApprovals[0].Count != 1 {
				t.Errorf("quick approvals %+v, want U2 once", r.QuickApprovals)
			}
		},
	}, {
		name: "a failed revoke that later succeeds is resolved",
		trail: memTrail{
			ev(0, store.EvGrantCreated, "jitbot", "r1", "g1", "user", "U1"),
			ev(60*m, store.EvGrantRevokeFailed, "jitbot", "r1", "g1", "error", "timeout",
				"user", "U1"),
			ev(62*m, store.EvGrantRevoked, "jitbot", "r1", "g1", "held", "1h2m0s",
				"late", "2m0.25s", "user", "U1"),
		},
		check: func(t *testing.T, r *Report) {
			f := r.FailedRevokes
			if len(f) != 1 || !f[0].Resolved || f[0].User != "U1" ||
				r.Totals.LateRevocations != 1 {
				t.Errorf("failed %+v late %d, want g1 resolved and late", f,
					r.Totals.LateRevocations)
			}
		},
	}, {
		name: "acknowledging break-glass by request id clears it",
		trail: memTrail{
			ev(0, store.EvBreakGlassUsed, "U1", "r1", "g1"),
			ev(m, store.EvBreakGlassAcked, "U9", "r1", ""),
		},
		check: func(t *testing.T, r *Report) {
			if r.Totals.BreakGlassUnacked != 0 || r.BreakGlass[0].AckedBy != "U9" {
				t.Errorf("unacked %d %+v, want acknowledged by U9",
					r.Totals.BreakGlassUnacked, r.BreakGlass)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Analyze(tt.trail, nil, t0, t0.Add(24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

type brokenTrail struct{}

var errDisk = errors.New("disk on fire")

func (brokenTrail) Events(time.Time, time.Time, func(store.Event) error) error {
	return errDisk
}

func TestAnalyzeErrors(t *testing.T) {
	if _, err := Analyze(brokenTrail{}, nil, t0, t0.Add(time.Hour)); !errors.Is(err, errDisk) {
		t.Errorf("got %v, want the source's error wrapped", err)
	}
	if _, err := Analyze(memTrail{}, nil, t0, t0); err == nil {
		t.Error("empty period accepted")
	}
}

const hostile = `<script>alert("x")</script> & [link](javascript:x)`

func hostileReport(t *testing.T) *Report {
	t.Helper()
	m, p := generated(t, GenOptions{Seed: 7})
	at := p.End.Add(-time.Hour)
	m = append(m,
		store.Event{Time: at, Type: store.EvRequestCreated, Actor: "U1EVIL",
			RequestID: "rx", Resource: "prod-db", Role: "readonly",
			Details: map[string]string{"reason": hostile, "duration": "1h"}},
		store.Event{Time: at.Add(time.Minute), Type: store.EvRequestDenied,
			Actor: "U2DBA01", RequestID: "rx", Resource: "prod-db", Role: "readonly",
			Details: map[string]string{"reason": hostile}})
	r, err := Analyze(m, p.Policy, p.Start, p.End)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHTML(t *testing.T) {
	r := hostileReport(t)
	var b strings.Builder
	if err := r.HTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict, dec.AutoClose, dec.Entity = false, xml.HTMLAutoClose, xml.HTMLEntity
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
	}
	for _, bad := range []string{"<script", "http:", "https:", "src="} {
		if strings.Contains(strings.ToLower(page), bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{"<svg", "<rect", "&lt;script&gt;", "U7AUTO01",
		"Requests per week"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestMarkdownEscapes(t *testing.T) {
	r := hostileReport(t)
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	if strings.Contains(md, "<script") || strings.Contains(md, "[link]") {
		t.Errorf("markdown lets user text through unescaped")
	}
	for _, want := range []string{"## 6. Revocation health", "max_duration: 2h",
		"billing-db/admin", "&lt;script&gt;"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestJSON(t *testing.T) {
	r, p, _ := analyzed(t)
	var b strings.Builder
	if err := r.JSON(&b); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Totals  map[string]any   `json:"totals"`
		Tighten []map[string]any `json:"tighten"`
	}
	if err := json.Unmarshal([]byte(b.String()), &back); err != nil {
		t.Fatal(err)
	}
	if back.Totals["requests"] != float64(p.Requests) ||
		back.Tighten[0]["suggested"] != "45m" {
		t.Errorf("json totals %v tighten %v", back.Totals, back.Tighten)
	}
}

func TestDigest(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data")
	}
	// The week before this Monday crosses the switch to summer time.
	now := time.Date(2025, 3, 31, 9, 0, 0, 0, berlin)
	var m memTrail
	for i := range 6 {
		at := now.AddDate(0, 0, -6).Add(time.Duration(i) * time.Hour)
		id := "r" + string(rune('a'+i))
		m = append(m, store.Event{Time: at, Type: store.EvRequestCreated,
			Actor: "U1", RequestID: id, Resource: "db", Role: "ro",
			Details: map[string]string{"duration": "40m", "reason": "INC-7 nightly"}},
			store.Event{Time: at.Add(4 * time.Minute), Type: store.EvRequestApproved,
				Actor: "U2", RequestID: id, Resource: "db", Role: "ro"})
	}
	old := now.AddDate(0, 0, -8)
	m = append([]store.Event{{Time: old, Type: store.EvRequestCreated,
		RequestID: "r0", Actor: "U1", Resource: "db", Role: "ro"}}, m...)

	d, err := Digest(m, nil, now, berlin)
	if err != nil {
		t.Fatal(err)
	}
	if d.From.Hour() != 9 || d.To.Sub(d.From) != 167*time.Hour {
		t.Errorf("window %s to %s, want 7 calendar days at 09:00", d.From, d.To)
	}
	text := d.Text()
	for _, want := range []string{"6 requests: 6 approved", "Median time to decision: 4m",
		"<@U1> on `db/ro`: 6 asks", "up to 45m", "`jitbot review`", "`/jit review`"} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\n"); n > 12 {
		t.Errorf("digest has %d lines, want a short message", n)
	}
}

func TestReportJSONReadsBack(t *testing.T) {
	src, planted := generated(t, GenOptions{Seed: 7})
	rep, err := Analyze(src, planted.Policy, planted.Start, planted.End)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not read back: %v", err)
	}
	if back.Totals != rep.Totals || len(back.Automate) != len(rep.Automate) {
		t.Fatalf("read back %+v, wrote %+v", back.Totals, rep.Totals)
	}
	if len(rep.Tighten) > 0 && back.Tighten[0] != rep.Tighten[0] {
		t.Fatalf("tighten finding changed: %+v vs %+v", back.Tighten[0], rep.Tighten[0])
	}
}
