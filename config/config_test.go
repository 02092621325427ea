package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var knownTypes = []string{"exec", "postgres", "webhook"}

// clearEnv keeps the developer's own JITBOT_ variables out of a test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "JITBOT_") {
			t.Setenv(name, "")
		}
	}
}

func mustLoad(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	return c
}

func TestExampleHasNoProblems(t *testing.T) {
	clearEnv(t)
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "xapp-1-A0EXAMPLE-1")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "xoxb-example")
	c := mustLoad(t, "../config.example.yaml")
	if problems := c.Check(knownTypes); len(problems) != 0 {
		t.Fatalf("Check(example) = %+v", problems)
	}
	if c.Policy == nil || len(c.Policy.Catalog()["prod-db"]) != 2 {
		t.Fatalf("example policy not loaded: %v", c.Policy)
	}
	if c.Providers["shell"].Type != "exec" {
		t.Errorf("providers = %+v", c.Providers)
	}
}

func TestValidTestdataHasNoProblems(t *testing.T) {
	clearEnv(t)
	c := mustLoad(t, "testdata/valid.yaml")
	if problems := c.Check(knownTypes); len(problems) != 0 {
		t.Fatalf("Check = %+v", problems)
	}
}

func TestInvalidConfigs(t *testing.T) {
	tests := map[string]string{
		"missing-app-token":      "slack.app_token",
		"malformed-bot-token":    "slack.bot_token",
		"unknown-provider-type":  "providers.shell.type",
		"unknown-provider-name":  "policy.resources.box.provider",
		"duration-over-cap":      "policy.resources.box.roles.root.max_duration",
		"unknown-group":          "policy.resources.box.roles.root.approvers[0]",
		"no-approver":            "policy.resources.box.roles.root.approvers",
		"too-few-approvers":      "policy.resources.box.roles.root.approvals",
		"unapprovable-requester": "policy.resources.box.roles.root.requesters",
		"fractional-approvals":   "policy.resources.box.roles.root.approvals",
		"min-over-default":       "policy.resources.box.roles.root.min_duration",
		"bad-reason-pattern":     "policy.resources.box.roles.root.reason.pattern",
		"break-glass-over-cap":   "policy.resources.box.roles.root.break_glass.max_duration",
		"bad-window-timezone": "policy.resources.box.roles.root.auto_approve[0]" +
			".window.timezone",
		"bad-timezone":   "digest.timezone",
		"bad-cron":       "digest.schedule",
		"bad-log-format": "log.format",
		"bad-api-url":    "slack.api_url",
		"bad-timer":      "timers.provider_timeout",
		"unknown-key":    "store.paht",
		"missing-policy": "policy",
	}
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests)+1 {
		t.Errorf("testdata has %d files, the table covers %d and valid.yaml",
			len(files), len(tests))
	}
	for name, field := range tests {
		t.Run(name, func(t *testing.T) {
			clearEnv(t)
			c := mustLoad(t, filepath.Join("testdata", name+".yaml"))
			problems := c.Check(knownTypes)
			if len(problems) != 1 || problems[0].Field != field {
				t.Fatalf("Check = %+v, want one problem at %s", problems, field)
			}
		})
	}
}

