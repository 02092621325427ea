package app_test

import (
	"strings"
	"testing"
	"time"
)

// TestLogsKeepSecretsAndUserTextOut runs a request through its whole life
// and checks that the log, read at debug level, never carries a token or
// what a person typed, while it does carry the ids an operator needs.
func TestLogsKeepSecretsAndUserTextOut(t *testing.T) {
	e := newE2E(t)
	e.slash(alice, "request prod-db readonly 1h INC-42 secret-sauce-7 in the reason")
	e.wait("alice's confirmation", func() bool { return len(e.srv.DMs(alice)) > 0 })
	msg := e.srv.Messages(approval)[0]
	e.slash(alice, "request prod-db readonly 1h mistyped-reason-9")
	e.wait("an answer to the bad request", func() bool { return len(e.srv.Ephemerals(alice)) > 1 })
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.clock.Advance(time.Hour)
	e.wait("the revocation", e.replyWith(msg, "revoked"))
	e.stop()

	logs := e.logs.String()
	for _, secret := range []string{appToken, botToken, "secret-sauce-7", "mistyped-reason-9"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log carries %q", secret)
		}
	}
	for _, field := range []string{`"request_id":"r_`, `"grant_id":"g_`, `"user":"U0ALICE"`,
		`"approver":"U0BOB"`, `"message":"grant revoked"`} {
		if !strings.Contains(logs, field) {
			t.Errorf("log lacks %s", field)
		}
	}
}
