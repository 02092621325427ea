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

// PostApproval posts the approval message for req to the role's channel,
// or to Options.AdminChannel when the rules name none.
func (b *Bot) PostApproval(ctx context.Context, req store.Request, rules policy.Rules) (
	store.MessageRef, error,
) {
	channel := b.channelFor(req, rules)
	if channel == "" {
		return store.MessageRef{},
			fmt.Errorf("post approval for request %s: no channel", req.ID)
	}
	ref, err := b.post(ctx, channel, "", approvalMessage(req))
	if err != nil {
		return store.MessageRef{}, fmt.Errorf("post approval for request %s: %w", req.ID, err)
	}
	b.log.Info().Str("request_id", req.ID).Str("channel", ref.Channel).
		Str("ts", ref.TS).Msg("approval posted")
	return store.MessageRef{Channel: ref.Channel, TS: ref.TS}, nil
}

// UpdateApproval re-renders req's approval message in place. A request
// whose message was never posted is left alone.
func (b *Bot) UpdateApproval(
	ctx context.Context,
	req store.Request,
	_ policy.Rules,
) error {
	if !req.Message.Posted() {
		return nil
	}
	err := b.update(ctx, req.Message.Channel, req.Message.TS, approvalMessage(req))
	if err != nil {
		return fmt.Errorf("update approval for request %s: %w", req.ID, err)
	}
	return nil
}

func approvalMessage(req store.Request) message {
	return message{Text: approvalText(req), Blocks: approvalBlocks(req)}
}

// channelFor is the approval channel of a request.
func (b *Bot) channelFor(req store.Request, rules policy.Rules) string {
	if rules.Channel == "" && len(req.Rules) > 0 {
		if stored, err := policy.UnmarshalRules(req.Rules); err == nil {
			rules = stored
		}
	}
	if rules.Channel != "" {
		return rules.Channel
	}
	return b.opts.AdminChannel
}

var _ access.Warner = (*Bot)(nil)

// Notify sends n to whoever it concerns: a reply in the approval thread, a
// DM to the requester, or a channel post, as the kind asks. It tries every
// destination and returns their errors joined.
func (b *Bot) Notify(ctx context.Context, n access.Notice) error {
	_, err := b.send(ctx, n)
	return err
}

// Warn sends an expiring-soon notice as Notify does and returns where the
// holder's DM, the copy with the Release and Extend buttons, went.
func (b *Bot) Warn(ctx context.Context, n access.Notice) (store.MessageRef, error) {
	ref, err := b.send(ctx, n)
	return store.MessageRef{Channel: ref.Channel, TS: ref.TS}, err
}

// EndWarning replaces g's expiry warning with one without buttons that says
// how the grant ended. A grant without a posted warning is left alone.
func (b *Bot) EndWarning(ctx context.Context, g store.Grant) error {
	if !g.Warning.Posted() {
		return nil
	}
	if err := b.update(ctx, g.Warning.Channel, g.Warning.TS, endedWarning(g)); err != nil {
		return fmt.Errorf("end expiry warning of grant %s: %w", g.ID, err)
	}
	return nil
}

