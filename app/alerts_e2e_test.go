package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// alertConfig is e2eConfig with the admin channel at C0ROOM, where the
// emulator has a channel, so posts to it can be read back.
var alertConfig = strings.Replace(e2eConfig, "admin_channel: C0ADMIN",
	"admin_channel: "+room, 1)

// alertLeak is what the failing grant program prints: backend output that
// must never reach Slack.
const alertLeak = "FATAL: password authentication failed for hunter2 at 10.9.8.7"

// alertFailingConfig has prod-db granted by a program that fails, printing
// alertLeak, so jitbot builds its real exec provider.
var alertFailingConfig = strings.NewReplacer(
	"  mem:\n    type: exec\n    settings:\n      grant: [/bin/true]\n",
	fmt.Sprintf("  shell:\n    type: exec\n    settings:\n"+
		"      grant: [/bin/sh, -c, %q]\n", "echo '"+alertLeak+"' >&2; exit 1"),
	"provider: mem", "provider: shell",
).Replace(alertConfig)

// alertMessages returns the top-level messages of channel that hold substr.
func alertMessages(e *e2e, channel, substr string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range e.srv.Messages(channel) {
		if strings.Contains(readable(m.Text, m.Blocks), substr) {
			out = append(out, m)
		}
	}
	return out
}

func alertPosted(e *e2e, channel, substr string) func() bool {
	return func() bool { return len(alertMessages(e, channel, substr)) > 0 }
}

// alertDMs returns alice's DMs that hold substr, as they stand now.
func alertDMs(e *e2e, substr string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range e.srv.DMs(alice) {
		if strings.Contains(readable(m.Text, m.Blocks), substr) {
			out = append(out, m)
		}
	}
	return out
}

func TestGrantFailureIsPostedToTheAdminChannel(t *testing.T) {
	if strings.Contains(alertFailingConfig, "provider: mem") {
		t.Fatal("the test configuration no longer names provider mem")
	}
	e := newE2EWith(t, alertFailingConfig)
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")

	// The failure goes to the approval thread, or to its channel when the
	// click came before the approval message's place was stored.
	inThread := e.replyWith(msg, "failed")
	e.wait("the failure for the approvers", func() bool {
		return inThread() || len(alertMessages(e, approval, "failed")) > 0
	})
	e.wait("the failure in the admin channel", alertPosted(e, room, "Granting"))
	e.wait("alice told who knows", func() bool {
		return len(alertDMs(e, "operators have been told")) == 1
	})
	alert := alertMessages(e, room, "Granting")[0]
	text := readable(alert.Text, alert.Blocks)
	if alert.ThreadTS != "" || !strings.Contains(text, "<@"+alice+">") ||
		!strings.Contains(text, "prod-db / readonly") || !strings.Contains(text, "`g_") {
		t.Fatalf("admin alert does not say whose grant of what failed: %s", text)
	}
	if !strings.Contains(text, "see the jitbot log") {
		t.Fatalf("admin alert does not point at the log: %s", text)
	}

	for _, c := range e.srv.Calls() {
		for _, v := range c.Params {
			if strings.Contains(v, "hunter2") || strings.Contains(v, "10.9.8.7") {
				t.Fatalf("%s carried the provider's output: %s", c.Method, v)
			}
		}
	}
	logs := e.logs.String()
	if strings.Contains(logs, "grant grant") || !strings.Contains(logs, "grant g_") ||
		!strings.Contains(logs, " on shell: ") {
		t.Fatalf("the log does not name the failed call plainly:\n%s", logs)
	}
}

