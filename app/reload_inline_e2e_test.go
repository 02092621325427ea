package app_test

import (
	"os"
	"strings"
	"testing"
)

// TestInlinePolicyIsReloaded edits the policy section of the configuration
// file itself, as config.example.yaml keeps it, while jitbot runs: the new
// limit applies to the next request without a restart.
func TestInlinePolicyIsReloaded(t *testing.T) {
	e := newE2EWith(t, strings.Replace(e2eConfig, "admin_channel: C0ADMIN",
		"admin_channel: C0ROOM", 1))
	path := e.cfg.PolicySource()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tighter := strings.Replace(string(b), "max_duration: 4h", "max_duration: 2h", 1)
	if tighter == string(b) {
		t.Fatal("the test configuration no longer sets max_duration: 4h")
	}
	if err := os.WriteFile(path, []byte(tighter), 0o600); err != nil {
		t.Fatal(err)
	}
	e.wait("the admin channel told of the new policy", func() bool {
		for _, m := range e.srv.Messages(room) {
			if strings.Contains(readable(m.Text, m.Blocks), "is now in force") {
				return true
			}
		}
		return false
	})

	e.slash(alice, "request prod-db readonly 3h INC-42 orders are failing")
	e.wait("the refusal under the new limit", e.ephemeralWith(alice, "maximum of 2h"))
	if n := len(e.srv.Messages(approval)); n != 0 {
		t.Fatalf("%d approval messages for a request over the new limit", n)
	}
}
