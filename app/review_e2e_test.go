package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// reviewConfig is e2eConfig with carol as the only admin and ops as the
// review channel.
var reviewConfig = strings.NewReplacer(
	"admins: [U0ADMIN]", "admins: [U0CAROL]",
	"  admin_channel: C0ADMIN\n", "  admin_channel: C0ADMIN\n  review_channel: C0ROOM\n",
).Replace(e2eConfig)

// seedDecisions has alice ask twice: bob approves the first request and
// carol denies the second. It returns the approved request's message.
func (e *e2e) seedDecisions() slackfake.Message {
	e.t.Helper()
	approved := e.submitted(1)
	e.click(bob, approved, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	denied := e.submitted(2)
	e.click(carol, denied, "jit_deny")
	e.wait("the denial", func() bool {
		return strings.Contains(string(e.message(denied).Blocks), "Denied")
	})
	// Reviews cover the time before now; let a minute pass.
	e.clock.Advance(time.Minute)
	return approved
}

// submitted has alice ask for readonly for an hour, waits until she is
// told her n-th request was submitted, as a person would before anyone
// acts on it, and returns the approval message.
func (e *e2e) submitted(n int) slackfake.Message {
	e.t.Helper()
	msg := e.request("1h")
	e.wait("alice told her request was submitted", func() bool {
		seen := 0
		for _, m := range e.srv.Ephemerals(alice) {
			if strings.Contains(m.Text, "submitted") {
				seen++
			}
		}
		return seen >= n
	})
	return msg
}

// reviewPosted waits for the review summary in channel and the report in
// its thread, and returns both.
func (e *e2e) reviewPosted(channel string) (slackfake.Message, slackfake.File) {
	e.t.Helper()
	var summary slackfake.Message
	var report slackfake.File
	e.wait("the review and its report", func() bool {
		for _, m := range e.srv.Messages(channel) {
			if !strings.Contains(m.Text, "Access review") {
				continue
			}
			for _, f := range e.srv.Files(channel) {
				if f.ThreadTS == m.TS {
					summary, report = m, f
					return true
				}
			}
		}
		return false
	})
	return summary, report
}

func TestReviewCommandPostsSummaryAndReport(t *testing.T) {
	e := newE2EWith(t, reviewConfig)
	e.seedDecisions()

	e.slash(carol, "review")
	summary, report := e.reviewPosted(room)

	for _, want := range []string{"2 requests: 1 approved, 1 denied", "<@" + carol + ">"} {
		if !strings.Contains(summary.Text, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary.Text)
		}
	}
	md := string(report.Content)
	for _, want := range []string{"# Access review", "| Requests | 2 |", "| Denied | 1 |",
		"| Grants active at end | 1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if !strings.HasSuffix(report.Name, ".md") || report.Title == "" {
		t.Errorf("report file named %q titled %q", report.Name, report.Title)
	}
	if n := len(e.srv.CallsTo("files.getUploadURLExternal")); n != 1 || len(e.srv.Files(room)) != 1 {
		t.Fatalf("%d uploads started and %d files shared, want 1 each", n, len(e.srv.Files(room)))
	}
}

func TestReviewCommandRefusesNonAdmins(t *testing.T) {
	e := newE2EWith(t, reviewConfig)
	e.seedDecisions()
	before := len(e.srv.Messages(room))

	for _, user := range []string{mallory, bob, alice} {
		e.slash(user, "review")
		e.wait(user+"'s refusal", e.ephemeralWith(user, "Only jitbot admins"))
	}
	if n := len(e.srv.Messages(room)) - before; n != 0 {
		t.Fatalf("%d messages posted for refused reviews", n)
	}
	if n := len(e.srv.CallsTo("files.getUploadURLExternal")); n != 0 {
		t.Fatalf("%d uploads started for refused reviews", n)
	}
}

func TestReviewCommandFallsBackToReviewChannel(t *testing.T) {
	e := newE2EWith(t, reviewConfig)
	// The bot is not in C0SECRET, so the review goes to the review channel
	// and carol is told where, by DM since she cannot see an ephemeral there.
	if _, err := e.srv.SlashCommand(context.Background(), carol, "C0SECRET", "/jit",
		"review"); err != nil {
		t.Fatal(err)
	}
	summary, _ := e.reviewPosted(room)
	if !strings.Contains(summary.Text, "0 requests") {
		t.Fatalf("summary of an empty trail:\n%s", summary.Text)
	}
	e.wait("carol told where the review went", func() bool {
		for _, m := range e.srv.DMs(carol) {
			if strings.Contains(m.Text, "<#"+room+">") {
				return true
			}
		}
		return false
	})
}

// TestReviewReportKeepsProviderOutputOutOfSlack has a revoke fail with
// backend output in its error; the review uploaded to Slack names the
// failure but not what the backend said.
func TestReviewReportKeepsProviderOutputOutOfSlack(t *testing.T) {
	e := newE2EWith(t, reviewConfig)
	e.seedDecisions()
	e.mem.failRevokes(errors.New("FATAL: pg_hba.conf rejects host 10.1.2.3 user jitbot"))
	e.clock.Advance(time.Hour)
	e.wait("the failed revoke announced", func() bool {
		for _, m := range e.srv.Messages(approval) {
			if strings.Contains(m.Text, "failed") {
				return true
			}
		}
		return false
	})
	e.clock.Advance(time.Minute)

	e.slash(carol, "review")
	_, report := e.reviewPosted(room)
	md := string(report.Content)
	if !strings.Contains(md, "attempt") {
		t.Fatalf("report does not list the failed revoke:\n%s", md)
	}
	for _, leak := range []string{"pg_hba", "10.1.2.3"} {
		if strings.Contains(md, leak) {
			t.Errorf("report uploaded to Slack carries provider output %q", leak)
		}
	}
}
