package bot

import (
	"context"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/store"
)

// Post sends mrkdwn text to a channel, as a section per paragraph so long
// reports stay inside Slack's block limits. It serves scheduled posts such
// as the weekly digest.
func (b *Bot) Post(ctx context.Context, channel, text string) (store.MessageRef, error) {
	var blocks []slack.Block
	for _, part := range splitText(text, maxSectionText) {
		blocks = append(blocks, slack.NewSectionBlock(
			slack.NewTextBlockObject(slack.MarkdownType, part, false, false), nil, nil))
	}
	ref, err := b.post(ctx, channel, "", message{Text: text, Blocks: blocks})
	return store.MessageRef{Channel: ref.Channel, TS: ref.TS}, err
}

// splitText cuts text into pieces of at most n bytes, at line ends where it
// can.
func splitText(text string, n int) []string {
	var out []string
	for len(text) > n {
		cut := n
		for i := n; i > n/2; i-- {
			if text[i-1] == '\n' {
				cut = i
				break
			}
		}
		for cut > 1 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if text != "" {
		out = append(out, text)
	}
	return out
}
