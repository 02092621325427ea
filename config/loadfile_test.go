package config

import (
	"testing"
	"time"
)

// TestLoadFileIgnoresTheEnvironment sets every kind of override Load would
// take and checks LoadFile reads the file alone, while Load still obeys.
func TestLoadFileIgnoresTheEnvironment(t *testing.T) {
	clearEnv(t)
	env := map[string]string{
		"JITBOT_SLACK_APP_TOKEN":      "xapp-1-A0ENV-1",
		"JITBOT_SLACK_BOT_TOKEN":      "xoxb-from-env",
		"JITBOT_SLACK_API_URL":        "http://127.0.0.1:9/api/",
		"JITBOT_STORE_PATH":           "/tmp/other.db",
		"JITBOT_AUDIT_SINK":           "-",
		"JITBOT_POLICY_FILE":          "other-policy.yaml",
		"JITBOT_DIGEST_ENABLED":       "false",
		"JITBOT_TIMERS_SLACK_TIMEOUT": "3s",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}

	c, err := LoadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	if problems := c.Check(knownTypes); len(problems) > 0 {
		t.Errorf("LoadFile found problems: %v", problems)
	}
	got := map[string]string{
		"app token":     c.Slack.AppToken.Reveal(),
		"bot token":     c.Slack.BotToken.Reveal(),
		"api url":       c.Slack.APIURL,
		"store":         c.Store.Path,
		"audit sink":    c.Audit.Sink,
		"policy file":   c.PolicyFile,
		"digest":        map[bool]string{true: "on", false: "off"}[c.Digest.Enabled],
		"slack timeout": c.Timers.SlackTimeout.String(),
	}
	want := map[string]string{
		"app token":     "xapp-1-A0TEST-0000",
		"bot token":     "xoxb-0000-test",
		"api url":       "https://slack.com/api/",
		"store":         "jitbot.db",
		"audit sink":    "",
		"policy file":   "",
		"digest":        "on",
		"slack timeout": (10 * time.Second).String(),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("LoadFile %s = %q, want the file's or default %q", k, got[k], w)
		}
	}

	if c := mustLoad(t, "testdata/valid.yaml"); c.Store.Path != "/tmp/other.db" {
		t.Errorf("Load store = %q, want the environment's override", c.Store.Path)
	}
}
