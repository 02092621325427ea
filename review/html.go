package review

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// HTML writes the report as one self-contained page: inline CSS and SVG
// charts, no scripts, no external references. All user text is escaped.
func (r *Report) HTML(w io.Writer) error {
	data := struct {
		*Report
		Charts            []chart
		WithoutPolicyNote string
	}{r, r.charts(), withoutPolicy}
	if err := pageTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("write review html: %w", err)
	}
	return nil
}

// chart is a horizontal bar chart laid out for the SVG template.
type chart struct {
	Title  string
	Height int
	Bars   []bar
}

type bar struct {
	Label, Value string
	Y, W         int
	Class        string
}

const (
	chartBarH  = 16
	chartWidth = 420 // width of the longest bar
)

func (r *Report) charts() []chart {
	var weeks, roles, held []series
	for _, wk := range r.Weekly {
		weeks = append(weeks, series{wk.Start.Format(day), float64(wk.Requests),
			fmt.Sprint(wk.Requests), "req"})
	}
	for _, rs := range r.RoleStats {
		roles = append(roles, series{rs.String(), float64(rs.Requests),
			fmt.Sprint(rs.Requests), "req"})
		if rs.MaxDuration == 0 {
			continue
		}
		held = append(held,
			series{rs.String() + " p95 held", float64(rs.P95Held), rs.P95Held.String(), "held"},
			series{rs.String() + " limit", float64(rs.MaxDuration), rs.MaxDuration.String(), "limit"})
	}
	return []chart{
		layout("Requests per week", weeks),
		layout("Requests per role", roles),
		layout("Held time (p95) against the limit, per role", held),
	}
}

type series struct {
	label string
	value float64
	text  string
	class string
}

