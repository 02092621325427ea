package bot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureDir holds Slack's own published payloads.
var fixtureDir = filepath.Join("..", "..", "shared", "slack-fixtures")

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		// CI lays the fixtures beside the project; missing there is a failure.
		if os.Getenv("CI") != "" {
			t.Fatalf("fixture %s: %v", name, err)
		}
		t.Skipf("fixture %s not available: %v", name, err)
	}
	return b
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name string
		text string
		want command
	}{
		{"empty is help", "", command{Sub: cmdHelp}},
		{"help", "help", command{Sub: cmdHelp}},
		{"list with spaces", "   list  ", command{Sub: cmdList}},
		{"bare request opens modal", "request", command{Sub: cmdRequest, Modal: true}},
		{"inline request", "request db ro 90m fix the index",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: 90 * time.Minute,
				Reason: "fix the index"}},
		{"extra spaces and tabs", "request   db \t ro   2h   look   at  it",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: 2 * time.Hour,
				Reason: "look at it"}},
		{"upper-case sub-command", "REQUEST db ro 1h x",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: time.Hour, Reason: "x"}},
		{"smart quotes around reason", "request db ro 1h “INC-42: restore backup”",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: time.Hour,
				Reason: "INC-42: restore backup"}},
		{"plain quotes around words", `request "db" 'ro' "30m" "why not"`,
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: 30 * time.Minute,
				Reason: "why not"}},
		{"smart single quotes", "request ‘db’ ‘ro’ 1h ok",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: time.Hour, Reason: "ok"}},
		{"days", "breakglass db admin 1d outage",
			command{Sub: cmdBreakGlass, Resource: "db", Role: "admin", Duration: 24 * time.Hour,
				Reason: "outage"}},
		{"days and hours", "request db ro 1d2h x",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: 26 * time.Hour,
				Reason: "x"}},
		{"escaped entities", "request db ro 1h a &lt;b&gt; &amp; c",
			command{Sub: cmdRequest, Resource: "db", Role: "ro", Duration: time.Hour,
				Reason: "a <b> & c"}},
		{"revoke", "revoke g_123", command{Sub: cmdRevoke, ID: "g_123"}},
		{"cancel quoted id", "cancel “r_9”", command{Sub: cmdCancel, ID: "r_9"}},
		{"ack", "ack g_1", command{Sub: cmdAck, ID: "g_1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCommand(tt.text)
			if err != nil {
				t.Fatalf("parseCommand(%q): %v", tt.text, err)
			}
			if got != tt.want {
				t.Errorf("parseCommand(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseCommandRejects(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		sub     string
		problem string
	}{
		{"unknown sub-command", "grant db ro 1h x", "", `Unknown sub-command "grant"`},
		{"missing role", "request db", cmdRequest, "Missing role"},
		{"missing duration", "request db ro", cmdRequest, "Missing duration"},
		{"missing reason", "breakglass db ro 1h", cmdBreakGlass, "Missing reason"},
		{"duration without unit", "request db ro 90 because", cmdRequest,
			"use a unit, e.g. 90m"},
		{"unreadable duration", "request db ro soon because", cmdRequest,
			"Cannot read duration"},
		{"zero duration", "request db ro 0m because", cmdRequest, "more than zero"},
		{"negative duration", "request db ro -1h because", cmdRequest, "more than zero"},
		{"revoke without id", "revoke", cmdRevoke, "Missing grant id"},
		{"cancel without id", "cancel  ", cmdCancel, "Missing request id"},
		{"two ids", "ack g1 g2", cmdAck, "exactly one grant id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCommand(tt.text)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseCommand(%q) error = %v, want a usage error", tt.text, err)
			}
			if ue.Sub != tt.sub || !strings.Contains(ue.Problem, tt.problem) {
				t.Errorf("got sub %q problem %q, want sub %q problem containing %q",
					ue.Sub, ue.Problem, tt.sub, tt.problem)
			}
		})
	}
}

// TestUnescapeSlackFixture reads the escaping examples from Slack's docs:
// with escaping on and off, a reason reads the same to a person.
func TestUnescapeSlackFixture(t *testing.T) {
	raw := string(readFixture(t, "slash-command-text-escaping.docs-excerpt.txt"))
	var on, off string
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		switch {
		case strings.Contains(l, "escaping\" ON") || strings.Contains(l, "ON:"):
			on = lines[i+1]
		case strings.Contains(l, "escaping OFF"):
			off = lines[i+1]
		}
	}
	if on == "" || off == "" {
		t.Fatalf("fixture has changed shape:\n%s", raw)
	}

	tests := []struct {
		name, in, want string
	}{
		{"escaping on", on, "ask @U012ABCDEF to bake a birthday cake for @U345GHIJKL in #C012ABCDE"},
		{"escaping off", off, off},
		{"labelled refs", "<@U1|ana> in <#C1|ops> see <https://x.test/a|runbook>",
			"@ana in #ops see runbook"},
		{"special mention", "<!here> and <!subteam^S1|@oncall>", "@here and @oncall"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unescapeSlack(tt.in); got != tt.want {
				t.Errorf("unescapeSlack(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}

	cmd, err := parseCommand("request db ro 1h " + on)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(cmd.Reason, "<>") {
		t.Errorf("reason keeps Slack markup: %q", cmd.Reason)
	}
}
