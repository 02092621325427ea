package bot

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/slack-go/slack"
)

// maxAttempts bounds the tries of one Web API call that Slack rate limits.
const maxAttempts = 3

// maxRetryWait caps how long one rate-limit wait may be.
const maxRetryWait = 30 * time.Second

// call runs one Web API call with the configured deadline. When Slack
// answers rate_limited it waits Retry-After on the clock and tries again,
// at most maxAttempts times in all.
func (b *Bot) call(
	ctx context.Context,
	method string,
	fn func(context.Context) error,
) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = b.callOnce(ctx, fn)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || attempt == maxAttempts {
			break
		}
		wait := min(max(rl.RetryAfter, time.Second), maxRetryWait)
		b.log.Warn().Str("method", method).Dur("retry_after", wait).
			Int("attempt", attempt).Msg("slack rate limited")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", method, ctx.Err())
		case <-b.clock.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// callOnce runs fn under the per-call deadline. Network deadlines are
// wall-clock time, so they do not follow the injected clock.
func (b *Bot) callOnce(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	return fn(ctx)
}

// slackErr reports whether err is Slack's error code code.
func slackErr(err error, code string) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err == code
	}
	return false
}

// message is what the bot sends: blocks and the notification fallback.
type message struct {
	Text   string
	Blocks []slack.Block
}

func (m message) options() []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(cut(m.Text, maxPlainText), false)}
	if len(m.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(m.Blocks...))
	}
	return opts
}

// reply answers user where they acted: an ephemeral message in channel,
// or a DM when the bot cannot post there.
func (b *Bot) reply(ctx context.Context, channel, user string, m message) error {
	if channel != "" {
		err := b.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
			_, err := b.api.PostEphemeralContext(ctx, channel, user, m.options()...)
			return err
		})
		if err == nil {
			b.log.Debug().Str("channel", channel).Str("user", user).Msg("replied")
			return nil
		}
		if !slackErr(err, "user_not_in_channel") && !slackErr(err, "channel_not_found") &&
			!slackErr(err, "not_in_channel") && !slackErr(err, "is_archived") {
			return fmt.Errorf("reply to %s in %s: %w", user, channel, err)
		}
	}
	_, err := b.dm(ctx, user, m)
	return err
}

// dm sends m to user's direct message channel and returns where it went.
func (b *Bot) dm(ctx context.Context, user string, m message) (ref msgRef, err error) {
	var ch *slack.Channel
	err = b.call(ctx, "conversations.open", func(ctx context.Context) error {
		var err error
		ch, _, _, err = b.api.OpenConversationContext(ctx,
			&slack.OpenConversationParameters{Users: []string{user}, ReturnIM: true})
		return err
	})
	if err != nil {
		return msgRef{}, fmt.Errorf("open dm with %s: %w", user, err)
	}
	return b.post(ctx, ch.ID, "", m)
}

// msgRef is where a message went.
type msgRef struct{ Channel, TS string }

// post sends m to channel, as a thread reply when thread is set.
func (b *Bot) post(
	ctx context.Context,
	channel, thread string,
	m message,
) (msgRef, error) {
	opts := m.options()
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	var ref msgRef
	err := b.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		ref.Channel, ref.TS, err = b.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	if err != nil {
		return msgRef{}, fmt.Errorf("post to %s: %w", channel, err)
	}
	b.log.Debug().Str("channel", ref.Channel).Str("ts", ref.TS).Msg("posted")
	return ref, nil
}

// update replaces the message at channel/ts with m.
func (b *Bot) update(ctx context.Context, channel, ts string, m message) error {
	err := b.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, channel, ts, m.options()...)
		return err
	})
	if err != nil {
		return fmt.Errorf("update %s/%s: %w", channel, ts, err)
	}
	b.log.Debug().Str("channel", channel).Str("ts", ts).Msg("updated")
	return nil
}