func layout(title string, s []series) chart {
	top := 1.0
	for _, v := range s {
		top = max(top, v.value)
	}
	c := chart{Title: title, Height: len(s)*(chartBarH+4) + 4}
	for i, v := range s {
		c.Bars = append(c.Bars, bar{Label: v.label, Value: v.text,
			Y: 4 + i*(chartBarH+4), W: int(v.value / top * chartWidth), Class: v.class})
	}
	return c
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"day":     func(t time.Time) string { return t.Format(day) },
	"ts":      func(t time.Time) string { return t.Format(time.RFC3339) },
	"holder":  holder,
	"outcome": driftOutcome,
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Access review {{day .From}} to {{day .To}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
pre{background:#f4f4f4;padding:.5rem}.req{fill:#4a7bd0}.held{fill:#e08a2c}.limit{fill:#bbb}
svg text{font-size:11px}
</style></head><body>
<h1>Access review {{day .From}} to {{day .To}}</h1>
{{if .WithoutPolicy}}<p><em>{{.WithoutPolicyNote}}.</em></p>{{end}}
<h2>Totals</h2><table>
<tr><th>Requests</th><td>{{.Totals.Requests}}</td></tr>
<tr><th>Approved</th><td>{{.Totals.Approved}}</td></tr>
<tr><th>Denied</th><td>{{.Totals.Denied}}</td></tr>
<tr><th>Auto-approved</th><td>{{.Totals.AutoApproved}}</td></tr>
<tr><th>Expired</th><td>{{.Totals.Expired}}</td></tr>
<tr><th>Cancelled</th><td>{{.Totals.Cancelled}}</td></tr>
<tr><th>Break-glass uses</th><td>{{.Totals.BreakGlass}}</td></tr>
<tr><th>Median time to decision</th><td>{{.Totals.MedianDecision}}</td></tr>
<tr><th>Grants active at end</th><td>{{.Totals.ActiveGrants}}</td></tr>
<tr><th>Break-glass awaiting acknowledgement</th><td>{{.Totals.BreakGlassUnacked}}</td></tr>
<tr><th>Late revocations</th><td>{{.Totals.LateRevocations}}</td></tr>
<tr><th>Failed revocations</th><td>{{.Totals.FailedRevocations}}</td></tr>
</table>
{{range .Charts}}<h3>{{.Title}}</h3>
<svg width="900" height="{{.Height}}" role="img">
{{range .Bars}}<text x="0" y="{{.Y}}" dy="12">{{.Label}}</text>
<rect x="300" y="{{.Y}}" width="{{.W}}" height="16" class="{{.Class}}"></rect>
<text x="{{.W}}" y="{{.Y}}" dx="306" dy="12">{{.Value}}</text>
{{end}}</svg>
{{end}}
<h2>1. Automate</h2>{{range .Automate}}
<p><b>{{.Requester}}</b> asked for <b>{{.Resource}}/{{.Role}}</b> {{.Asks}} times
({{.Approved}} approved, none denied) from {{day .First}} to {{day .Last}};
approvers {{range $i, $a := .Approvers}}{{if $i}}, {{end}}{{$a}}{{end}};
p95 requested {{.P95Requested}}.{{if .Existing}} Rule {{.Existing}} already lists them.{{end}}</p>
<pre>{{.YAML}}</pre>{{else}}<p>None.</p>{{end}}
<h2>2. One-off escalations</h2>{{if .OneOffRoles}}<ul>{{range .OneOffRoles}}
<li>{{.Resource}}/{{.Role}}: {{.Count}} request(s){{range .Asks}}; {{.RequestID}} by {{.User}} on {{day .Time}}{{end}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h3>Break-glass</h3>{{if .BreakGlass}}<ul>{{range .BreakGlass}}
<li>{{.User}} on {{.Resource}}/{{.Role}} at {{ts .Time}}: {{.Reason}};
{{if .AckedBy}}acknowledged by {{.AckedBy}}{{else}}<b>not acknowledged</b>{{end}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h3>Denials</h3>{{if .Denials}}<table><tr><th>Request</th><th>Requester</th><th>Role</th><th>Approver</th><th>Date</th><th>Reason</th><th>Note</th></tr>{{range .Denials}}
<tr><td>{{.RequestID}}</td><td>{{.Requester}}</td><td>{{.Resource}}/{{.Role}}</td><td>{{.Approver}}</td><td>{{day .Time}}</td><td>{{.Reason}}</td><td>{{.Note}}</td></tr>{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>3. Stale</h2>{{if .WithoutPolicy}}<p>Left out: needs the policy.</p>{{else}}<ul>
<li>Roles nobody requested: {{range .StaleRoles}}{{.Resource}}/{{.Role}} {{else}}none{{end}}</li>
<li>Approvers who never decided: {{range .IdleApprovers}}{{.}} {{else}}none{{end}}</li>
<li>Providers never used: {{range .UnusedProviders}}{{.}} {{else}}none{{end}}</li></ul>{{end}}
<h2>4. Tighten</h2>{{if .WithoutPolicy}}<p>Left out: needs the policy.</p>{{else if .Tighten}}<ul>{{range .Tighten}}
<li>{{.Resource}}/{{.Role}}: {{.Grants}} grants ended ({{.ReleasedEarly}} released early), p95 held {{.P95Held}} against {{.MaxDuration}}; suggest max_duration {{.Suggested}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>5. Rubber stamps</h2>{{if or .QuickApprovals .AlwaysApprove .WeakReasons}}<ul>{{range .QuickApprovals}}
<li>{{.Approver}} approved {{.Count}} request(s) within 30 s (fastest {{.Fastest}})</li>{{end}}{{range .AlwaysApprove}}
<li>{{.Approver}} approved all {{.Decisions}} of their decisions</li>{{end}}{{range .WeakReasons}}
<li>Reason “{{.Reason}}” ({{.Why}}) used {{.Count}} time(s)</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
<h2>6. Revocation health</h2>{{if or .LateRevocations .FailedRevokes .Drift}}<ul>{{range .LateRevocations}}
<li>Late: {{.GrantID}} ({{.Resource}}/{{.Role}}, {{holder .User}}) revoked {{.Late}} after expiry at {{ts .Time}}</li>{{end}}{{range .FailedRevokes}}
<li>Failed: {{.GrantID}} ({{.Resource}}/{{.Role}}, {{holder .User}}) {{.Attempts}} attempt(s), last error {{.LastError}}; {{if .Resolved}}revoked at {{ts .ResolvedAt}}{{else}}<b>still failing</b>{{end}}</li>{{end}}{{range .Drift}}
<li>Drift on {{.Where}}: principal {{.Principal}} held {{.Target}} without a live grant on {{day .Time}}; {{outcome .}}</li>{{end}}</ul>{{else}}<p>None.</p>{{end}}
</body></html>
`
