package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	bob    = Identity{UserID: "U0BOB", Email: "bob@example.com"}
	oncall = Identity{UserID: "U0ONCALL"}
	alice  = Identity{UserID: "U0ALICE"} // email known only to the directory
	dba1   = Identity{UserID: "U0DBA1"}
)

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func utc(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestEvaluate(t *testing.T) {
	p := mustParse(t, basePolicy)
	monday := berlin(t, "2026-03-02 10:00")
	const ticket = "INC-4711 slow queries"
	in := func(id Identity, res, role string, mods ...func(*Input)) Input {
		i := Input{Requester: id, Resource: res, Role: role, Reason: ticket, Now: monday}
		for _, m := range mods {
			m(&i)
		}
		return i
	}
	dur := func(d time.Duration) func(*Input) { return func(i *Input) { i.Duration = d } }
	at := func(tm time.Time) func(*Input) { return func(i *Input) { i.Now = tm } }
	why := func(r string) func(*Input) { return func(i *Input) { i.Reason = r } }
	glass := func(i *Input) { i.BreakGlass = true }

	tests := []struct {
		name     string
		in       Input
		allowed  bool
		duration time.Duration
		auto     string
		glass    bool
		problem  Problem // checked when set: Field and a part of Message
	}{
		{name: "default duration filled in", in: in(bob, "prod-db", "readonly"),
			allowed: true, duration: time.Hour},
		{name: "on-call in business hours is auto-approved",
			in: in(oncall, "prod-db", "readonly"), allowed: true, duration: time.Hour,
			auto: "oncall-business-hours"},
		{name: "on-call by email via the directory is auto-approved",
			in: in(alice, "prod-db", "readonly", dur(30*time.Minute)), allowed: true,
			duration: 30 * time.Minute, auto: "oncall-business-hours"},
		{name: "auto-approval has its own maximum",
			in: in(oncall, "prod-db", "readonly", dur(2*time.Hour)), allowed: true,
			duration: 2 * time.Hour},
		{name: "no auto-approval after hours",
			in:      in(oncall, "prod-db", "readonly", at(berlin(t, "2026-03-02 18:00"))),
			allowed: true, duration: time.Hour},
		{name: "no auto-approval on saturday",
			in:      in(oncall, "prod-db", "readonly", at(berlin(t, "2026-03-07 10:00"))),
			allowed: true, duration: time.Hour},
		{name: "too long names the maximum",
			in: in(bob, "prod-db", "readonly", dur(3*time.Hour)), duration: 3 * time.Hour,
			problem: Problem{"duration", "3h is longer than the maximum of 2h"}},
		{name: "negative duration", in: in(bob, "prod-db", "readonly", dur(-time.Minute)),
			problem: Problem{"duration", "must be positive"}},
		{name: "short reason after trimming",
			in: in(bob, "prod-db", "readonly", why("   INC-1         ")), duration: time.Hour,
			problem: Problem{"reason", "must be at least 10 characters"}},
		{name: "reason without ticket",
			in: in(bob, "prod-db", "readonly", why("looking into slowness")), duration: time.Hour,
			problem: Problem{"reason", "must match (INC|CHG)-[0-9]+, e.g. a ticket reference"}},
		{name: "unknown resource lists known ones", in: in(bob, "prod", "readonly"),
			problem: Problem{"resource", `unknown resource "prod"; known: build, prod-db`}},
		{name: "unknown role lists known ones", in: in(bob, "prod-db", "write"),
			problem: Problem{"role", `unknown role "write" for prod-db; known: admin, readonly`}},
		{name: "requester not listed", in: in(bob, "prod-db", "admin"), duration: time.Hour,
			problem: Problem{"requester", "not allowed to request prod-db/admin"}},
		{name: "requester without email",
			in: in(Identity{UserID: "U0NOMAIL"}, "prod-db", "readonly"), duration: time.Hour,
			problem: Problem{"requester", "no email address"}},
		{name: "principal without email needs none",
			in: in(Identity{UserID: "U0BOB"}, "build", "deploy"), allowed: true,
			duration: time.Hour},
		{name: "break-glass is capped and flagged",
			in: in(bob, "prod-db", "readonly", dur(2*time.Hour), glass), allowed: true,
			duration: 30 * time.Minute, glass: true},
		{name: "break-glass skips auto-approval",
			in: in(oncall, "prod-db", "readonly", glass), allowed: true,
			duration: 30 * time.Minute, glass: true},
		{name: "break-glass where not enabled",
			in: in(oncall, "prod-db", "admin", glass), duration: time.Hour,
			problem: Problem{"break_glass", "not enabled for prod-db/admin"}},
		{name: "sole approver cannot request",
			in: in(Identity{UserID: "U0ALICE"}, "build", "solo"), duration: time.Hour,
			problem: Problem{"requester", "only 0 can approve"}},
		{name: "someone else may request from the sole approver",
			in: in(bob, "build", "solo"), allowed: true, duration: time.Hour},
		{name: "approver of two-of-two cannot request",
			in: in(dba1, "prod-db", "admin"), duration: time.Hour,
			problem: Problem{"requester", "needs 2 approval(s) from people other than you"}},
		{name: "night window before midnight",
			in: in(bob, "build", "deploy", at(utc(t, "2026-03-03 23:30"))), allowed: true,
			duration: time.Hour, auto: "night-shift"},
		{name: "night window after midnight",
			in: in(bob, "build", "deploy", at(utc(t, "2026-03-04 05:59"))), allowed: true,
			duration: time.Hour, auto: "night-shift"},
		{name: "night window ends at its end",
			in: in(bob, "build", "deploy", at(utc(t, "2026-03-04 06:00"))), allowed: true,
			duration: time.Hour},
		{name: "night window not yet open",
			in: in(bob, "build", "deploy", at(utc(t, "2026-03-04 21:59"))), allowed: true,
			duration: time.Hour},
		{name: "no time, no window",
			in: in(bob, "build", "deploy", at(time.Time{})), allowed: true, duration: time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := p.Evaluate(context.Background(), newMemDirectory(), tc.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if d.Allowed != tc.allowed || d.Duration != tc.duration ||
				d.AutoRule != tc.auto || d.AutoApproved != (tc.auto != "") ||
				d.BreakGlass != tc.glass {
				t.Errorf("got allowed=%v duration=%s auto=%q glass=%v problems=%v; "+
					"want allowed=%v duration=%s auto=%q glass=%v", d.Allowed, d.Duration,
					d.AutoRule, d.BreakGlass, d.Problems, tc.allowed, tc.duration, tc.auto, tc.glass)
			}
			if tc.allowed && len(d.Problems) > 0 {
				t.Errorf("allowed with problems %v", d.Problems)
			}
			if tc.problem != (Problem{}) && !hasProblem(d.Problems, tc.problem) {
				t.Errorf("problems %v lack %s: %s", d.Problems, tc.problem.Field, tc.problem.Message)
			}
		})
	}
}

func hasProblem(ps []Problem, want Problem) bool {
	for _, p := range ps {
		if p.Field == want.Field && strings.Contains(p.Message, want.Message) {
			return true
		}
	}
	return false
}

func TestEvaluateCarriesRules(t *testing.T) {
	p := mustParse(t, basePolicy)
	in := Input{Requester: bob, Resource: "prod-db", Role: "readonly",
		Reason: "CHG-12 rotate keys", BreakGlass: true}
	d, err := p.Evaluate(context.Background(), newMemDirectory(), in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Rules.SecurityChannel != "C0SECURITY" || d.Rules.Target != "app_readonly" {
		t.Errorf("Rules = %+v, want the role's snapshot", d.Rules)
	}
}

func TestEvaluateDirectoryFailure(t *testing.T) {
	p := mustParse(t, basePolicy)
	dir := newMemDirectory()
	dir.fail(errDirectoryDown)
	in := Input{Requester: Identity{UserID: "U0BOB"}, Resource: "prod-db", Role: "readonly",
		Reason: "INC-1 outage now"}
	if _, err := p.Evaluate(context.Background(), dir, in); !errors.Is(err, errDirectoryDown) {
		t.Fatalf("err = %v, want the directory's error", err)
	}
}

// dayWindowPolicy auto-approves during Berlin office hours every day and
// during the hour that daylight saving time repeats or skips.
const dayWindowPolicy = `
resources:
  box:
    provider: shell
    principal: "{{ .UserID }}"
    roles:
      day:
        channel: C0X
        approvers: [U0ALICE]
        auto_approve:
          - name: office
            window: {start: "09:00", end: "18:00", timezone: Europe/Berlin}
      switch:
        channel: C0X
        approvers: [U0ALICE]
        auto_approve:
          - name: switch-hour
            window: {start: "02:00", end: "03:00", timezone: Europe/Berlin}
      fridaynight:
        channel: C0X
        approvers: [U0ALICE]
        auto_approve:
          - name: friday
            window: {days: [fri], start: "22:00", end: "06:00", timezone: UTC}
`

func TestWindowsFollowLocalTime(t *testing.T) {
	p := mustParse(t, dayWindowPolicy)
	tests := []struct {
		name string
		role string
		now  string // UTC
		auto bool
	}{
		// Spring forward: 29 March 2026 Berlin is UTC+2 from 03:00 local.
		{"spring day 09:30 local", "day", "2026-03-29 07:30", true},
		{"spring day 18:30 local", "day", "2026-03-29 16:30", false},
		{"spring skipped hour does not exist", "switch", "2026-03-29 01:00", false},
		{"spring before skipped hour", "switch", "2026-03-29 00:59", false},
		// Fall back: 25 October 2026 Berlin is UTC+1 from 03:00 local.
		{"fall day 09:30 local", "day", "2026-10-25 08:30", true},
		{"fall day 08:30 local", "day", "2026-10-25 07:30", false},
		{"fall repeated hour first pass", "switch", "2026-10-25 00:30", true},
		{"fall repeated hour second pass", "switch", "2026-10-25 01:30", true},
		{"fall after repeated hour", "switch", "2026-10-25 02:00", false},
		// Friday 6 March 2026; the window belongs to the day it opens.
		{"friday night", "fridaynight", "2026-03-06 23:00", true},
		{"saturday early morning", "fridaynight", "2026-03-07 05:00", true},
		{"friday early morning", "fridaynight", "2026-03-06 05:00", false},
		{"saturday night", "fridaynight", "2026-03-07 22:30", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Requester: bob, Resource: "box", Role: tc.role, Now: utc(t, tc.now)}
			d, err := p.Evaluate(context.Background(), nil, in)
			if err != nil || !d.Allowed {
				t.Fatalf("Evaluate = %+v, %v", d, err)
			}
			if d.AutoApproved != tc.auto {
				t.Errorf("auto-approved = %v at %s UTC, want %v", d.AutoApproved, tc.now, tc.auto)
			}
		})
	}
}

