package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// slash runs one /jit command on a worker and answers the user where
// they typed it.
func (b *Bot) slash(ctx context.Context, sc slack.SlashCommand) {
	answer := func(m message) { b.answer(ctx, sc.ChannelID, sc.UserID, m) }
	cmd, err := parseCommand(sc.Text)
	var ue *usageError
	if errors.As(err, &ue) {
		answer(message{Text: escapeLimit(ue.Problem, 500),
			Blocks: helpBlocks(b.opts.Command, ue.Problem, ue.Sub)})
		return
	}
	core := b.getCore()
	switch {
	case cmd.Sub == cmdHelp:
		answer(message{Text: "How to use " + b.opts.Command,
			Blocks: helpBlocks(b.opts.Command, "", "")})
	case cmd.Sub == cmdList:
		b.list(ctx, sc, answer)
	case cmd.Sub == cmdReview:
		b.review(ctx, sc)
	case cmd.Modal:
		b.openModal(ctx, sc.TriggerID, sc.ChannelID, sc.UserID,
			modalMeta{Channel: sc.ChannelID}, prefill{})
	case cmd.Sub == cmdRequest || cmd.Sub == cmdBreakGlass:
		b.submit(ctx, sc.ChannelID, access.SubmitInput{
			User: sc.UserID, Resource: cmd.Resource, Role: cmd.Role,
			Duration: cmd.Duration, Reason: cmd.Reason, BreakGlass: cmd.Sub == cmdBreakGlass,
		})
	case cmd.Sub == cmdRevoke:
		g, err := core.Release(ctx, cmd.ID, sc.UserID)
		answer(b.outcome(err, store.Request{}, "revoke grant "+cmd.ID,
			fmt.Sprintf("Grant %s is being revoked.", code(g.ID))))
	case cmd.Sub == cmdCancel:
		r, err := core.Cancel(ctx, cmd.ID, sc.UserID)
		answer(b.outcome(err, r, "cancel request "+cmd.ID,
			fmt.Sprintf("Request %s is cancelled.", code(cmd.ID))))
	case cmd.Sub == cmdAck:
		_, err := core.Acknowledge(ctx, cmd.ID, sc.UserID)
		answer(b.outcome(err, store.Request{}, "acknowledge grant "+cmd.ID,
			fmt.Sprintf("Break-glass grant %s acknowledged.", code(cmd.ID))))
	}
}

func (b *Bot) list(ctx context.Context, sc slack.SlashCommand, answer func(message)) {
	reqs, grants, err := b.getCore().Mine(ctx, sc.UserID)
	if err != nil {
		answer(b.outcome(err, store.Request{}, "list for "+sc.UserID, ""))
		return
	}
	answer(message{Text: "Your requests and grants", Blocks: listBlocks(reqs, grants)})
}

// submit checks and submits a request, then tells the requester the
// outcome in channel, or by DM when channel is empty.
func (b *Bot) submit(ctx context.Context, channel string, in access.SubmitInput) {
	core := b.getCore()
	if problems := core.Validate(in); len(problems) > 0 {
		b.answer(ctx, channel, in.User, problemsMessage(problems))
		return
	}
	req, err := core.Submit(ctx, in)
	if err != nil {
		b.answer(ctx, channel, in.User, b.outcome(err, req, "submit request", ""))
		return
	}
	b.log.Info().Str("request_id", req.ID).Str("user", in.User).
		Str("resource", req.Resource).Str("role", req.Role).Msg("request submitted")
	b.answer(ctx, channel, in.User, message{Text: submittedText(req)})
}

func submittedText(req store.Request) string {
	what := accessName(req.Resource, req.Role)
	switch {
	case req.State == store.RequestApproved && req.BreakGlass:
		return fmt.Sprintf("🚨 Break-glass request %s for %s (%s) accepted; "+
			"access is being granted and security has been told.",
			code(req.ID), what, fmtDuration(req.Duration))
	case req.State == store.RequestApproved:
		return fmt.Sprintf("✅ Request %s for %s (%s) was approved; access is being granted.",
			code(req.ID), what, fmtDuration(req.Duration))
	}
	return fmt.Sprintf("📨 Request %s for %s (%s) submitted; waiting for %d approval(s).",
		code(req.ID), what, fmtDuration(req.Duration), max(req.ApprovalsRequired, 1))
}

