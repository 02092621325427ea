package builtin_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
)

func TestRegistryBuildsEachType(t *testing.T) {
	reg := builtin.Registry()
	if got := strings.Join(reg.Types(), ","); got != "exec,postgres,webhook" {
		t.Errorf("Types() = %q, want exec,postgres,webhook", got)
	}

	cfgs := map[string]grants.Config{
		"scripts": {Type: "exec", Settings: map[string]any{
			"grant": []any{"true"}, "revoke": []any{"true"}}},
		"hook": {Type: "webhook", Settings: map[string]any{
			"url": "https://hooks.example.test/jit", "secret_env": "HOOK_SECRET"}},
	}
	env := grants.Env{Getenv: func(string) string { return "k" }}
	built, err := reg.Build(cfgs, env)
	if err != nil {
		t.Fatalf("Build() = %v", err)
	}
	if len(built) != 2 || built["scripts"] == nil || built["hook"] == nil {
		t.Errorf("Build() = %v, want scripts and hook", built)
	}
}
