package bot

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// Slack's limits that the renderers stay inside.
const (
	maxHeader      = 150
	maxSectionText = 3000
	maxField       = 2000
	maxReason      = policy.MaxReason
	maxButtonValue = 2000
	maxOptionText  = 75
	maxOptionValue = 150
	maxOptions     = 100
	maxMsgBlocks   = 50
	maxPlainText   = 3000
)

// Action ids of the buttons the bot renders.
const (
	actApprove = "jit_approve"
	actDeny    = "jit_deny"
	actRelease = "jit_release"
	actExtend  = "jit_extend"
	actAck     = "jit_ack"
)

// escapeLimit escapes &, < and > as Slack asks and cuts the result to at
// most max runes, ending in an ellipsis when cut. An entity is never split.
func escapeLimit(s string, max int) string {
	var b strings.Builder
	n := 0
	rs := []rune(s)
	for i, r := range rs {
		piece := string(r)
		switch r {
		case '&':
			piece = "&amp;"
		case '<':
			piece = "&lt;"
		case '>':
			piece = "&gt;"
		}
		// Keep one rune for the ellipsis unless this is the last piece.
		room := max - 1
		if i == len(rs)-1 {
			room = max
		}
		if n+len([]rune(piece)) > room {
			b.WriteString("…")
			return b.String()
		}
		b.WriteString(piece)
		n += len([]rune(piece))
	}
	return b.String()
}

// cut shortens plain text to max runes, ending in an ellipsis when cut.
func cut(s string, max int) string {
	rs := []rune(s)
	if len(rs) <= max {
		return s
	}
	return string(rs[:max-1]) + "…"
}

// slackDate renders t so each reader sees their own time zone, with a UTC
// fallback for clients that cannot.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>",
		t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// fmtDuration writes d as people do: 90m, 2h, 1h30m, 1d2h.
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "the default duration"
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Minute)
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	return b.String()
}

func mention(user string) string {
	if user == "" {
		return "someone"
	}
	return "<@" + user + ">"
}

func code(id string) string { return "`" + escapeLimit(id, 80) + "`" }

func accessName(resource, role string) string {
	return "*" + escapeLimit(resource, 200) + " / " + escapeLimit(role, 200) + "*"
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func plain(s string, max int) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, cut(s, max), false, false)
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(mrkdwn(cut(text, maxSectionText)), nil, nil)
}

func button(actionID, label, value string, style slack.Style) *slack.ButtonBlockElement {
	btn := slack.NewButtonBlockElement(actionID, cut(value, maxButtonValue),
		plain(label, 75))
	btn.Style = style
	return btn
}

// approvalBlocks renders the approval message: who asks for what and why,
// the vote count and buttons while pending, the outcome once final.
func approvalBlocks(req store.Request) []slack.Block {
	fields := []*slack.TextBlockObject{
		mrkdwn("*Requester*\n" + mention(req.Requester)),
		mrkdwn("*Access*\n" + accessName(req.Resource, req.Role)),
		mrkdwn("*Duration*\n" + fmtDuration(req.Duration)),
		mrkdwn("*Request*\n" + code(req.ID)),
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(approvalTitle(req), maxHeader)),
		slack.NewSectionBlock(nil, fields, nil),
		section("*Reason*\n" + reasonText(req.Reason)),
		slack.NewContextBlock("status", mrkdwn(cut(approvalStatus(req), maxField))),
	}
	if req.PolicyVersion != "" {
		// The request keeps the rules it was made under, whatever the
		// policy says later; name them so approvers know which apply.
		blocks = append(blocks, slack.NewContextBlock("policy",
			mrkdwn("Under policy "+code(req.PolicyVersion)+
				", the one in force when this was requested")))
	}
	if req.State == store.RequestPending {
		blocks = append(blocks, slack.NewActionBlock("decision",
			button(actApprove, "Approve", req.ID, slack.StylePrimary),
			button(actDeny, "Deny", req.ID, slack.StyleDanger)))
	}
	return blocks
}

func reasonText(reason string) string {
	if strings.TrimSpace(reason) == "" {
		return "_none given_"
	}
	return escapeLimit(reason, maxReason)
}

func approvalTitle(req store.Request) string {
	switch {
	case req.BreakGlass:
		return "🚨 Break-glass access"
	case req.AutoApproved:
		return "Access request (auto-approved)"
	case req.ExtendsGrant != "":
		return "Access extension request"
	}
	return "Access request"
}

