package app_test

import (
	"strings"
	"testing"
	"time"
)

// resilienceConfig sends admin notices to the ops room, which the emulator
// knows, and break-glass alerts to a channel it does not.
var resilienceConfig = strings.NewReplacer(
	"admin_channel: C0ADMIN", "admin_channel: C0ROOM",
	"          max_duration: 4h\n",
	"          max_duration: 4h\n"+
		"          break_glass: {enabled: true, max_duration: 30m, channel: C0GONE}\n",
).Replace(e2eConfig)

func TestBreakGlassAlertFallsBackToTheAdminChannel(t *testing.T) {
	e := newE2EWith(t, resilienceConfig)
	e.slash(alice, "breakglass prod-db readonly 30m INC-9 database is down")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.wait("the alert in the admin channel", func() bool {
		for _, m := range e.srv.Messages(room) {
			text := readable(m.Text, m.Blocks)
			if strings.Contains(text, "Break-glass") && strings.Contains(text, "C0GONE") {
				return true
			}
		}
		return false
	})
}

func TestApprovalMessageIsPostedAgainAfterAFailure(t *testing.T) {
	e := newE2EWith(t, resilienceConfig)
	e.srv.FailNext("chat.postMessage", "internal_error", 1)
	e.slash(alice, "request prod-db readonly 1h INC-42 orders are failing")
	e.wait("alice told the post is pending", func() bool {
		for _, m := range e.srv.DMs(alice) {
			if strings.Contains(readable(m.Text, m.Blocks), "could not be posted yet") {
				return true
			}
		}
		return false
	})
	if n := len(e.srv.Messages(approval)); n != 0 {
		t.Fatalf("%d approval messages after a failed post", n)
	}
	e.clock.Advance(time.Minute)
	e.wait("the approval message on retry", func() bool {
		return len(e.srv.Messages(approval)) == 1
	})
	msg := e.srv.Messages(approval)[0]
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
}

func TestMissedUpdateIsMended(t *testing.T) {
	t.Run("by a retry", func(t *testing.T) {
		e := newE2EWith(t, resilienceConfig)
		msg := e.request("1h")
		e.wait("alice's confirmation", func() bool { return len(e.srv.DMs(alice)) > 0 })
		e.srv.FailNext("chat.update", "internal_error", 1)
		e.click(bob, msg, "jit_approve")
		e.wait("the grant", e.replyWith(msg, "Granted"))
		if !hasButtons(e.message(msg)) {
			t.Fatal("the update was meant to fail")
		}
		e.clock.Advance(time.Minute)
		e.wait("the outcome on the message", func() bool { return !hasButtons(e.message(msg)) })
	})
	t.Run("by the next click", func(t *testing.T) {
		e := newE2EWith(t, resilienceConfig)
		msg := e.request("1h")
		e.wait("alice's confirmation", func() bool { return len(e.srv.DMs(alice)) > 0 })
		e.srv.FailNext("chat.update", "internal_error", 1)
		e.click(bob, msg, "jit_approve")
		e.wait("the grant", e.replyWith(msg, "Granted"))
		e.click(carol, msg, "jit_deny")
		e.wait("carol told it was decided", e.ephemeralWith(carol, "already"))
		e.wait("the outcome on the message", func() bool { return !hasButtons(e.message(msg)) })
	})
}
