package review

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write review json: %w", err)
	}
	return nil
}

const day = "2006-01-02"

// Markdown writes the report as a Markdown document. User text (reasons,
// notes, errors) is escaped so it cannot add markup.
func (r *Report) Markdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Access review %s to %s\n\n", r.From.Format(day), r.To.Format(day))
	if r.WithoutPolicy {
		p("_%s._\n\n", withoutPolicy)
	}
	r.mdTotals(p)
	r.mdAutomate(p)
	r.mdOneOff(p)
	r.mdStale(p)
	r.mdTighten(p)
	r.mdStamps(p)
	r.mdRevocations(p)
	if len(r.Omitted) > 0 {
		p("\n_Lists were cut; entries left out: %s._\n", mdEsc(fmt.Sprint(r.Omitted)))
	}
	if err := b.Flush(); err != nil {
		return fmt.Errorf("write review markdown: %w", err)
	}
	return nil
}

type printf func(format string, args ...any)

func (r *Report) mdTotals(p printf) {
	t := r.Totals
	p("## Totals\n\n| | |\n| --- | --: |\n")
	rows := []struct {
		k string
		v any
	}{
		{"Requests", t.Requests}, {"Approved", t.Approved}, {"Denied", t.Denied},
		{"Auto-approved", t.AutoApproved}, {"Expired", t.Expired},
		{"Cancelled", t.Cancelled}, {"Break-glass uses", t.BreakGlass},
		{"Median time to decision", t.MedianDecision},
		{"Grants active at end", t.ActiveGrants},
		{"Break-glass awaiting acknowledgement", t.BreakGlassUnacked},
		{"Late revocations", t.LateRevocations},
		{"Failed revocations", t.FailedRevocations},
	}
	for _, row := range rows {
		p("| %s | %v |\n", row.k, row.v)
	}
}

func (r *Report) mdAutomate(p printf) {
	p("\n## 1. Automate\n\n")
	if len(r.Automate) == 0 {
		p("No requester asked for one role often enough with no denial.\n")
	}
	for _, c := range r.Automate {
		p("- **%s** asked for **%s** %d times (%d approved, none denied) "+
			"between %s and %s; approvers: %s; p95 requested %s.\n",
			mdEsc(c.Requester), mdEsc(c.String()), c.Asks, c.Approved,
			c.First.Format(day), c.Last.Format(day),
			mdEsc(strings.Join(c.Approvers, ", ")), c.P95Requested)
		if c.Existing != "" {
			p("  Rule `%s` already lists them; check its window.\n", mdCode(c.Existing))
		}
		p("\n  ```yaml\n%s  ```\n", indent(c.YAML, "  "))
	}
}

// none says "None." for a list with no entries.
func none(p printf, n int) {
	if n == 0 {
		p("None.\n")
	}
}

func (r *Report) mdOneOff(p printf) {
	p("\n## 2. One-off escalations\n\n")
	none(p, len(r.OneOffRoles))
	for _, ra := range r.OneOffRoles {
		p("- **%s** requested %d time(s):", mdEsc(ra.String()), ra.Count)
		for _, a := range ra.Asks {
			p(" %s by %s on %s;", mdEsc(a.RequestID), mdEsc(a.User), a.Time.Format(day))
		}
		p("\n")
	}
	p("\n### Break-glass\n\n")
	none(p, len(r.BreakGlass))
	for _, u := range r.BreakGlass {
		ack := "**not acknowledged**"
		if u.AckedBy != "" {
			ack = "acknowledged by " + mdEsc(u.AckedBy) + " at " + u.AckedAt.Format(time.RFC3339)
		}
		p("- %s on %s at %s (%s): %s; %s\n", mdEsc(u.User), mdEsc(u.String()),
			u.Time.Format(time.RFC3339), mdEsc(u.GrantID), mdEsc(u.Reason), ack)
	}
	p("\n### Denials\n\n")
	none(p, len(r.Denials))
	for _, d := range r.Denials {
		p("- %s: %s asked for %s, denied by %s on %s. Reason: \"%s\"", mdEsc(d.RequestID),
			mdEsc(d.Requester), mdEsc(d.String()), mdEsc(d.Approver),
			d.Time.Format(day), mdEsc(d.Reason))
		if d.Note != "" {
			p(" Note: \"%s\"", mdEsc(d.Note))
		}
		p("\n")
	}
}

