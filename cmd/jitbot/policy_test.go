package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// explainConfig is a configuration whose directory is the Slack emulator
// at the given Web API URL. Alice is matched by her email, which the
// command has to look up in Slack.
const explainConfig = `
slack:
  app_token: xapp-1-A0EXPLAIN-1-x
  bot_token: xoxb-1-explain
  api_url: %q
store:
  path: %q
providers:
  mem:
    type: exec
    settings:
      grant: [/bin/true]
      revoke: [/bin/true]
policy:
  groups:
    dba: [U0BOB, U0CAROL]
  resources:
    prod-db:
      provider: mem
      roles:
        readonly:
          channel: C0APPROVE
          approvers: [group:dba]
          max_duration: 4h
          auto_approve:
            - name: oncall
              requesters: [alice@example.com]
              max_duration: 2h
        admin:
          channel: C0APPROVE
          approvers: [U0BOB, U0CAROL, U0DAVE]
          approvals: 2
          requesters: [group:dba]
          max_duration: 1h
          reason: {min_length: 10, pattern: "INC-[0-9]+"}
          break_glass: {enabled: true, max_duration: 30m, channel: C0SEC}
`

// explainSetup starts the emulator and writes a configuration that uses it
// as the directory; it returns the configuration's path.
func explainSetup(t *testing.T) string {
	t.Helper()
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "")
	srv := slackfake.New(slackfake.Options{
		AppToken: "xapp-1-A0EXPLAIN-1-x",
		BotToken: "xoxb-1-explain",
		Users: []slackfake.User{
			{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"},
			{ID: "U0BOB", Name: "bob", Email: "bob@example.com"},
			{ID: "U0MAL", Name: "mallory", Email: "mallory@example.com"},
		},
	})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(explainConfig, srv.APIURL(), filepath.Join(dir, "jitbot.db"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPolicyExplain(t *testing.T) {
	config := explainSetup(t)
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{
			name: "approval by a group, default duration",
			args: []string{"--user", "U0MAL", "--resource", "prod-db", "--role", "readonly"},
			want: []string{"rule: resources.prod-db.roles.readonly", "allowed: yes",
				"duration: 1h (max 4h)", "approval: 1 of U0BOB, U0CAROL in C0APPROVE"},
			not: []string{"automatic"},
		},
		{
			name: "auto-approved for a requester found by email in Slack",
			args: []string{"--user", "U0ALICE", "--resource", "prod-db", "--role", "readonly",
				"--duration", "90m"},
			want: []string{"allowed: yes", "duration: 1h30m (max 4h)",
				"approval: automatic by rule oncall"},
		},
		{
			name: "longer than the auto-approval rule allows",
			args: []string{"--user", "U0ALICE", "--resource", "prod-db", "--role", "readonly",
				"--duration", "3h"},
			want: []string{"allowed: yes", "approval: 1 of U0BOB, U0CAROL"},
			not:  []string{"automatic"},
		},
		{
			name: "longer than the role allows",
			args: []string{"--user", "U0MAL", "--email", "mallory@example.com",
				"--resource", "prod-db", "--role", "readonly", "--duration", "9h"},
			want: []string{"rule: resources.prod-db.roles.readonly", "allowed: no",
				"duration: 9h is longer than the maximum of 4h"},
		},
		{
			name: "a day, written as Slack users write it",
			args: []string{"--user", "U0MAL", "--email", "mallory@example.com",
				"--resource", "prod-db", "--role", "readonly", "--duration", "1d"},
			want: []string{"allowed: no", "duration: 24h is longer than the maximum of 4h"},
		},
		{
			name: "not among the requesters",
			args: []string{"--user", "U0MAL", "--resource", "prod-db", "--role", "admin",
				"--reason", "INC-7 rotate the keys"},
			want: []string{"rule: resources.prod-db.roles.admin", "allowed: no",
				"not allowed to request prod-db/admin"},
		},
		{
			name: "two approvals and a reason that meets the rules",
			args: []string{"--user", "U0BOB", "--resource", "prod-db", "--role", "admin",
				"--reason", "INC-7 rotate the keys"},
			want: []string{"allowed: yes", "duration: 1h (max 1h)",
				"approval: 2 of U0BOB, U0CAROL, U0DAVE in C0APPROVE"},
		},
		{
			name: "a reason without the ticket",
			args: []string{"--user", "U0BOB", "--resource", "prod-db", "--role", "admin",
				"--reason", "rotate the keys"},
			want: []string{"allowed: no", "reason: must match INC-[0-9]+"},
		},
		{
			name: "break-glass is capped at its own maximum",
			args: []string{"--user", "U0BOB", "--resource", "prod-db", "--role", "admin",
				"--duration", "4h", "--break-glass", "--reason", "INC-8 primary is down"},
			want: []string{"(break-glass)", "allowed: yes", "duration: 30m (max 30m)",
				"approval: none, break-glass; security alert to C0SEC"},
		},
		{
			name: "an unknown resource",
			args: []string{"--user", "U0BOB", "--resource", "prod-dbx", "--role", "admin"},
			want: []string{"allowed: no", `unknown resource "prod-dbx"; known: prod-db`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"policy", "explain", "--config", config}, tc.args...)
			out, err := runCLI(t, args...)
			if err != nil {
				t.Fatalf("explain: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("output has %q:\n%s", n, out)
				}
			}
		})
	}
}

func TestPolicyExplainBadFlags(t *testing.T) {
	config := explainSetup(t)
	who := []string{"--resource", "prod-db", "--role", "readonly"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"duration without a unit", append([]string{"--user", "U0BOB", "--duration", "90"},
			who...), `--duration "90"`},
		{"negative duration", append([]string{"--user", "U0BOB", "--duration=-5m"}, who...),
			`--duration "-5m"`},
		{"no role", []string{"--user", "U0BOB", "--resource", "prod-db"}, "missing --role;"},
		{"no user nor resource", []string{"--role", "readonly"}, "missing --user, --resource;"},
		{"misspelt flag", append([]string{"--user", "U0BOB", "--resorce", "x"}, who...),
			"unknown flag: --resorce"},
		{"break-glass not a boolean", append([]string{"--user", "U0BOB",
			"--break-glass=maybe"}, who...), `"--break-glass"`},
		{"user unknown to Slack", append([]string{"--user", "U0GHOST"}, who...),
			"look up U0GHOST in Slack (or pass --email)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"policy", "explain", "--config", config}, tc.args...)
			out, err := runCLI(t, args...)
			if err == nil {
				t.Fatalf("explain accepted %v:\n%s", tc.args, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
			if strings.Contains(out, "allowed:") {
				t.Fatalf("explained despite the bad flag:\n%s", out)
			}
		})
	}
}
