package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// writeConfig writes text as a configuration file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noSlackTokens clears the token overrides a developer may have set.
func noSlackTokens(t *testing.T) {
	t.Helper()
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "")
}

func TestOperatorCommandsRefuseAMissingStore(t *testing.T) {
	dir := t.TempDir()
	for _, missing := range []string{
		filepath.Join(dir, "typo.db"),
		filepath.Join(dir, "no-such-dir", "jitbot.db"),
	} {
		config := writeConfig(t, fmt.Sprintf(opsConfig, missing))
		for _, args := range [][]string{
			{"audit", "verify"}, {"audit", "export"}, {"review"},
			{"grants", "list"}, {"grants", "reconcile"},
		} {
			t.Run(filepath.Base(filepath.Dir(missing))+"/"+strings.Join(args, " "),
				func(t *testing.T) {
					out, _, err := cli(t, append([]string{"--config", config}, args...)...)
					want := "store " + missing + " does not exist: " +
						"check store.path (or JITBOT_STORE_PATH)"
					if err == nil || err.Error() != want {
						t.Fatalf("err = %v, want %q; printed:\n%s", err, want, out)
					}
					if _, err := os.Stat(missing); !os.IsNotExist(err) {
						t.Fatalf("the command created %s (%v)", missing, err)
					}
				})
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the commands left %d file(s) behind in the store's directory", len(entries))
	}

	_, _, err := cli(t, "review", "--store", filepath.Join(dir, "sample.db"))
	if err == nil || !strings.Contains(err.Error(), "does not exist: check --store") {
		t.Fatalf("review --store of a missing file: %v", err)
	}
}

func TestOperatorCommandsNameTheLockHolder(t *testing.T) {
	g := generate(t, 1)
	db, err := store.Open(g.store, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, _, err = cli(t, "--config", g.config, "audit", "verify")
	want := "store " + g.store + " is locked: another jitbot"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("verify while the store is held: %v, want %q…", err, want)
	}
}

func TestAuditExportRange(t *testing.T) {
	g := generate(t, 7)
	out, stderr, err := cli(t, "--config", g.config, "audit", "export", "--to", g.to)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != g.events || !strings.Contains(stderr, "exported "+strconv.Itoa(g.events)) {
		t.Fatalf("export --to %s alone wrote %d of %d events (said %q)",
			g.to, len(lines), g.events, stderr)
	}

	out, _, err = cli(t, "--config", g.config, "audit", "export", "--to", g.from)
	if err != nil || out != "" {
		t.Fatalf("export --to the first day: %v\n%.300s", err, out)
	}

	for _, args := range [][]string{
		{"audit", "export", "--from", g.to, "--to", g.from},
		{"audit", "export", "--from", g.from, "--to", g.from},
		{"review", "--from", g.to, "--to", g.from},
	} {
		out, _, err := cli(t, append([]string{"--config", g.config}, args...)...)
		if err == nil || !strings.HasPrefix(err.Error(), "--from ") ||
			!strings.Contains(err.Error(), " is not before --to ") {
			t.Fatalf("%v accepted an empty period: %v\n%.300s", args, err, out)
		}
	}
}

// providersConfig has a provider of each type, each with a mistake that
// only its constructor finds.
const providersConfig = `
slack:
  app_token: xapp-1-A0TEST-1-cli
  bot_token: xoxb-1-cli
store:
  path: %q
providers:
  shell:
    type: exec
    settings: {grant: [/bin/true], revoke: [/bin/true], timout: 20s}
  hook:
    type: webhook
    settings: {url: "https://127.0.0.1:1/jit", secret_env: JITBOT_TEST_HOOK_SECRET}
  slow-hook:
    type: webhook
    settings: {url: "https://127.0.0.1:1/jit", secret_file: /dev/null, timeout: ten}
  pg:
    type: postgres
    settings: {dsn: "postgres://jitbot:hunter2@127.0.0.1:1/app"}
policy:
  resources:
    prod-db:
      provider: shell
      roles:
        readonly:
          channel: C0OPS
          approvers: [U0BOB]
`

func TestCheckConfigBuildsProviders(t *testing.T) {
	noSlackTokens(t)
	t.Setenv("JITBOT_TEST_HOOK_SECRET", "")
	config := writeConfig(t, fmt.Sprintf(providersConfig, filepath.Join(t.TempDir(), "x.db")))
	want := []string{
		"has 4 problem(s)",
		"providers.hook: secret_env: environment variable JITBOT_TEST_HOOK_SECRET is empty",
		`providers.slow-hook: timeout: invalid duration "ten"`,
		"providers.pg: dsn: must not contain a password",
		"providers.shell: unknown setting", "timout",
	}
	for _, cmd := range []string{"check-config", "run"} {
		t.Run(cmd, func(t *testing.T) {
			out, err := runCLI(t, cmd, "--config", config)
			if err == nil {
				t.Fatalf("%s accepted the providers:\n%s", cmd, out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("output repeats the password:\n%s", out)
			}
		})
	}

	secret := filepath.Join(t.TempDir(), "hook-secret")
	if err := os.WriteFile(secret, []byte("k\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixed := strings.NewReplacer(", timout: 20s", "", "ten", "10s", "/dev/null", secret,
		"jitbot:hunter2@", "jitbot@").Replace(providersConfig)
	t.Setenv("JITBOT_TEST_HOOK_SECRET", "k")
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "xapp-1-A0-1-x")
	out, err := runCLI(t, "check-config", "--config",
		writeConfig(t, fmt.Sprintf(fixed, filepath.Join(t.TempDir(), "x.db"))))
	if err != nil || !strings.Contains(out, "is valid: 4 provider(s)") {
		t.Fatalf("check-config of the fixed providers: %v\n%s", err, out)
	}
}

// tokenless is opsConfig without Slack tokens, with a Slack user group
// among the requesters of one role.
const tokenless = `
store:
  path: %q
providers:
  shell:
    type: exec
    settings: {grant: [/bin/true], revoke: [/bin/true]}
policy:
  resources:
    prod-db:
      provider: shell
      roles:
        readonly:
          channel: C0OPS
          approvers: [U0BOB]
          requesters: [alice@example.com]
        admin:
          channel: C0OPS
          approvers: [U0BOB, S0DBA]
          requesters: [S0DBA]
`

func TestOperatorCommandsNeedNoSlackTokens(t *testing.T) {
	noSlackTokens(t)
	g := generate(t, 2)
	config := writeConfig(t, fmt.Sprintf(tokenless, g.store))
	offline := [][]string{
		{"audit", "verify"}, {"audit", "export"}, {"review"}, {"grants", "list"},
		{"grants", "reconcile"},
		{"policy", "explain", "--user", "U0ALICE", "--email", "alice@example.com",
			"--resource", "prod-db", "--role", "readonly"},
	}
	for _, args := range offline {
		t.Run(strings.Join(args[:min(2, len(args))], " "), func(t *testing.T) {
			out, stderr, err := cli(t, append([]string{"--config", config}, args...)...)
			if err != nil {
				t.Fatalf("%v without Slack tokens: %v\n%s%s", args, err, out, stderr)
			}
		})
	}

	out, _, err := cli(t, "--config", config, "policy", "explain", "--user", "U0ALICE",
		"--email", "alice@example.com", "--resource", "prod-db", "--role", "readonly")
	if err != nil || !strings.Contains(out, "allowed: yes") {
		t.Fatalf("explain with --email: %v\n%s", err, out)
	}

	_, _, err = cli(t, "--config", config, "policy", "explain", "--user", "U0ALICE",
		"--email", "alice@example.com", "--resource", "prod-db", "--role", "admin")
	want := "this policy names Slack user groups; set the bot token"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("explain of a role open to a Slack user group: %v", err)
	}

	for _, args := range [][]string{
		{"check-config"}, {"run"},
		{"policy", "explain", "--user", "U0ALICE", "--resource", "prod-db", "--role", "readonly"},
	} {
		out, stderr, err := cli(t, append([]string{"--config", config}, args...)...)
		if err == nil || !strings.Contains(out+stderr, "slack.bot_token: missing") {
			t.Fatalf("%v without tokens: %v\n%s%s", args, err, out, stderr)
		}
	}
}

func TestReviewGenerateEndsToday(t *testing.T) {
	t.Chdir(t.TempDir()) // no config.yaml here
	for _, days := range []string{"0", "-5"} {
		path := filepath.Join(t.TempDir(), "sample.db")
		_, _, err := cli(t, "review", "generate", "--store", path, "--days", days)
		if err == nil || !strings.Contains(err.Error(), "--days "+days) {
			t.Fatalf("generate --days %s: %v", days, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("generate --days %s created the store", days)
		}
	}

	before := time.Now().UTC()
	g := generate(t, 7)
	after := time.Now().UTC()
	if g.to != before.Format("2006-01-02") && g.to != after.Format("2006-01-02") {
		t.Fatalf("the sample ends %s, not today", g.to)
	}
	if want := before.AddDate(0, 0, -7).Format("2006-01-02"); g.from != want &&
		g.from != after.AddDate(0, 0, -7).Format("2006-01-02") {
		t.Fatalf("the sample starts %s, want %s", g.from, want)
	}

	// review --store reads the file without a configuration, over the
	// default period: the last 90 days.
	var rep struct {
		Totals struct {
			Requests int `json:"requests"`
		} `json:"totals"`
		WithoutPolicy bool `json:"without_policy"`
	}
	out, _, err := cli(t, "review", "--store", g.store, "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Requests == 0 || !rep.WithoutPolicy {
		t.Fatalf("review --store of the sample: %d requests, without policy %v",
			rep.Totals.Requests, rep.WithoutPolicy)
	}
	md, _, err := cli(t, "review", "--store", g.store)
	if err != nil || !strings.Contains(md, "Made without the policy") {
		t.Fatalf("markdown review without a policy: %v\n%.400s", err, md)
	}

	// With a configuration the policy takes part; naming a missing one fails.
	md, _, err = cli(t, "--config", g.config, "review", "--store", g.store)
	if err != nil || strings.Contains(md, "without the policy") ||
		!strings.Contains(md, "Roles nobody requested") {
		t.Fatalf("review --store with --config left the policy out: %v\n%.400s", err, md)
	}
	_, _, err = cli(t, "--config", "missing.yaml", "review", "--store", g.store)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("review with a named config that does not exist: %v", err)
	}
}