func TestRecoveredRevokeResolvesItsAlert(t *testing.T) {
	e := newE2EWith(t, alertConfig)
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })

	e.mem.failRevokes(errors.New("connection refused"))
	e.clock.Advance(time.Hour)
	for _, ch := range []string{approval, room} {
		e.wait("the alert in "+ch, alertPosted(e, ch, "may still be held"))
		if n := len(alertMessages(e, ch, "resolved")); n != 0 {
			t.Fatalf("%d resolutions in %s before the revoke took", n, ch)
		}
	}

	e.mem.failRevokes(nil)
	e.clock.Advance(time.Minute) // the first retry is due within RetryMin
	e.wait("the revocation", func() bool { return !e.mem.holds("alice/app_readonly") })
	want := "was revoked after 2 attempts; the earlier alert is resolved"
	for _, ch := range []string{approval, room} {
		e.wait("the resolution in "+ch, alertPosted(e, ch, want))
		m := alertMessages(e, ch, want)[0]
		if text := readable(m.Text, m.Blocks); !strings.Contains(text, "<@"+alice+">") ||
			!strings.Contains(text, "`g_") {
			t.Fatalf("resolution in %s does not name the grant and holder: %s", ch, text)
		}
	}
}

func TestRevokeThatNeverFailedResolvesNothing(t *testing.T) {
	e := newE2EWith(t, alertConfig)
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.clock.Advance(time.Hour)
	e.wait("the revocation", func() bool { return !e.mem.holds("alice/app_readonly") })
	e.stop() // waits for the revoke's notices
	for _, ch := range []string{approval, room} {
		if n := len(alertMessages(e, ch, "resolved")); n != 0 {
			t.Fatalf("%d resolutions in %s of an alert never raised", n, ch)
		}
	}
}

func TestTwoApprovalsAreBothNamed(t *testing.T) {
	two := strings.Replace(alertConfig, "max_duration: 4h", "max_duration: 4h\n"+
		"          approvals: 2", 1)
	e := newE2EWith(t, two)
	msg := e.request("1h")
	e.click(carol, msg, "jit_approve")
	e.wait("the first approval counted", func() bool {
		return strings.Contains(readable(e.message(msg).Text, e.message(msg).Blocks),
			"1 of 2 approvals")
	})
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	want := "Approved by <@" + carol + "> and <@" + bob + ">"
	e.wait("both approvers named", func() bool {
		m := e.message(msg)
		return !hasButtons(m) && strings.Contains(readable(m.Text, m.Blocks), want)
	})
}

// alertWarned has alice hold readonly for an hour and returns the expiry
// warning DM that arrives ten minutes before the end.
func alertWarned(e *e2e) slackfake.Message {
	e.t.Helper()
	request := e.request("1h")
	e.click(bob, request, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.clock.Advance(50 * time.Minute)
	e.wait("the expiry warning", func() bool { return len(alertDMs(e, `"jit_release"`)) == 1 })
	warning := alertDMs(e, `"jit_release"`)[0]
	if !strings.Contains(readable(warning.Text, warning.Blocks), `"jit_extend"`) {
		e.t.Fatalf("warning lacks its Extend button: %s", warning.Blocks)
	}
	return warning
}

// alertButtonsGone waits until the warning is rewritten without buttons
// and saying want.
func alertButtonsGone(e *e2e, warning slackfake.Message, want string) {
	e.t.Helper()
	e.wait("the warning without buttons", func() bool {
		m := e.message(warning)
		text := readable(m.Text, m.Blocks)
		return m.Updated > 0 && !strings.Contains(text, `"jit_release"`) &&
			!strings.Contains(text, `"jit_extend"`) && strings.Contains(text, want)
	})
}

func TestExpiryWarningLosesItsButtonsWhenTheGrantEnds(t *testing.T) {
	t.Run("released from the warning", func(t *testing.T) {
		e := newE2EWith(t, alertConfig)
		warning := alertWarned(e)
		e.click(alice, warning, "jit_release")
		alertButtonsGone(e, warning, "This access has ended (released by <@"+alice+">)")
	})
	t.Run("expired while jitbot was down", func(t *testing.T) {
		e := newE2EWith(t, alertConfig)
		warning := alertWarned(e)
		e.stop()
		e.clock.Advance(time.Hour)
		e.start()
		alertButtonsGone(e, warning, "This access has ended (expired)")
		if e.mem.holds("alice/app_readonly") {
			t.Fatal("access held after the overdue revoke")
		}
	})
}