func TestTokenMessagesSayHowToFix(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		file, want string
	}{
		{"missing-app-token", "missing: set JITBOT_SLACK_APP_TOKEN or slack.app_token_file"},
		{"malformed-bot-token", "malformed: must start with xoxb-"},
	}
	for _, tc := range tests {
		problems := mustLoad(t, "testdata/"+tc.file+".yaml").Check(knownTypes)
		if len(problems) == 0 || !strings.Contains(problems[0].Message, tc.want) {
			t.Errorf("%s: problems %+v lack %q", tc.file, problems, tc.want)
		}
		for _, p := range problems {
			if strings.Contains(p.Message, "0000") {
				t.Errorf("%s: message repeats the token: %s", tc.file, p.Message)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	c := mustLoad(t, "testdata/valid.yaml")
	checks := []struct {
		name      string
		got, want any
	}{
		{"api url", c.Slack.APIURL, "https://slack.com/api/"},
		{"store path", c.Store.Path, "jitbot.db"},
		{"log", c.Log, Log{Format: "json", Level: "info"}},
		{"digest", c.Digest, Digest{Schedule: "0 9 * * 1", Timezone: "UTC", Enabled: true}},
		{"timers", c.Timers, Timers{5 * time.Second, 5 * time.Minute, 30 * time.Second,
			10 * time.Second}},
		{"audit", c.Audit.Sink, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	clearEnv(t)
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "xoxb-from-env")
	t.Setenv("JITBOT_STORE_PATH", "/tmp/other.db")
	t.Setenv("JITBOT_TIMERS_SLACK_TIMEOUT", "3s")
	t.Setenv("JITBOT_SLACK_API_URL", "http://127.0.0.1:9999/api")
	c := mustLoad(t, "testdata/valid.yaml")
	if c.Slack.BotToken.Reveal() != "xoxb-from-env" {
		t.Errorf("bot token not taken from the environment")
	}
	if c.Store.Path != "/tmp/other.db" || c.Timers.SlackTimeout != 3*time.Second {
		t.Errorf("store %q, slack timeout %s", c.Store.Path, c.Timers.SlackTimeout)
	}
	if c.Slack.APIURL != "http://127.0.0.1:9999/api/" {
		t.Errorf("api url = %q, want a trailing slash added", c.Slack.APIURL)
	}
}

func writeConfig(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTokenFilesAndPolicyFile(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	writeConfig(t, dir, "app", "xapp-1-from-file\n")
	writeConfig(t, dir, "bot", "xoxb-from-file\n")
	writeConfig(t, dir, "policy.yaml", "resources: {box: {provider: shell, "+
		"roles: {Root: {channel: C0OPS, approvers: [U0OPS]}}}}\n")
	path := writeConfig(t, dir, "jitbot.yaml", `
slack: {app_token_file: app, bot_token_file: bot}
providers: {shell: {type: exec}}
policy_file: policy.yaml
`)
	c := mustLoad(t, path)
	if problems := c.Check(knownTypes); len(problems) != 0 {
		t.Fatalf("Check = %+v", problems)
	}
	if c.Slack.AppToken.Reveal() != "xapp-1-from-file" {
		t.Errorf("app token not read from its file")
	}
	if c.PolicySource() != filepath.Join(dir, "policy.yaml") {
		t.Errorf("PolicySource() = %q", c.PolicySource())
	}
	if _, ok := c.Policy.Rules("box", "Root"); !ok {
		t.Errorf("role names lost their case: %v", c.Policy.Catalog())
	}
}

func TestTokenGivenTwice(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	writeConfig(t, dir, "bot", "xoxb-from-file\n")
	path := writeConfig(t, dir, "jitbot.yaml", `
slack: {app_token: xapp-1-x, bot_token_file: bot}
providers: {shell: {type: exec}}
policy: {resources: {box: {provider: shell, roles: {r: {channel: C1, approvers: [U01]}}}}}
`)
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "xoxb-env")
	problems := mustLoad(t, path).Check(knownTypes)
	if len(problems) != 1 || problems[0].Field != "slack.bot_token" {
		t.Fatalf("Check = %+v, want the bot token given twice", problems)
	}
}

func TestLoadPolicyRereadsInlineSection(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	doc := `
slack: {app_token: xapp-1-x, bot_token: xoxb-x}
providers: {shell: {type: exec}}
policy: {resources: {box: {provider: shell, roles: {r: {channel: C1, approvers: [U01]}}}}}
`
	path := writeConfig(t, dir, "jitbot.yaml", doc)
	c := mustLoad(t, path)
	writeConfig(t, dir, "jitbot.yaml", strings.Replace(doc, "{r:", "{rw:", 1))
	p, err := c.LoadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Rules("box", "rw"); !ok || p.Version() == c.Policy.Version() {
		t.Errorf("LoadPolicy did not read the new section: %v", p.Catalog())
	}
}

func TestConfigNeverPrintsTokens(t *testing.T) {
	clearEnv(t)
	c := mustLoad(t, "testdata/valid.yaml")
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		if out := fmt.Sprintf(verb, c.Slack); strings.Contains(out, "0000") {
			t.Errorf("%s of Slack settings shows a token: %s", verb, out)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}
