package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/policy"
)

// TestRunWaitsOutAnUnreachableSlack has Slack fail the start-up token check
// with an error that is not about the token: the bot must wait and try
// again rather than stop, and connect once Slack answers.
func TestRunWaitsOutAnUnreachableSlack(t *testing.T) {
	clock := clockwork.NewFakeClock()
	srv := newFake(t, clock)
	b := newBot(t, srv, clock, nil)
	srv.FailNext("auth.test", "internal_error", 1)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, &fakeCore{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})

	wctx := testCtx(t)
	if err := clock.BlockUntilContext(wctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("Run gave up after one failed check: %v", err)
	default:
	}
	clock.Advance(time.Second)
	if err := srv.WaitFor(wctx, func() bool { return srv.LiveConnections() == 1 }); err != nil {
		t.Fatalf("no connection after Slack recovered: %v", err)
	}
}

// TestClickIsNotTakenWhenTheQueueIsFull fills the workers and their queue
// with clicks on a blocked core: the next click is left unacknowledged, so
// Slack shows the person an error instead of the click vanishing.
func TestClickIsNotTakenWhenTheQueueIsFull(t *testing.T) {
	core := &fakeCore{gate: make(chan struct{})}
	srv := slackfake.New(slackfake.Options{
		AppToken: appToken, BotToken: botToken, AckTimeout: 300 * time.Millisecond,
		Users:    []slackfake.User{{ID: bob, Name: "bob"}},
		Channels: []slackfake.Channel{{ID: ops, Name: "ops"}},
	})
	t.Cleanup(srv.Close)
	b := newBot(t, srv, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, core) }()
	t.Cleanup(func() {
		close(core.gate)
		cancel()
		<-done
	})

	wctx := testCtx(t)
	ref, err := b.PostApproval(wctx, sampleRequest(), policy.Rules{Channel: ops})
	if err != nil {
		t.Fatal(err)
	}
	msg := slackfake.MessageRef{Channel: ref.Channel, TS: ref.TS}
	// Workers take clicks off the queue as they come, so the queue fills
	// after between queueSize and queueSize+Workers clicks.
	most := b.opts.Workers + queueSize
	for i := range most + 1 {
		_, err := srv.Click(wctx, bob, msg, actApprove, "")
		if err == nil {
			continue
		}
		if !errors.Is(err, slackfake.ErrAckTimeout) {
			t.Fatalf("click %d: %v", i+1, err)
		}
		if i < queueSize {
			t.Fatalf("click %d refused with room in the queue", i+1)
		}
		return
	}
	t.Fatalf("all %d clicks were acknowledged; the last had no room", most+1)
}
