package policy

import (
	"strings"
	"testing"
	"time"
)

func TestCheckNeedsNoDirectory(t *testing.T) {
	p, err := Parse([]byte(`
resources:
  db:
    provider: p
    roles:
      ro:
        channel: C1
        approvers: [U0APPR1, U0APPR2]
        max_duration: 1h
        reason: {min_length: 8, pattern: "INC-[0-9]+", hint: "an incident"}
        break_glass: {enabled: true, max_duration: 30m, channel: C0SEC}
      rw:
        channel: C1
        approvers: [U0APPR1]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    Input
		field string // "" means no problem
	}{
		{"fine", Input{Resource: "db", Role: "ro", Duration: time.Hour, Reason: "INC-1 broken"}, ""},
		{"unknown resource", Input{Resource: "nope", Role: "ro", Reason: "INC-1 broken"}, "resource"},
		{"unknown role", Input{Resource: "db", Role: "nope", Reason: "INC-1 broken"}, "role"},
		{"too long", Input{Resource: "db", Role: "ro", Duration: 2 * time.Hour,
			Reason: "INC-1 broken"}, "duration"},
		{"break-glass is capped, not refused", Input{Resource: "db", Role: "ro",
			Duration: 4 * time.Hour, Reason: "INC-1 broken", BreakGlass: true}, ""},
		{"no break-glass path", Input{Resource: "db", Role: "rw", Reason: "INC-1 broken",
			BreakGlass: true}, "break_glass"},
		{"reason too short", Input{Resource: "db", Role: "ro", Reason: "INC-1"}, "reason"},
		{"reason without pattern", Input{Resource: "db", Role: "ro",
			Reason: "database is broken"}, "reason"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := p.Check(tc.in)
			if tc.field == "" {
				if len(got) != 0 {
					t.Fatalf("problems %v, want none", got)
				}
				return
			}
			if len(got) == 0 || got[0].Field != tc.field {
				t.Fatalf("problems %v, want one for %s", got, tc.field)
			}
		})
	}
}

func TestCheckRefusesReasonsApproversCannotRead(t *testing.T) {
	p, err := Parse([]byte(`
resources:
  db:
    provider: p
    roles:
      ro:
        channel: C1
        approvers: [U0APPR1]
`))
	if err != nil {
		t.Fatal(err)
	}
	for name, reason := range map[string]string{
		"too long":           strings.Repeat("incident ", 200),
		"direction override": "fixing INC-1 \u202etxet neddih",
		"zero-width space":   "fixing\u200bINC-1 now",
	} {
		t.Run(name, func(t *testing.T) {
			got := p.Check(Input{Resource: "db", Role: "ro", Reason: reason})
			if len(got) == 0 || got[0].Field != "reason" {
				t.Fatalf("problems %v, want one for the reason", got)
			}
		})
	}
}