func problemsMessage(problems []policy.Problem) message {
	lines := []string{"Your request was not submitted:"}
	for _, p := range problems {
		lines = append(lines, "• *"+escapeLimit(p.Field, 100)+"*: "+escapeLimit(p.Message, 300))
	}
	text := strings.Join(lines, "\n")
	return message{Text: cut(text, maxPlainText), Blocks: []slack.Block{section(text)}}
}

// action runs one button click on a worker.
func (b *Bot) action(ctx context.Context, cb slack.InteractionCallback,
	act slack.BlockAction,
) {
	actor := cb.User.ID
	channel := cb.Channel.ID
	if channel == "" {
		channel = cb.Container.ChannelID
	}
	answer := func(m message) { b.answer(ctx, channel, actor, m) }
	core := b.getCore()
	switch act.ActionID {
	case actApprove, actDeny:
		approve := act.ActionID == actApprove
		req, err := core.Decide(ctx, act.Value, actor, approve)
		answer(b.outcome(err, req, "decide request "+act.Value, decidedText(req, approve)))
	case actRelease:
		_, err := core.Release(ctx, act.Value, actor)
		answer(b.outcome(err, store.Request{}, "release grant "+act.Value,
			fmt.Sprintf("Grant %s is being released.", code(act.Value))))
	case actAck:
		g, err := core.Acknowledge(ctx, act.Value, actor)
		answer(b.outcome(err, store.Request{}, "acknowledge grant "+act.Value,
			fmt.Sprintf("Break-glass grant %s acknowledged.", code(act.Value))))
		if err == nil {
			b.markAcknowledged(ctx, channel, cb, g)
		}
	case actExtend:
		b.extend(ctx, cb, act.Value, channel)
	default:
		b.log.Debug().Str("action", act.ActionID).Msg("unknown action ignored")
	}
}

func decidedText(req store.Request, approve bool) string {
	if !approve {
		return fmt.Sprintf("You denied request %s.", code(req.ID))
	}
	if req.State == store.RequestPending {
		return fmt.Sprintf("Your approval of %s is recorded (%d of %d).", code(req.ID),
			len(req.Approvals()), max(req.ApprovalsRequired, 1))
	}
	return fmt.Sprintf("You approved request %s.", code(req.ID))
}

// extend opens the request modal for a new request that extends grantID,
// prefilled with the grant's resource and role.
func (b *Bot) extend(ctx context.Context, cb slack.InteractionCallback,
	grantID, channel string,
) {
	_, grants, err := b.getCore().Mine(ctx, cb.User.ID)
	if err != nil {
		b.answer(ctx, channel, cb.User.ID,
			b.outcome(err, store.Request{}, "extend grant "+grantID, ""))
		return
	}
	for _, g := range grants {
		if g.ID == grantID {
			pre := prefill{Resource: g.Resource, Role: g.Role}
			b.openModal(ctx, cb.TriggerID, channel, cb.User.ID,
				modalMeta{Channel: channel, Extends: grantID}, pre)
			return
		}
	}
	b.answer(ctx, channel, cb.User.ID, message{Text: phraseNotFound})
}

// openModal opens the request form with the trigger of the user's action.
func (b *Bot) openModal(
	ctx context.Context,
	trigger, channel, user string,
	meta modalMeta,
	pre prefill,
) {
	view, ok := requestModal(b.getCore().Catalog(), meta, pre)
	if !ok {
		b.answer(ctx, channel, user, message{Text: "No resources are configured yet."})
		return
	}
	err := b.call(ctx, "views.open", func(ctx context.Context) error {
		_, err := b.api.OpenViewContext(ctx, trigger, view)
		return err
	})
	if err != nil {
		b.log.Error().Err(err).Str("user", user).Msg("open request modal failed")
		b.answer(ctx, channel, user, message{Text: "The request form could not open; " +
			"please try again, or type `" + b.opts.Command + " " + usage[cmdRequest] + "`."})
	}
}

// answer replies to user and logs a failure to do so.
func (b *Bot) answer(ctx context.Context, channel, user string, m message) {
	if err := b.reply(ctx, channel, user, m); err != nil {
		b.log.Error().Err(err).Str("user", user).Str("channel", channel).Msg("reply failed")
	}
}
