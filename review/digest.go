package review

import (
	"fmt"
	"strings"
	"time"
)

// DigestSummary is the week in numbers, for a short Slack message.
type DigestSummary struct {
	From, To time.Time
	// Loc is the time zone dates are shown in.
	Loc    *time.Location
	Totals Totals
	// Top lists up to three automation candidates.
	Top []Candidate
}

// Digest reviews the 7 days before now (calendar days in loc, so a DST
// change does not shift the window) and keeps what fits a Slack message.
// A nil loc means UTC.
func Digest(
	src Source, p PolicyView, now time.Time, loc *time.Location,
) (*DigestSummary, error) {
	if loc == nil {
		loc = time.UTC
	}
	to := now.In(loc)
	from := to.AddDate(0, 0, -7)
	r, err := Analyze(src, p, from, to)
	if err != nil {
		return nil, fmt.Errorf("weekly digest to %s: %w", to.Format(time.RFC3339), err)
	}
	d := &DigestSummary{From: from, To: to, Loc: loc, Totals: r.Totals}
	d.Top = r.Automate[:min(3, len(r.Automate))]
	return d, nil
}

// Text renders the digest as Slack mrkdwn, a dozen lines at most. User
// ids are rendered as mentions; nothing else from users is included.
func (d *DigestSummary) Text() string {
	t := d.Totals
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("*Access digest %s – %s*", d.From.Format("Mon 2 Jan"), d.To.Format("Mon 2 Jan"))
	p("• %d requests: %d approved, %d denied, %d auto-approved, %d expired",
		t.Requests, t.Approved, t.Denied, t.AutoApproved, t.Expired)
	p("• Median time to decision: %s", t.MedianDecision)
	p("• Active grants now: %d", t.ActiveGrants)
	p("• Revocations: %d failed, %d late", t.FailedRevocations, t.LateRevocations)
	p("• Break-glass: %d used, %d awaiting acknowledgement", t.BreakGlass,
		t.BreakGlassUnacked)
	if len(d.Top) > 0 {
		p("*Could be auto-approved:*")
	}
	for _, c := range d.Top {
		p("• <@%s> on `%s`: %d asks, never denied, up to %s", slackSafe(c.Requester),
			slackSafe(c.String()), c.Asks, c.MaxDuration)
	}
	p("Full report: run `jitbot review` or `/jit review`.")
	return b.String()
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "'")

// slackSafe escapes the characters Slack's mrkdwn treats as control ones.
func slackSafe(s string) string { return slackEscaper.Replace(s) }
