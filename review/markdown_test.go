package review

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// mdUnescape reads inline Markdown text back the way a CommonMark renderer
// shows it, for text made by mdEsc: a backslash before punctuation is the
// punctuation itself and the entities are their characters. It fails on a
// character that would start markup, or split a table cell, unescaped.
func mdUnescape(s string) (string, error) {
	entities := map[string]string{"&amp;": "&", "&lt;": "<", "&gt;": ">"}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && strings.IndexByte(mdPunct, s[i+1]) >= 0:
			i++
			b.WriteByte(s[i])
		case c == '&':
			end := strings.IndexByte(s[i:], ';')
			ent, ok := "", false
			if end > 0 {
				ent, ok = entities[s[i:i+end+1]]
			}
			if !ok {
				return "", fmt.Errorf("bare & at %d in %q", i, s)
			}
			b.WriteString(ent)
			i += end
		case strings.IndexByte("\\`*_[]~|#<>\n", c) >= 0:
			return "", fmt.Errorf("unescaped %q at %d in %q", c, i, s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

const mdPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// quoted returns the text between `label "` and the next `"` in md.
func quoted(t *testing.T, md, label string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, label+` "`)
	if !ok {
		t.Fatalf("markdown has no %s:\n%s", label, md)
	}
	text, _, ok := strings.Cut(rest, `"`)
	if !ok {
		t.Fatalf("%s is not closed:\n%s", label, md)
	}
	return text
}

func TestMarkdownShowsUserTextAsWritten(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	texts := map[string]string{
		"Reason:":    `**b** | c \ d <i>x</i> & _e_ [l](u) ~~s~~ #1 ` + "`code`",
		"Note:":      "a | b | c\nsecond line with *stars*",
		"last error": `pq: role 'x_ro' does not exist \n *`,
	}
	r := &Report{From: t0, To: t0.AddDate(0, 0, 7),
		Denials: []Denial{{RoleKey: RoleKey{"prod-db", "readonly"}, RequestID: "r1",
			Requester: "U1", Approver: "U2", Time: t0,
			Reason: texts["Reason:"], Note: texts["Note:"]}},
		FailedRevokes: []FailedRevocation{{RoleKey: RoleKey{"prod-db", "readonly"},
			GrantID: "g1", Attempts: 2, LastError: texts["last error"], First: t0}},
	}
	var b strings.Builder
	if err := r.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for label, want := range texts {
		esc := quoted(t, md, label)
		got, err := mdUnescape(esc)
		if err != nil {
			t.Errorf("%s: %v", label, err)
			continue
		}
		// A renderer shows a line break in user text as a space.
		if want = strings.ReplaceAll(want, "\n", " "); got != want {
			t.Errorf("%s renders as\n%q\nwant\n%q", label, got, want)
		}
		// In a table cell the text stays one cell.
		row := "| " + esc + " |"
		if cells := len(strings.Split(strings.ReplaceAll(row, `\|`, ""), "|")); cells != 3 {
			t.Errorf("%s splits a table row into %d cells: %s", label, cells-2, row)
		}
	}
}

func TestMdUnescapeCatchesMarkup(t *testing.T) {
	for _, s := range []string{`**b**`, `\\*\\*b`, `a | b`, `<i>`, `a & b`} {
		if got, err := mdUnescape(s); err == nil {
			t.Errorf("mdUnescape(%q) = %q, want an error", s, got)
		}
	}
}

func TestReviewWithoutPolicySaysWhatIsLeftOut(t *testing.T) {
	m, p := generated(t, GenOptions{Seed: 7, Days: 14})
	with, err := Analyze(m, p.Policy, p.Start, p.End)
	if err != nil {
		t.Fatal(err)
	}
	without, err := Analyze(m, nil, p.Start, p.End)
	if err != nil {
		t.Fatal(err)
	}
	if with.WithoutPolicy || !without.WithoutPolicy {
		t.Fatalf("WithoutPolicy: %v with the policy, %v without",
			with.WithoutPolicy, without.WithoutPolicy)
	}
	if len(with.StaleRoles) == 0 {
		t.Fatal("the planted stale role is not found with the policy")
	}

	render := func(r *Report) (md, html string) {
		var a, b strings.Builder
		if err := r.Markdown(&a); err != nil {
			t.Fatal(err)
		}
		if err := r.HTML(&b); err != nil {
			t.Fatal(err)
		}
		return a.String(), b.String()
	}
	md, html := render(without)
	for _, page := range []string{md, html} {
		if !strings.Contains(page, "Made without the policy") ||
			!strings.Contains(page, "Left out: needs the policy.") ||
			strings.Contains(page, "Roles nobody requested") {
			t.Errorf("a review without the policy does not say what it left out:\n%.900s",
				page)
		}
	}
	md, html = render(with)
	for _, page := range []string{md, html} {
		if strings.Contains(page, "without the policy") ||
			!strings.Contains(page, "Roles nobody requested: ") ||
			!strings.Contains(page, p.StaleRole.String()) {
			t.Errorf("a review with the policy lacks its stale role:\n%.900s", page)
		}
	}
}

func TestGenerateStartsWhereAsked(t *testing.T) {
	start := time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)
	m, p := generated(t, GenOptions{Seed: 2, Start: start, Days: 10})
	if !p.Start.Equal(start) || !p.End.Equal(start.AddDate(0, 0, 10)) {
		t.Fatalf("planted period %s to %s, want 10 days from %s", p.Start, p.End, start)
	}
	if len(m) == 0 || len(m) != p.Events {
		t.Fatalf("wrote %d events, planted says %d", len(m), p.Events)
	}
	for _, e := range m {
		if e.Time.Before(p.Start) || !e.Time.Before(p.End) {
			t.Fatalf("event %d at %s is outside %s to %s", e.Seq, e.Time, p.Start, p.End)
		}
	}
	r, err := Analyze(m, p.Policy, p.Start, p.End)
	if err != nil {
		t.Fatal(err)
	}
	if r.Totals.Requests != p.Requests {
		t.Errorf("review counts %d requests, %d were written", r.Totals.Requests, p.Requests)
	}
}

func TestGenerateRefusesNegativeSizes(t *testing.T) {
	for _, o := range []GenOptions{{Days: -5}, {PerDay: -1}} {
		var m memTrail
		if _, err := Generate(&m, o); err == nil || len(m) > 0 {
			t.Errorf("Generate(%+v) wrote %d events, err %v", o, len(m), err)
		}
	}
}