// withoutPolicy says what a review made without the policy leaves out.
const withoutPolicy = "Made without the policy: stale roles, approvers and " +
	"providers and the limits to tighten are left out"

func (r *Report) mdStale(p printf) {
	p("\n## 3. Stale\n\n")
	if r.WithoutPolicy {
		p("Left out: needs the policy.\n")
		return
	}
	keys := make([]string, len(r.StaleRoles))
	for i, k := range r.StaleRoles {
		keys[i] = k.String()
	}
	p("- Roles nobody requested: %s\n", mdList(keys))
	p("- Approvers who never decided: %s\n", mdList(r.IdleApprovers))
	p("- Providers never used: %s\n", mdList(r.UnusedProviders))
}

func (r *Report) mdTighten(p printf) {
	p("\n## 4. Tighten\n\n")
	if r.WithoutPolicy {
		p("Left out: needs the policy.\n")
		return
	}
	none(p, len(r.Tighten))
	for _, t := range r.Tighten {
		p("- **%s**: %d grants ended (%d released early); p95 held %s against "+
			"max_duration %s. Suggest `max_duration: %s`.\n", mdEsc(t.String()),
			t.Grants, t.ReleasedEarly, t.P95Held, t.MaxDuration, t.Suggested)
	}
}

func (r *Report) mdStamps(p printf) {
	p("\n## 5. Rubber stamps\n\n")
	none(p, len(r.QuickApprovals)+len(r.AlwaysApprove)+len(r.WeakReasons))
	for _, q := range r.QuickApprovals {
		p("- %s approved %d request(s) within 30 s (fastest %s), e.g. %s\n",
			mdEsc(q.Approver), q.Count, q.Fastest, mdEsc(strings.Join(q.Examples, "; ")))
	}
	for _, a := range r.AlwaysApprove {
		p("- %s approved all %d of their decisions\n", mdEsc(a.Approver), a.Decisions)
	}
	for _, wr := range r.WeakReasons {
		p("- Reason \"%s\" (%s) used %d time(s) by %s\n", mdEsc(wr.Reason), wr.Why,
			wr.Count, mdEsc(strings.Join(wr.Users, ", ")))
	}
}

func (r *Report) mdRevocations(p printf) {
	p("\n## 6. Revocation health\n\n")
	none(p, len(r.LateRevocations)+len(r.FailedRevokes)+len(r.Drift))
	for _, l := range r.LateRevocations {
		p("- Late: %s (%s, %s) revoked %s after expiry on %s\n", mdEsc(l.GrantID),
			mdEsc(l.String()), mdEsc(holder(l.User)), l.Late, l.Time.Format(time.RFC3339))
	}
	for _, f := range r.FailedRevokes {
		state := "**still failing**"
		if f.Resolved {
			state = "revoked at " + f.ResolvedAt.Format(time.RFC3339)
		}
		p("- Failed: %s (%s, %s) %d attempt(s) from %s, last error \"%s\"; %s\n",
			mdEsc(f.GrantID), mdEsc(f.String()), mdEsc(holder(f.User)), f.Attempts,
			f.First.Format(time.RFC3339), mdEsc(f.LastError), state)
	}
	for _, d := range r.Drift {
		p("- Drift on %s: principal %s held %s without a live grant on %s; %s\n",
			mdEsc(d.Where()), mdEsc(d.Principal), mdEsc(d.Target),
			d.Time.Format(day), driftOutcome(d))
	}
}

// holder names a grant's holder, or says the trail did not.
func holder(user string) string {
	if user == "" {
		return "holder unknown"
	}
	return user
}

func driftOutcome(d Drift) string {
	if d.Revoked {
		return "removed by reconcile"
	}
	return "reported, not removed"
}

// mdEscaper turns user text into inline Markdown that renders as the text
// itself, in a paragraph, a list item or a table cell: punctuation that
// could start markup is backslash-escaped, "&" and angle brackets become
// entities, and line breaks become spaces so the text stays on its line.
var mdEscaper = strings.NewReplacer(
	`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`,
	"~", `\~`, "|", `\|`, "#", `\#`,
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ")

// mdEsc escapes s once with mdEscaper; print the result with %s, never %q,
// which would escape the backslashes again.
func mdEsc(s string) string { return mdEscaper.Replace(s) }

func mdCode(s string) string { return strings.ReplaceAll(s, "`", "'") }

func mdList(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return mdEsc(strings.Join(s, ", "))
}

func indent(s, pre string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(pre + l)
		}
	}
	return b.String()
}
