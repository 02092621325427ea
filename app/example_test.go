package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
)

// TestExampleProvidersBuild checks that every provider the example
// configuration shows, the commented ones included, is accepted by its
// provider as written.
func TestExampleProvidersBuild(t *testing.T) {
	b, err := os.ReadFile("../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "  # pg-prod:")
	end := strings.Index(text, "# policy_file:")
	if start < 0 || end < start {
		t.Fatal("the example no longer shows the postgres and webhook providers")
	}
	var lines []string
	for _, l := range strings.Split(text[start:end], "\n") {
		lines = append(lines, strings.Replace(l, "# ", "", 1))
	}
	text = text[:start] + strings.Join(lines, "\n") + text[end:]
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "xapp-1-A0-1-example")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "xoxb-1-example")
	t.Setenv("JITBOT_PG_PROD_PASSWORD", "example")
	t.Setenv("JITBOT_WEBHOOK_SECRET", "example")

	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if problems := cfg.Check(builtin.Registry().Types()); len(problems) > 0 {
		t.Fatalf("example with every provider has problems: %v", problems)
	}
	ps, err := builtin.Registry().Build(app.ProviderConfigs(cfg), grants.Env{})
	if err != nil {
		t.Fatalf("example providers: %v", err)
	}
	for _, name := range []string{"shell", "pg-prod", "ticketing"} {
		if ps[name] == nil {
			t.Errorf("provider %s not built", name)
		}
	}
}
