package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"1d", 24 * time.Hour},
		{"1d2h30m", 26*time.Hour + 30*time.Minute},
		{"90m", 90 * time.Minute},
		{"45s", 45 * time.Second},
		{"2h0m5s", 2*time.Hour + 5*time.Second},
		{" 1D2H ", 26 * time.Hour},
		{"0s", 0},
		{"0", 0},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationRefusesUncleanForms(t *testing.T) {
	for _, in := range []string{
		"", "d", "1d-23h", "-1h", "+1h", "1.5h", "1ns", "500ms", "1h1h", "30m2h", "1w",
		"1 h", "2 hours", "h1", "99999999999999999999d", "106752d",
	} {
		if d, err := ParseDuration(in); !errors.Is(err, ErrBadDuration) {
			t.Errorf("ParseDuration(%q) = %v, %v; want ErrBadDuration", in, d, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{24 * time.Hour, "24h"},
		{4 * time.Hour, "4h"},
		{90 * time.Minute, "1h30m"},
		{2*time.Hour + 5*time.Second, "2h5s"},
		{45 * time.Second, "45s"},
		{0, "0s"},
		{-time.Minute, "-1m"},
		{time.Nanosecond, "1ns"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// problemAt returns the message of the problem at field, failing the test
// when Parse accepts doc or reports nothing there.
func problemAt(t *testing.T, doc, field string) string {
	t.Helper()
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse = %v, want problems", err)
	}
	for _, p := range ve.Problems {
		if p.Field == field {
			return p.Message
		}
	}
	t.Fatalf("no problem at %s; got %+v", field, ve.Problems)
	return ""
}

func TestMinDurationIsValidated(t *testing.T) {
	const ro = "resources.db.roles.ro"
	tests := []struct {
		name, doc, field, inMessage string
	}{
		{"zero", oneRole("approvers: [U01]\nmin_duration: 0s"), ro + ".min_duration",
			"greater than zero"},
		{"not a duration", oneRole("approvers: [U01]\nmin_duration: soon"),
			ro + ".min_duration", "not a duration"},
		{"over the default", oneRole("approvers: [U01]\nmin_duration: 2h\nmax_duration: 4h\n" +
			"default_duration: 1h"),
			ro + ".min_duration", "minimum 2h is longer than default_duration 1h"},
		{"over the max", oneRole("approvers: [U01]\nmin_duration: 3h\nmax_duration: 2h\n" +
			"default_duration: 2h"), ro + ".min_duration", "longer than max_duration 2h"},
		{"built-in minimum over a short max", oneRole("approvers: [U01]\nmax_duration: 30s"),
			ro + ".min_duration", "built-in minimum 1m is longer than max_duration 30s"},
		{"clash wholly in the defaults", "defaults: {min_duration: 2h}\n" +
			oneRole("approvers: [U01]"), "defaults.min_duration", "longer than"},
		{"break-glass shorter than the minimum", oneRole("approvers: [U01]\n" +
			"min_duration: 10m\nbreak_glass: {enabled: true, max_duration: 5m, channel: C0S}"),
			ro + ".break_glass.max_duration", "shorter than the role's min_duration 10m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if msg := problemAt(t, tc.doc, tc.field); !strings.Contains(msg, tc.inMessage) {
				t.Errorf("problem %q lacks %q", msg, tc.inMessage)
			}
		})
	}
}

func TestDurationsAcceptDays(t *testing.T) {
	p := mustParse(t, "hard_cap: 2d\n"+oneRole("approvers: [U01]\nmax_duration: 1d12h\n"+
		"min_duration: 30s"))
	r, _ := p.Rules("db", "ro")
	if r.MaxDuration != 36*time.Hour || r.MinDuration != 30*time.Second {
		t.Errorf("max %v min %v, want 36h and 30s", r.MaxDuration, r.MinDuration)
	}
}

func TestShortRequestsAreRefused(t *testing.T) {
	p := mustParse(t, "defaults: {min_duration: 5m}\n"+oneRole("approvers: [U01]\n"+
		"max_duration: 4h\nbreak_glass: {enabled: true, channel: C0S}")+
		"      fast:\n        channel: C0X\n        approvers: [U01]\n")
	tests := []struct {
		name string
		in   Input
		want string // "" means no problem
	}{
		{"a nanosecond", Input{Role: "ro", Duration: time.Nanosecond},
			"1ns is shorter than the minimum of 5m"},
		{"just under", Input{Role: "ro", Duration: 4*time.Minute + 59*time.Second},
			"4m59s is shorter than the minimum of 5m"},
		{"break-glass too", Input{Role: "ro", Duration: time.Minute, BreakGlass: true},
			"1m is shorter than the minimum of 5m"},
		{"the minimum itself", Input{Role: "ro", Duration: 5 * time.Minute}, ""},
		{"the default", Input{Role: "ro"}, ""},
		{"inherited minimum", Input{Role: "fast", Duration: 30 * time.Second},
			"30s is shorter than the minimum of 5m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Resource = "db"
			got := p.Check(tc.in)
			if tc.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems %v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0] != (Problem{Field: "duration", Message: tc.want}) {
				t.Fatalf("problems %v, want duration: %s", got, tc.want)
			}
		})
	}
}

