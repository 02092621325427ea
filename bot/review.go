package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/access"
)

// Reviewer builds the access review that /jit review posts.
type Reviewer interface {
	// Review checks that actor may see the review and builds it: summary
	// is Slack mrkdwn for the channel, report the full Markdown document.
	// An actor who is not an admin gets an error wrapping
	// access.ErrNotAllowed.
	Review(ctx context.Context, actor string) (summary string, report []byte, err error)
}

// Fixed phrases of /jit review.
const (
	phraseReviewAdmins = "Only jitbot admins can run the access review."
	phraseReviewOff    = "The access review is not set up in this jitbot."
	phraseReviewNoFile = "The full report could not be attached; " +
		"operators can run `jitbot review` instead."
)

// review posts the access review's summary where the command was typed,
// or in the review channel when the bot cannot post there, and attaches
// the full report in the summary's thread.
func (b *Bot) review(ctx context.Context, sc slack.SlashCommand) {
	answer := func(text string) { b.answer(ctx, sc.ChannelID, sc.UserID, message{Text: text}) }
	if b.opts.Reviewer == nil {
		answer(phraseReviewOff)
		return
	}
	summary, report, err := b.opts.Reviewer.Review(ctx, sc.UserID)
	switch {
	case errors.Is(err, access.ErrNotAllowed):
		b.log.Info().Str("user", sc.UserID).Msg("review refused: not an admin")
		answer(phraseReviewAdmins)
		return
	case err != nil:
		b.log.Error().Err(err).Str("user", sc.UserID).Msg("review not built")
		answer(phraseGeneric)
		return
	}
	ref, err := b.postReview(ctx, sc.ChannelID, summary)
	if err != nil {
		b.log.Error().Err(err).Str("user", sc.UserID).Msg("review not posted")
		answer(phraseGeneric)
		return
	}
	if ref.Channel != sc.ChannelID {
		answer(fmt.Sprintf("The access review was posted in <#%s>.", ref.Channel))
	}
	if err := b.attach(ctx, ref, report); err != nil {
		b.log.Error().Err(err).Str("channel", ref.Channel).Msg("review report not attached")
		if _, err := b.post(ctx, ref.Channel, ref.TS, message{Text: phraseReviewNoFile}); err != nil {
			b.log.Error().Err(err).Str("channel", ref.Channel).Msg("reply failed")
		}
		return
	}
	b.log.Info().Str("user", sc.UserID).Str("channel", ref.Channel).
		Int("size", len(report)).Msg("review posted")
}

// postReview posts the summary to channel, falling back to the review
// channel (or the admin channel) when the bot is not let in there.
func (b *Bot) postReview(ctx context.Context, channel, summary string) (msgRef, error) {
	ref, err := b.Post(ctx, channel, summary)
	if err == nil {
		return msgRef{Channel: ref.Channel, TS: ref.TS}, nil
	}
	fallback := b.opts.ReviewChannel
	if fallback == "" {
		fallback = b.opts.AdminChannel
	}
	if fallback == "" || fallback == channel || !notPostable(err) {
		return msgRef{}, err
	}
	ref, err = b.Post(ctx, fallback, summary)
	return msgRef{Channel: ref.Channel, TS: ref.TS}, err
}

// notPostable reports whether err means the bot may not post in a
// channel, as opposed to Slack failing.
func notPostable(err error) bool {
	for _, code := range []string{"channel_not_found", "not_in_channel", "is_archived",
		"restricted_action"} {
		if slackErr(err, code) {
			return true
		}
	}
	return false
}

// attach uploads the report as a Markdown file into the summary's thread.
func (b *Bot) attach(ctx context.Context, ref msgRef, report []byte) error {
	day := b.clock.Now().UTC().Format("2006-01-02")
	return b.call(ctx, "files.uploadV2", func(ctx context.Context) error {
		_, err := b.api.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader:          bytes.NewReader(report),
			FileSize:        len(report),
			Filename:        "access-review-" + day + ".md",
			Title:           "Access review " + day,
			SnippetType:     "markdown",
			Channel:         ref.Channel,
			ThreadTimestamp: ref.TS,
		})
		return err
	})
}
