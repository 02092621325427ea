package bot

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
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