// approvalStatus is the line under the request: progress while pending,
// the outcome and who decided once final.
func approvalStatus(req store.Request) string {
	at := slackDate(req.DecidedAt)
	switch req.State {
	case store.RequestPending:
		need := max(req.ApprovalsRequired, 1)
		return fmt.Sprintf("⏳ %d of %d approvals · waiting until %s",
			len(req.Approvals()), need, slackDate(req.ExpiresAt))
	case store.RequestApproved:
		if req.BreakGlass {
			return "🚨 Break-glass: granted without approval at " + at
		}
		if req.AutoApproved || req.DecidedBy == "policy" {
			return "✅ Auto-approved by policy" + ruleSuffix(req.AutoRule) + " at " + at
		}
		return "✅ Approved by " + approvedBy(req) + " at " + at
	case store.RequestDenied:
		return "⛔ Denied by " + mention(req.DecidedBy) + " at " + at
	case store.RequestExpired:
		return "⌛ Expired without a decision at " + at
	case store.RequestCancelled:
		return "🚫 Cancelled by " + mention(req.DecidedBy) + " at " + at
	}
	return "State: " + escapeLimit(string(req.State), 40)
}

// approvedBy names everyone whose approval counted, in the order they gave
// it, ending with the one who closed the request.
func approvedBy(req store.Request) string {
	users := req.Approvals()
	if req.DecidedBy != "" && !slices.Contains(users, req.DecidedBy) {
		users = append(users, req.DecidedBy)
	}
	if len(users) == 0 {
		return mention("")
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = mention(u)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func ruleSuffix(rule string) string {
	if rule == "" {
		return ""
	}
	return " (rule " + code(rule) + ")"
}

// approvalText is the notification fallback for the approval message.
func approvalText(req store.Request) string {
	return cut(fmt.Sprintf("%s: %s asks for %s / %s for %s",
		approvalTitle(req), mention(req.Requester), req.Resource, req.Role,
		fmtDuration(req.Duration)), maxPlainText)
}

// helpBlocks lists the sub-commands; problem, when set, leads.
func helpBlocks(cmd, problem, sub string) []slack.Block {
	var lines []string
	if problem != "" {
		lines = append(lines, "⚠️ "+escapeLimit(problem, 500))
	}
	subs := usageOrder
	if sub != "" {
		subs = []string{sub}
		lines = append(lines, "Usage:")
	} else if problem != "" {
		lines = append(lines, "Usage:")
	}
	for _, s := range subs {
		lines = append(lines, "`"+escapeLimit(cmd+" "+usage[s], 200)+"`")
	}
	if sub == "" && problem == "" {
		lines = append(lines, "Durations look like `90m`, `2h` or `1d`. "+
			"`"+cmd+" request` alone opens a form.")
	}
	return []slack.Block{section(strings.Join(lines, "\n"))}
}

// listBlocks shows a user's requests and grants, newest as given.
func listBlocks(reqs []store.Request, grants []store.Grant) []slack.Block {
	var lines []string
	for _, r := range reqs {
		line := fmt.Sprintf("%s %s — %s", code(r.ID), accessName(r.Resource, r.Role),
			r.State)
		if r.State == store.RequestPending {
			line += fmt.Sprintf(" (%d of %d approvals)", len(r.Approvals()),
				max(r.ApprovalsRequired, 1))
		}
		lines = append(lines, line)
	}
	for _, g := range grants {
		line := fmt.Sprintf("%s %s — %s", code(g.ID), accessName(g.Resource, g.Role), g.State)
		if g.State.Live() {
			line += " until " + slackDate(g.ExpiresAt)
		}
		if g.BreakGlass && g.AckedBy == "" {
			line += " · 🚨 break-glass, awaiting acknowledgement"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return []slack.Block{section("You have no requests and no grants.")}
	}
	return chunkLines(lines, maxMsgBlocks)
}

// chunkLines packs lines into sections under the text limit, at most n
// blocks; what does not fit is summarised in the last block.
func chunkLines(lines []string, n int) []slack.Block {
	var blocks []slack.Block
	var cur []string
	size := 0
	for i, l := range lines {
		if size+len(l)+1 > maxSectionText-100 && len(cur) > 0 {
			if len(blocks) == n-2 {
				cur = append(cur, fmt.Sprintf("…and %d more", len(lines)-i))
				break
			}
			blocks = append(blocks, section(strings.Join(cur, "\n")))
			cur, size = nil, 0
		}
		cur = append(cur, l)
		size += len(l) + 1
	}
	return append(blocks, section(strings.Join(cur, "\n")))
}
