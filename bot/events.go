package bot

import (
	"context"
	"errors"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/policy"
)

// validateBudget is how long a modal submission waits for Core.Validate
// before it is acked without field errors; Slack allows 3 s in all.
const validateBudget = 1500 * time.Millisecond

// busyText is the answer when every worker is taken and the queue is full.
const busyText = "jitbot is busy right now; please try again in a moment."

// handleEvent acks and dispatches one Socket Mode event. It never blocks
// on slow work. It returns an error only when the connection cannot go on.
func (b *Bot) handleEvent(ctx context.Context, sm *socketmode.Client, work *pool,
	evt socketmode.Event,
) error {
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.log.Info().Msg("slack connected")
	case socketmode.EventTypeConnectionError:
		if ce, ok := evt.Data.(*slack.ConnectionErrorEvent); ok {
			// Only the first failure of a run of retries is a warning.
			ev := b.log.Debug()
			if ce.Attempt <= 1 {
				ev = b.log.Warn()
			}
			ev.Err(ce.ErrorObj).Int("attempt", ce.Attempt).Dur("retry_after", ce.Backoff).
				Msg("slack connection failed; retrying")
		}
	case socketmode.EventTypeInvalidAuth:
		return connectError(errors.New("invalid_auth"))
	case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage,
		socketmode.EventTypeErrorWriteFailed:
		b.log.Warn().Str("event", string(evt.Type)).Msg("slack socket trouble")
	case socketmode.EventTypeSlashCommand:
		b.onSlash(ctx, sm, work, evt)
	case socketmode.EventTypeInteractive:
		b.onInteractive(ctx, sm, work, evt)
	case socketmode.EventTypeEventsAPI:
		b.ack(sm, evt.Request)
	}
	return nil
}

// ack answers an envelope, with an optional payload. Acks go out before
// any slow work.
func (b *Bot) ack(sm *socketmode.Client, req *socketmode.Request, payload ...any) {
	if req == nil || req.EnvelopeID == "" {
		return
	}
	if err := sm.Ack(*req, payload...); err != nil {
		b.log.Error().Err(err).Msg("slack ack failed")
	}
}

// fresh reports whether the envelope is seen for the first time. A repeat
// is acked again, so Slack stops resending it, and otherwise ignored.
func (b *Bot) fresh(sm *socketmode.Client, req *socketmode.Request) bool {
	if req == nil || b.seen.firstTime(req.EnvelopeID) {
		return true
	}
	b.log.Debug().Int("retry_attempt", req.RetryAttempt).Msg("duplicate envelope ignored")
	b.ack(sm, req)
	return false
}

// job wraps fn with its own wall-clock deadline. Work already accepted
// outlives the cancellation of Run's context, within that deadline.
func (b *Bot) job(ctx context.Context, fn func(ctx context.Context)) func() {
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*b.opts.Timeout)
		defer cancel()
		fn(ctx)
	}
}

func (b *Bot) onSlash(ctx context.Context, sm *socketmode.Client, work *pool,
	evt socketmode.Event,
) {
	sc, ok := evt.Data.(slack.SlashCommand)
	if !ok {
		b.ack(sm, evt.Request)
		return
	}
	if !b.fresh(sm, evt.Request) {
		return
	}
	if !work.submit(b.job(ctx, func(ctx context.Context) { b.slash(ctx, sc) })) {
		b.log.Warn().Str("user", sc.UserID).Msg("work queue full")
		b.ack(sm, evt.Request, map[string]any{"response_type": "ephemeral", "text": busyText})
		return
	}
	b.ack(sm, evt.Request)
}

func (b *Bot) onInteractive(ctx context.Context, sm *socketmode.Client, work *pool,
	evt socketmode.Event,
) {
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		b.ack(sm, evt.Request)
		return
	}
	if !b.fresh(sm, evt.Request) {
		return
	}
	switch cb.Type {
	case slack.InteractionTypeViewSubmission:
		b.onSubmission(ctx, sm, work, evt.Request, cb)
	case slack.InteractionTypeBlockActions:
		queued := true
		for _, act := range cb.ActionCallback.BlockActions {
			act := *act
			if !work.submit(b.job(ctx, func(ctx context.Context) { b.action(ctx, cb, act) })) {
				queued = false
			}
		}
		if !queued {
			// Left unacknowledged, the click shows the person an error in
			// Slack, so they know to click again instead of waiting.
			b.log.Warn().Str("user", cb.User.ID).Msg("work queue full; click not taken")
			return
		}
		b.ack(sm, evt.Request)
	default:
		b.ack(sm, evt.Request)
	}
}

// onSubmission answers a submitted request modal. Field problems go back
// in the ack, so the modal stays open with an error under each field;
// otherwise the modal closes and the request is submitted in the
// background.
func (b *Bot) onSubmission(ctx context.Context, sm *socketmode.Client, work *pool,
	req *socketmode.Request, cb slack.InteractionCallback,
) {
	if cb.View.CallbackID != modalCallback {
		b.ack(sm, req)
		return
	}
	in, meta, bad := readSubmission(cb)
	var problems []policy.Problem
	if _, noTarget := bad[blkTarget]; !noTarget {
		problems = b.validateQuickly(in)
	}
	if errs := modalErrors(bad, problems, meta.Extends == ""); len(errs) > 0 {
		b.ack(sm, req, slack.NewErrorsViewSubmissionResponse(errs))
		return
	}
	submit := b.job(ctx, func(ctx context.Context) {
		b.submit(ctx, meta.Channel, in)
	})
	if !work.submit(submit) {
		b.ack(sm, req, slack.NewErrorsViewSubmissionResponse(
			map[string]string{blkTarget: busyText}))
		return
	}
	b.ack(sm, req)
}

// validateQuickly runs Core.Validate within validateBudget. When it takes
// longer, no problems are reported here: Submit checks again.
func (b *Bot) validateQuickly(in access.SubmitInput) []policy.Problem {
	core := b.getCore()
	out := make(chan []policy.Problem, 1)
	go func() { out <- core.Validate(in) }()
	select {
	case p := <-out:
		return p
	case <-b.clock.After(validateBudget):
		b.log.Warn().Str("user", in.User).Msg("validation too slow for the modal")
		return nil
	}
}