func TestMayApprove(t *testing.T) {
	p := mustParse(t, basePolicy)
	ro, _ := p.Rules("prod-db", "readonly")
	byEmail := Rules{Approvers: []Ref{"dba1@example.com"}}

	tests := []struct {
		name      string
		rules     Rules
		actor     Identity
		escalated bool
		change    func(*memDirectory)
		want      bool
	}{
		{"member of approving user group", ro, dba1, false, nil, true},
		{"outsider", ro, bob, false, nil, false},
		{"backup before escalation", ro, Identity{UserID: "U0BACKUP"}, false, nil, false},
		{"backup after escalation", ro, Identity{UserID: "U0BACKUP"}, true, nil, true},
		{"left the user group after the request", ro, dba1, false,
			func(d *memDirectory) { d.setGroup("S0DBA", "U0DBA2") }, false},
		{"approver by email found in directory", byEmail, dba1, false, nil, true},
		{"approver by email, case differs", byEmail,
			Identity{UserID: "U0X", Email: "DBA1@Example.com"}, false, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := newMemDirectory()
			if tc.change != nil {
				tc.change(dir)
			}
			got, err := tc.rules.MayApprove(context.Background(), dir, tc.actor, tc.escalated)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("MayApprove = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMayApproveIsPerActor(t *testing.T) {
	p := mustParse(t, basePolicy)
	admin, _ := p.Rules("prod-db", "admin")
	dir := newMemDirectory()
	// Two clicks by the same approver each pass; counting distinct approvers
	// toward Approvals is the caller's job.
	for i := 0; i < 2; i++ {
		ok, err := admin.MayApprove(context.Background(), dir, dba1, false)
		if err != nil || !ok {
			t.Fatalf("click %d: MayApprove = %v, %v", i+1, ok, err)
		}
	}
	if admin.Approvals != 2 {
		t.Fatalf("Approvals = %d, want 2", admin.Approvals)
	}
}

func TestMayApproveDirectoryFailure(t *testing.T) {
	p := mustParse(t, basePolicy)
	ro, _ := p.Rules("prod-db", "readonly")
	dir := newMemDirectory()
	dir.fail(errDirectoryDown)
	if _, err := ro.MayApprove(context.Background(), dir, dba1, false); !errors.Is(err,
		errDirectoryDown) {
		t.Fatalf("err = %v, want the directory's error", err)
	}
}

func TestIsAdmin(t *testing.T) {
	p := mustParse(t, basePolicy)
	tests := []struct {
		name string
		id   Identity
		want bool
	}{
		{"by user id", Identity{UserID: "U0ADMIN"}, true},
		{"by email from directory", Identity{UserID: "U0LEAD"}, true},
		{"through a policy group of a user group", Identity{UserID: "U0SEC"}, true},
		{"not an admin", bob, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.IsAdmin(context.Background(), newMemDirectory(), tc.id)
			if err != nil || got != tc.want {
				t.Errorf("IsAdmin = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	tests := []struct {
		name, tmpl string
		id         Identity
		want       string
		wantErr    string
	}{
		{"email local part", DefaultPrincipal, bob, "bob", ""},
		{"user id", "jit_{{ .UserID }}", bob, "jit_U0BOB", ""},
		{"no email gives empty", DefaultPrincipal, Identity{UserID: "U0X"}, "", "empty"},
		{"quote is refused", DefaultPrincipal,
			Identity{UserID: "U0X", Email: "o'brien@example.com"}, "", "characters"},
		{"space is refused", "{{ .UserID }} x", bob, "", "characters"},
		{"leading dash is refused", DefaultPrincipal,
			Identity{UserID: "U0X", Email: "-rf@example.com"}, "", "dash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Rules{PrincipalTemplate: tc.tmpl}.Principal(tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Principal = %q, %v; want error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Principal = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
