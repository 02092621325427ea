package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// queueSize bounds the work waiting for a free worker.
const queueSize = 64

// Run connects to Slack over Socket Mode and serves /jit commands, button
// clicks and modal submissions until ctx is cancelled. Every envelope is
// acknowledged at once; the work then runs on a bounded pool of workers.
//
// Run blocks. It returns nil after ctx is cancelled and in-flight work has
// finished or had its bounded time; it returns an error when Slack refuses
// a token, naming which one. Call it once.
func (b *Bot) Run(ctx context.Context, core Core) error {
	if core == nil {
		return errors.New("run slack bot: core is nil")
	}
	b.setCore(core)
	if err := b.checkBotToken(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	sm := socketmode.New(b.api)
	work := newPool(b.opts.Workers, queueSize)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- sm.RunContext(runCtx) }()

	b.log.Info().Int("workers", b.opts.Workers).Msg("slack bot starting")
	ended, err := b.serve(ctx, sm, work, done)
	stop()
	b.drain(work)
	if !ended {
		<-done
	}
	b.log.Info().Msg("slack bot stopped")
	return err
}

// serve reads the Socket Mode events until ctx ends or the connection
// fails for good. ended reports whether the Socket Mode loop has returned.
func (b *Bot) serve(ctx context.Context, sm *socketmode.Client, work *pool,
	done <-chan error,
) (ended bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case err := <-done:
			if ctx.Err() != nil {
				return true, nil
			}
			return true, connectError(err)
		case evt := <-sm.Events:
			if err := b.handleEvent(ctx, sm, work, evt); err != nil {
				return false, err
			}
		}
	}
}

// drain lets queued and running work finish, within a bound.
func (b *Bot) drain(work *pool) {
	bound := 3 * b.opts.Timeout
	if !work.closeAndWait(b.clock, bound) {
		b.log.Warn().Dur("duration", bound).Msg("in-flight work cut short at shutdown")
	}
}

// checkBotToken asks Slack whether the bot token is good, so a bad one is
// reported at start rather than at the first message.
func (b *Bot) checkBotToken(ctx context.Context) error {
	wait := time.Second
	for {
		err := b.call(ctx, "auth.test", func(ctx context.Context) error {
			_, err := b.api.AuthTestContext(ctx)
			return err
		})
		if err == nil {
			return nil
		}
		if code, ok := authFailure(err); ok {
			return fmt.Errorf("slack refused the bot token (%s): "+
				"check JITBOT_SLACK_BOT_TOKEN: %w", code, err)
		}
		// Slack or the network is down for now: keep trying, slower
		// each time, until it answers or jitbot is stopped.
		b.log.Warn().Err(err).Dur("retry_in", wait).Msg("slack not reachable")
		select {
		case <-b.clock.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("check slack bot token: %w", err)
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// authFailure reports whether err means a token was refused, and Slack's
// code for it.
func authFailure(err error) (string, bool) {
	for _, code := range []string{
		"invalid_auth", "not_authed", "account_inactive", "token_revoked",
		"token_expired", "not_allowed_token_type",
	} {
		if slackErr(err, code) || err.Error() == code {
			return code, true
		}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) &&
		(sc.Code == http.StatusNotFound || sc.Code == http.StatusUnauthorized) {
		return sc.Status, true
	}
	return "", false
}

// connectError turns the end of the Socket Mode loop into Run's error.
func connectError(err error) error {
	if err == nil {
		return errors.New("slack socket mode connection ended")
	}
	if code, ok := authFailure(err); ok {
		return fmt.Errorf("slack refused the app token (%s): "+
			"check JITBOT_SLACK_APP_TOKEN: %w", code, err)
	}
	return fmt.Errorf("slack socket mode connection: %w", err)
}

// pool runs jobs on a fixed number of goroutines.
type pool struct {
	jobs chan func()
	wg   sync.WaitGroup
}

func newPool(workers, queue int) *pool {
	p := &pool{jobs: make(chan func(), queue)}
	for range workers {
		p.wg.Go(func() {
			for job := range p.jobs {
				job()
			}
		})
	}
	return p
}

// submit queues job and reports whether there was room.
func (p *pool) submit(job func()) bool {
	select {
	case p.jobs <- job:
		return true
	default:
		return false
	}
}

// closeAndWait stops taking jobs and waits up to bound, measured on clock,
// for the queued and running ones. It reports whether all finished.
func (p *pool) closeAndWait(clock clockwork.Clock, bound time.Duration) bool {
	close(p.jobs)
	finished := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		return true
	case <-clock.After(bound):
		return false
	}
}