func TestApprovalsMustBeAWholeNumber(t *testing.T) {
	const at = "resources.db.roles.ro.approvals"
	for _, raw := range []string{"2.9", "2.0", `"2"`, "[2]", "{n: 2}"} {
		msg := problemAt(t, oneRole("approvers: [group:ops]\napprovals: "+raw), at)
		if !strings.Contains(msg, "whole number") {
			t.Errorf("approvals: %s: problem %q does not ask for a whole number", raw, msg)
		}
	}
	if msg := problemAt(t, "defaults: {approvals: 1.5}\n"+oneRole("approvers: [U01]"),
		"defaults.approvals"); !strings.Contains(msg, `not "1.5"`) {
		t.Errorf("defaults problem %q does not quote the value", msg)
	}
	p := mustParse(t, oneRole("approvers: [group:ops]\napprovals: 2"))
	if r, _ := p.Rules("db", "ro"); r.Approvals != 2 {
		t.Errorf("Approvals = %d, want 2", r.Approvals)
	}
	p = mustParse(t, oneRole("approvers: [group:ops]\napprovals:"))
	if r, _ := p.Rules("db", "ro"); r.Approvals != 1 {
		t.Errorf("empty approvals = %d, want the default 1", r.Approvals)
	}
}

func TestRequesterNobodyCouldApprove(t *testing.T) {
	const at = "resources.db.roles.ro.requesters"
	tests := []struct {
		name, body, want string
	}{
		{"sole approver is sole requester", "approvers: [U0ALICE]\nrequesters: [U0ALICE]",
			"U0ALICE could never be approved: the role needs 1 approval(s) from people " +
				"other than the requester, and its approvers are U0ALICE"},
		{"two of two, both requesting", "approvers: [U0A1, U0A2]\napprovals: 2\n" +
			"requesters: [U0A1, U0BOB, U0A2]", "U0A1, U0A2 could never be approved"},
		{"by email", "approvers: [ann@example.com]\nrequesters: [ANN@example.com]",
			"ANN@example.com could never be approved"},
		{"through a policy group", "approvers: [group:ops]\napprovals: 2\n" +
			"requesters: [group:ops]", "U0OPS1, U0OPS2 could never be approved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if msg := problemAt(t, oneRole(tc.body), at); !strings.Contains(msg, tc.want) {
				t.Errorf("problem %q lacks %q", msg, tc.want)
			}
		})
	}
}

func TestRequestersSomeoneCouldApprove(t *testing.T) {
	for name, body := range map[string]string{
		"another approver":   "approvers: [U0ALICE, U0BOB]\nrequesters: [U0ALICE]",
		"anyone may request": "approvers: [U0ALICE]",
		"a user group approves": "approvers: [S0OPS]\nrequesters: [U0ALICE]\n" +
			"approvals: 1",
		"a user group requests": "approvers: [U0ALICE]\nrequesters: [S0OPS]",
		"backups after escalation": "approvers: [U0ALICE]\nbackup_approvers: [U0BOB]\n" +
			"escalate_after: 30m\nrequesters: [U0ALICE]",
		"an auto-approval rule admits them": "approvers: [U0ALICE]\nrequesters: [U0ALICE]\n" +
			"auto_approve:\n- name: solo\n  requesters: [U0ALICE]\n  max_duration: 30m",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(oneRole(body))); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}
}