// send delivers every message of n and returns where its DM went, if it
// had one and it was posted.
func (b *Bot) send(ctx context.Context, n access.Notice) (msgRef, error) {
	var errs []error
	var dmRef msgRef
	for _, out := range b.route(n) {
		var err error
		switch out.to {
		case toDM:
			dmRef, err = b.dm(ctx, out.target, out.msg)
		default:
			_, err = b.post(ctx, out.target, out.thread, out.msg)
			if err != nil && out.fallback != "" && out.fallback != out.target {
				err = b.postFallback(ctx, out, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return dmRef, fmt.Errorf("notify %s for request %s: %w", n.Kind, n.Request.ID, err)
	}
	b.log.Debug().Str("request_id", n.Request.ID).Str("grant_id", n.Grant.ID).
		Str("kind", string(n.Kind)).Msg("notice sent")
	return dmRef, nil
}

type destination int

const (
	toThread destination = iota
	toDM
	toChannel
)

// outgoing is one message of a notice and where it goes.
type outgoing struct {
	to     destination
	target string // channel id, or user id for a DM
	thread string
	msg    message
	// fallback is the channel that gets the message when target cannot,
	// for messages that must not be lost, such as a break-glass alert.
	fallback string
}

// route decides the destinations of a notice and renders each message.
func (b *Bot) route(n access.Notice) []outgoing {
	channel := b.channelFor(n.Request, n.Rules)
	thread := n.Grant.Thread
	if !thread.Posted() {
		thread = n.Request.Message
	}
	requester := n.Request.Requester
	if requester == "" {
		requester = n.Grant.User
	}
	inThread := func(m message) outgoing {
		if thread.Posted() {
			return outgoing{to: toThread, target: thread.Channel, thread: thread.TS, msg: m}
		}
		return outgoing{to: toChannel, target: channel, msg: m}
	}
	dm := func(m message) outgoing { return outgoing{to: toDM, target: requester, msg: m} }
	post := func(ch string, m message) outgoing {
		return outgoing{to: toChannel, target: ch, msg: m}
	}

	var outs []outgoing
	switch n.Kind {
	case access.NoticeSubmitted, access.NoticeDenied, access.NoticeRequestExpired:
		outs = append(outs, dm(dmNotice(n)))
	case access.NoticeAutoApproved:
		outs = append(outs, post(channel, threadNotice(n)))
	case access.NoticeCancelled, access.NoticeReminder, access.NoticeEscalated,
		access.NoticeBreakGlassAck:
		outs = append(outs, inThread(threadNotice(n)))
	case access.NoticeGranted, access.NoticeExpiringSoon, access.NoticeRevoked:
		outs = append(outs, inThread(threadNotice(n)), dm(dmNotice(n)))
	case access.NoticeGrantFailed:
		// The thread may go unread: the operators get their own post.
		outs = append(outs, inThread(threadNotice(n)),
			dm(grantFailedDM(n, b.opts.AdminChannel != "")),
			post(b.opts.AdminChannel, threadNotice(n)))
	case access.NoticeRevokeFailed, access.NoticeRevokeRecovered:
		outs = append(outs, post(channel, threadNotice(n)))
		if b.opts.AdminChannel != "" && b.opts.AdminChannel != channel {
			outs = append(outs, post(b.opts.AdminChannel, threadNotice(n)))
		}
	case access.NoticeBreakGlass:
		alert := post(b.securityChannel(n.Rules, channel), threadNotice(n))
		alert.fallback = b.opts.AdminChannel
		if alert.fallback == "" || alert.fallback == alert.target {
			alert.fallback = channel
		}
		outs = append(outs, alert)
	case access.NoticePolicyRejected:
		outs = append(outs, post(b.opts.AdminChannel, threadNotice(n)))
	default:
		outs = append(outs, inThread(threadNotice(n)))
	}
	return dropEmpty(outs)
}

func (b *Bot) securityChannel(rules policy.Rules, fallback string) string {
	if rules.SecurityChannel != "" {
		return rules.SecurityChannel
	}
	if b.opts.AdminChannel != "" {
		return b.opts.AdminChannel
	}
	return fallback
}

func dropEmpty(outs []outgoing) []outgoing {
	kept := outs[:0]
	for _, o := range outs {
		if o.target != "" {
			kept = append(kept, o)
		}
	}
	return kept
}

// threadNotice is what the approval thread or a channel reads.
func threadNotice(n access.Notice) message {
	r, g := n.Request, n.Grant
	what := accessName(r.Resource, r.Role)
	var text string
	switch n.Kind {
	case access.NoticeAutoApproved:
		text = fmt.Sprintf("✅ %s was auto-approved for %s for %s%s. Request %s.",
			mention(r.Requester), what, fmtDuration(r.Duration), ruleSuffix(r.AutoRule),
			code(r.ID))
	case access.NoticeGranted:
		text = fmt.Sprintf("🔓 Granted to %s until %s. Grant %s.",
			mention(g.User), slackDate(g.ExpiresAt), code(g.ID))
	case access.NoticeGrantFailed:
		text = fmt.Sprintf("❌ Granting %s to %s failed. Request %s, grant %s.",
			what, mention(r.Requester), code(r.ID), code(g.ID))
	case access.NoticeCancelled:
		text = fmt.Sprintf("🚫 Request %s was cancelled.", code(r.ID))
	case access.NoticeExpiringSoon:
		text = fmt.Sprintf("⏰ Grant %s of %s expires %s.",
			code(g.ID), mention(g.User), slackDate(g.ExpiresAt))
	case access.NoticeRevoked:
		text = fmt.Sprintf("🔒 Access of %s revoked (%s) at %s.",
			mention(g.User), endReason(g), slackDate(g.EndedAt))
	case access.NoticeRevokeFailed:
		text = fmt.Sprintf("🚨 *Revoking grant %s failed* (%s, %s). "+
			"jitbot keeps retrying; the access may still be held, please check.",
			code(g.ID), mention(g.User), accessName(g.Resource, g.Role))
	case access.NoticeRevokeRecovered:
		text = fmt.Sprintf("✅ Grant %s of %s (%s) was revoked after %d attempts; "+
			"the earlier alert is resolved.",
			code(g.ID), mention(g.User), accessName(g.Resource, g.Role), g.Attempts+1)
	case access.NoticeReminder:
		text = fmt.Sprintf("🔔 %s: request %s is still waiting for a decision.",
			mentions(n.Mentions), code(r.ID))
	case access.NoticeEscalated:
		text = fmt.Sprintf("📣 Escalating to %s: request %s has waited since %s.",
			mentions(n.Mentions), code(r.ID), slackDate(r.CreatedAt))
	case access.NoticeBreakGlass:
		return breakGlassAlert(n)
	case access.NoticeBreakGlassAck:
		text = fmt.Sprintf("👀 Break-glass use acknowledged by %s.", mention(g.AckedBy))
	case access.NoticePolicyRejected:
		text = "⚠️ A policy change was rejected; the previous policy stays in force."
	default:
		text = fmt.Sprintf("Request %s: %s.", code(r.ID), escapeLimit(string(n.Kind), 40))
	}
	return withDetail(text, n.Text, nil)
}

// dmNotice is what the requester reads in their DMs.
func dmNotice(n access.Notice) message {
	r, g := n.Request, n.Grant
	what := accessName(r.Resource, r.Role)
	var text string
	var actions *slack.ActionBlock
	switch n.Kind {
	case access.NoticeSubmitted:
		text = fmt.Sprintf("📨 Your request %s for %s (%s) is waiting for approval.",
			code(r.ID), what, fmtDuration(r.Duration))
	case access.NoticeDenied:
		text = fmt.Sprintf("⛔ Your request %s for %s was denied by %s.",
			code(r.ID), what, mention(r.DecidedBy))
	case access.NoticeRequestExpired:
		text = fmt.Sprintf("⌛ Your request %s for %s expired without a decision.",
			code(r.ID), what)
	case access.NoticeGranted:
		text = fmt.Sprintf("🔓 You now have %s until %s. Grant %s.",
			accessName(g.Resource, g.Role), slackDate(g.ExpiresAt), code(g.ID))
	case access.NoticeGrantFailed:
		return grantFailedDM(n, true)
	case access.NoticeExpiringSoon:
		text = warningText(g)
		actions = slack.NewActionBlock("grant",
			button(actRelease, "Release now", g.ID, ""),
			button(actExtend, "Request extension", g.ID, slack.StylePrimary))
	case access.NoticeRevoked:
		text = fmt.Sprintf("🔒 Your access to %s has ended (%s).",
			accessName(g.Resource, g.Role), endReason(g))
	default:
		return threadNotice(n)
	}
	return withDetail(text, n.Text, actions)
}

// grantFailedDM tells the requester their grant failed and who knows:
// jitbot's operators when there is an admin channel, else the approvers,
// who read the approval thread.
func grantFailedDM(n access.Notice, operators bool) message {
	told := "the approvers have been told"
	if operators {
		told = "jitbot's operators have been told"
	}
	text := fmt.Sprintf("❌ Granting %s failed; %s. Request %s.",
		accessName(n.Request.Resource, n.Request.Role), told, code(n.Request.ID))
	return withDetail(text, n.Text, nil)
}

func warningText(g store.Grant) string {
	return fmt.Sprintf("⏰ Your access to %s ends %s. Grant %s.",
		accessName(g.Resource, g.Role), slackDate(g.ExpiresAt), code(g.ID))
}

// endedWarning is an expiry warning whose buttons no longer apply: the
// grant has ended, or its revoke is under way.
func endedWarning(g store.Grant) message {
	text := warningText(g)
	line := fmt.Sprintf("🔒 This access has ended (%s) at %s.",
		endReason(g), slackDate(g.EndedAt))
	if g.State != store.GrantRevoked {
		line = fmt.Sprintf("🔒 This access is being taken back (%s).", endReason(g))
	}
	blocks := []slack.Block{section(text), slack.NewContextBlock("ended", mrkdwn(line))}
	return message{Text: cut(text+"\n"+line, maxPlainText), Blocks: blocks}
}

func breakGlassAlert(n access.Notice) message {
	r, g := n.Request, n.Grant
	text := fmt.Sprintf("🚨 *Break-glass:* %s took %s for %s without approval.\n*Reason*\n%s",
		mention(r.Requester), accessName(r.Resource, r.Role), fmtDuration(r.Duration),
		reasonText(r.Reason))
	var actions *slack.ActionBlock
	if g.ID != "" {
		actions = slack.NewActionBlock("breakglass",
			button(actAck, "Acknowledge", g.ID, slack.StylePrimary))
	}
	return withDetail(text, n.Text, actions)
}

// markAcknowledged updates the security alert that was clicked: its
// Acknowledge button gives way to who acknowledged it and when.
func (b *Bot) markAcknowledged(
	ctx context.Context,
	channel string,
	cb slack.InteractionCallback,
	g store.Grant,
) {
	ts := cb.Container.MessageTs
	if ts == "" {
		ts = cb.Message.Timestamp
	}
	if ts == "" {
		return
	}
	if err := b.update(ctx, channel, ts, acknowledgedAlert(cb.Message, g)); err != nil {
		b.log.Warn().Err(err).Str("grant_id", g.ID).Str("channel", channel).
			Msg("break-glass alert not updated")
	}
}

func acknowledgedAlert(alert slack.Message, g store.Grant) message {
	var blocks []slack.Block
	for _, blk := range alert.Blocks.BlockSet {
		if blk.BlockType() != slack.MBTAction {
			blocks = append(blocks, blk)
		}
	}
	line := fmt.Sprintf("👀 Acknowledged by %s at %s.",
		mention(g.AckedBy), slackDate(g.AckedAt))
	blocks = append(blocks, slack.NewContextBlock("acknowledged", mrkdwn(line)))
	return message{Text: cut(alert.Text+"\n"+line, maxPlainText), Blocks: blocks}
}

func withDetail(text, detail string, actions *slack.ActionBlock) message {
	blocks := []slack.Block{section(text)}
	if detail != "" {
		blocks = append(blocks, slack.NewContextBlock("",
			mrkdwn(escapeLimit(detail, maxField))))
	}
	if actions != nil {
		blocks = append(blocks, actions)
	}
	return message{Text: cut(text, maxPlainText), Blocks: blocks}
}

func endReason(g store.Grant) string {
	switch g.EndReason {
	case store.EndExpired:
		return "expired"
	case store.EndReleased:
		return "released by " + mention(g.EndedBy)
	case store.EndRevoked:
		return "revoked by " + mention(g.EndedBy)
	case "":
		return "ended"
	}
	return escapeLimit(g.EndReason, 60)
}

// mentions addresses people as the policy names them: user ids and user
// groups become mentions, emails are written out.
func mentions(refs []string) string {
	if len(refs) == 0 {
		return "Approvers"
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		id := strings.TrimPrefix(r, "subteam:")
		switch {
		case strings.Contains(r, "@"):
			out[i] = escapeLimit(r, 200)
		case strings.HasPrefix(id, "S"):
			out[i] = "<!subteam^" + escapeLimit(id, 40) + ">"
		default:
			out[i] = mention(r)
		}
	}
	return strings.Join(out, " ")
}

// postFallback posts a message that could not reach its channel to the
// fallback channel instead, saying where it should have gone.
func (b *Bot) postFallback(ctx context.Context, out outgoing, cause error) error {
	b.log.Warn().Err(cause).Str("channel", out.target).Str("fallback", out.fallback).
		Msg("posting to the fallback channel")
	m := out.msg
	note := fmt.Sprintf("⚠️ This could not be posted to <#%s>; it is posted here instead.",
		out.target)
	m.Text = note + "\n" + m.Text
	m.Blocks = append([]slack.Block{section(note)}, m.Blocks...)
	if _, err := b.post(ctx, out.fallback, "", m); err != nil {
		return errors.Join(cause, err)
	}
	return nil
}
