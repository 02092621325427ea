package app

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/review"
)

// reviewSpan is how far back /jit review looks: one quarter.
const reviewSpan = 90 * 24 * time.Hour

var _ bot.Reviewer = (*App)(nil)

// Review builds the quarterly access review for /jit review: the 90 days
// up to now, read from the store and compared with the current policy.
// Only the policy's admins may see it; anyone else gets an error wrapping
// access.ErrNotAllowed. It is safe for concurrent use.
func (a *App) Review(ctx context.Context, actor string) (string, []byte, error) {
	pol := a.policy.Current()
	if err := a.requireAdmin(ctx, pol, actor); err != nil {
		return "", nil, err
	}
	to := a.clock.Now().UTC()
	rep, err := review.Analyze(a.db, PolicyView(pol), to.Add(-reviewSpan), to)
	if err != nil {
		return "", nil, fmt.Errorf("review for %s: %w", actor, err)
	}
	// The report goes to Slack: provider output stays in the log and audit.
	rep.WithoutProviderOutput()
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		return "", nil, fmt.Errorf("review for %s: %w", actor, err)
	}
	return reviewSummary(rep, actor), md.Bytes(), nil
}

func (a *App) requireAdmin(ctx context.Context, pol *policy.Policy, actor string) error {
	email, err := a.bot.Email(ctx, actor)
	if err != nil {
		return fmt.Errorf("check admin %s: %w", actor, err)
	}
	ok, err := pol.IsAdmin(ctx, a.bot, policy.Identity{UserID: actor, Email: email})
	if err != nil {
		return fmt.Errorf("check admin %s: %w", actor, err)
	}
	if !ok {
		return fmt.Errorf("review for %s: %w", actor, access.ErrNotAllowed)
	}
	return nil
}

// reviewSummary is the review's headline numbers and findings as Slack
// mrkdwn, short enough for one message. User text never appears in it.
func reviewSummary(r *review.Report, actor string) string {
	t := r.Totals
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("*Access review %s – %s* (asked by <@%s>)", r.From.Format("2 Jan 2006"),
		r.To.Format("2 Jan 2006"), actor)
	p("• %d requests: %d approved, %d denied, %d auto-approved, %d expired, %d cancelled",
		t.Requests, t.Approved, t.Denied, t.AutoApproved, t.Expired, t.Cancelled)
	p("• Median time to decision: %s", t.MedianDecision)
	p("• Break-glass: %d used, %d awaiting acknowledgement", t.BreakGlass,
		t.BreakGlassUnacked)
	p("• Revocations: %d failed, %d late", t.FailedRevocations, t.LateRevocations)
	p("*Findings:* %d to automate, %d one-off roles, %d stale roles, "+
		"%d roles to tighten, %d rubber-stamp approvers, %d weak reasons",
		len(r.Automate), len(r.OneOffRoles), len(r.StaleRoles), len(r.Tighten),
		len(r.RubberStamps()), len(r.WeakReasons))
	p("The full report is attached in the thread.")
	return b.String()
}
