package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// digestConfig is e2eConfig with the weekly digest on, Mondays 09:00 in
// Berlin, posted to the approvals channel as the review channel.
var digestConfig = strings.NewReplacer(
	"digest:\n  enabled: false\n",
	"digest: {enabled: true, schedule: \"0 9 * * 1\", timezone: Europe/Berlin}\n",
	"  admin_channel: C0ADMIN\n", "  admin_channel: C0ADMIN\n  review_channel: "+approval+"\n",
).Replace(e2eConfig)

// waiters counts the timers, tickers and sleepers waiting on the fake
// clock. BlockUntilContext returns at once when at least n are waiting.
func waiters(c *clockwork.FakeClock) int {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	for c.BlockUntilContext(done, n+1) == nil {
		n++
	}
	return n
}

func digests(srv *slackfake.Server) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range srv.Messages(approval) {
		if strings.HasPrefix(m.Text, "*Access digest") {
			out = append(out, m)
		}
	}
	return out
}

func TestWeeklyDigestPostsMondayNineBerlinTime(t *testing.T) {
	// The clock starts on Monday 2 March 2026, 09:00 UTC: 10:00 in Berlin
	// (UTC+1 until 29 March), so this week's digest time has passed.
	e := newE2EWith(t, digestConfig)
	approved := e.seedDecisions()
	pending := e.submitted(3) // nobody decides; it expires after 30m
	e.clock.Advance(31 * time.Minute)
	e.wait("the pending request to expire", func() bool {
		return strings.Contains(strings.ToLower(string(e.message(pending).Blocks)), "expired")
	})
	e.clock.Advance(28 * time.Minute) // the grant's hour is up
	e.wait("the grant to end", e.replyWith(approved, "revoked"))

	// Idle now: what waits on the clock includes the digest's timer.
	idle := waiters(e.clock)
	nextMonday := time.Date(2026, 3, 9, 8, 0, 0, 0, time.UTC) // 09:00 in Berlin
	e.clock.Advance(nextMonday.Add(-time.Minute).Sub(e.clock.Now()))
	if n := len(digests(e.srv)); n != 0 {
		t.Fatalf("%d digests before Monday 09:00 Berlin time", n)
	}

	// A digest read in UTC would wait for 09:00 UTC, an hour later.
	e.clock.Advance(time.Minute)
	e.wait("the digest at 09:00 Berlin time", func() bool { return len(digests(e.srv)) == 1 })
	text := digests(e.srv)[0].Text
	for _, want := range []string{
		"3 requests: 1 approved, 1 denied, 0 auto-approved, 1 expired",
		"Active grants now: 0",
		"Revocations: 0 failed, 0 late",
		"Mon 2 Mar – Mon 9 Mar",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("digest lacks %q:\n%s", want, text)
		}
	}

	// A restart waits for the digest job to finish and arms the schedule
	// afresh; 09:00 UTC then passes without a second post, and the next
	// digest comes a week later and finds a quiet week.
	e.stop()
	left := waiters(e.clock) // timers the stopped run left behind
	e.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.clock.BlockUntilContext(ctx, left+idle); err != nil {
		t.Fatalf("digest schedule not armed after restart: %v", err)
	}
	e.clock.Advance(time.Hour)
	e.clock.Advance(nextMonday.AddDate(0, 0, 7).Sub(e.clock.Now()))
	e.wait("the second digest", func() bool { return len(digests(e.srv)) >= 2 })
	got := digests(e.srv)
	if len(got) != 2 {
		t.Fatalf("%d digests over two Mondays, want 2", len(got))
	}
	if !strings.Contains(got[1].Text, "0 requests") {
		t.Errorf("second digest counts last week's requests:\n%s", got[1].Text)
	}
}
