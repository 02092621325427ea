package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const basePolicy = `
admins: [U0ADMIN, ops-lead@example.com, group:security]
security_channel: C0SEC
groups:
  oncall: [U0ONCALL, alice@example.com, S0ONCALL]
  dba: [S0DBA]
  security: [S0SEC]
  pair: [U0DBA1, U0DBA2]
defaults:
  max_duration: 4h
  default_duration: 1h
  approval_timeout: 30m
  approvals: 1
  warn_before: 10m
  remind_after: 10m
  escalate_after: 30m
  channel: C0DEFAULT
  reason: {min_length: 10}
resources:
  prod-db:
    description: Production PostgreSQL
    provider: pg-prod
    principal: "{{ .EmailLocal }}"
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVALS
        approvers: [group:dba]
        backup_approvers: [U0BACKUP]
        requesters: [group:oncall, "*"]
        max_duration: 2h
        reason: {min_length: 10, pattern: "(INC|CHG)-[0-9]+", hint: a ticket reference}
        auto_approve:
          - name: oncall-business-hours
            requesters: [group:oncall]
            max_duration: 1h
            window: {days: [mon,tue,wed,thu,fri], start: "09:00", end: "18:00",
                     timezone: Europe/Berlin}
        break_glass: {enabled: true, max_duration: 30m, channel: C0SECURITY}
      admin:
        approvers: [group:pair]
        approvals: 2
        requesters: [group:oncall, group:dba]
        escalate_after: 0s
  build:
    provider: exec-ci
    principal: "{{ .UserID }}"
    roles:
      deploy:
        approvers: [U0ALICE]
        requesters: [U0BOB, U0ALICE]
        auto_approve:
          - name: night-shift
            window: {start: "22:00", end: "06:00", timezone: UTC}
      solo:
        approvers: [U0ALICE]
        escalate_after: 0s
`

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestParseBuildsRules(t *testing.T) {
	p := mustParse(t, basePolicy)

	want := map[string][]string{
		"prod-db": {"admin", "readonly"},
		"build":   {"deploy", "solo"},
	}
	if got := p.Catalog(); !reflect.DeepEqual(got, want) {
		t.Errorf("Catalog() = %v, want %v", got, want)
	}

	r, ok := p.Rules("prod-db", "readonly")
	if !ok {
		t.Fatal("Rules(prod-db, readonly) not found")
	}
	wantRules := Rules{
		Resource: "prod-db", Role: "readonly", Provider: "pg-prod", Target: "app_readonly",
		PrincipalTemplate: "{{ .EmailLocal }}",
		MinDuration:       time.Minute, MaxDuration: 2 * time.Hour, DefaultDuration: time.Hour,
		Channel: "C0APPROVALS", Approvers: []Ref{"S0DBA"}, BackupApprovers: []Ref{"U0BACKUP"},
		Approvals: 1, ApprovalTimeout: 30 * time.Minute, WarnBefore: 10 * time.Minute,
		RemindAfter: 10 * time.Minute, EscalateAfter: 30 * time.Minute,
		SecurityChannel: "C0SECURITY",
	}
	if !reflect.DeepEqual(r, wantRules) {
		t.Errorf("Rules =\n%+v\nwant\n%+v", r, wantRules)
	}

	deploy, _ := p.Rules("build", "deploy")
	if deploy.Target != "deploy" || deploy.Channel != "C0DEFAULT" ||
		deploy.SecurityChannel != "C0SEC" {
		t.Errorf("inherited rules wrong: target %q channel %q security %q",
			deploy.Target, deploy.Channel, deploy.SecurityChannel)
	}
	if _, ok := p.Rules("prod-db", "nope"); ok {
		t.Error("Rules of an unknown role reported found")
	}
}

func TestRulesSnapshotIsACopyAndRoundTrips(t *testing.T) {
	p := mustParse(t, basePolicy)
	r, _ := p.Rules("prod-db", "admin")
	r.Approvers[0] = "U0MALLORY"
	again, _ := p.Rules("prod-db", "admin")
	if again.Approvers[0] != "U0DBA1" {
		t.Fatalf("changing a snapshot changed the policy: %v", again.Approvers)
	}

	b, err := again.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalRules(b)
	if err != nil || !reflect.DeepEqual(back, again) {
		t.Fatalf("round trip = %+v, %v; want %+v", back, err, again)
	}
}

func TestVersion(t *testing.T) {
	p := mustParse(t, basePolicy)
	reordered := mustParse(t, "# a comment\n"+strings.Replace(basePolicy,
		"admins: [U0ADMIN, ops-lead@example.com, group:security]\nsecurity_channel: C0SEC",
		"security_channel:   C0SEC\nadmins:\n  - U0ADMIN\n  - ops-lead@example.com\n  - group:security",
		1))
	changed := mustParse(t, strings.Replace(basePolicy, "max_duration: 2h", "max_duration: 3h", 1))

	if p.Version() == "" || len(p.Version()) > 16 {
		t.Errorf("Version() = %q, want a short hash", p.Version())
	}
	if p.Version() != reordered.Version() {
		t.Errorf("layout changed the version: %s vs %s", p.Version(), reordered.Version())
	}
	if p.Version() == changed.Version() {
		t.Error("a content change kept the version")
	}
}

func TestFromMap(t *testing.T) {
	m := map[string]any{
		"groups": map[string]any{"ops": []any{"U0OPS"}},
		"resources": map[string]any{"box": map[string]any{
			"provider": "shell",
			"roles": map[string]any{"root": map[string]any{
				"channel": "C0OPS", "approvers": []any{"group:ops"}, "max_duration": "2h",
			}},
		}},
	}
	p, err := FromMap(m)
	if err != nil {
		t.Fatalf("FromMap: %v", err)
	}
	r, ok := p.Rules("box", "root")
	if !ok || r.MaxDuration != 2*time.Hour || !reflect.DeepEqual(r.Approvers, []Ref{"U0OPS"}) {
		t.Errorf("Rules = %+v, %v", r, ok)
	}
}

// oneRole wraps one role's YAML into a minimal valid policy.
func oneRole(body string) string {
	return "groups: {ops: [U0OPS1, U0OPS2]}\nresources:\n  db:\n    provider: pg\n" +
		"    roles:\n      ro:\n        channel: C0X\n" + indent(body, "        ")
}

func indent(s, pad string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestParseReportsProblemsWithKeyPath(t *testing.T) {
	const ro = "resources.db.roles.ro"
	tests := []struct {
		name      string
		doc       string
		field     string
		inMessage string
	}{
		{"unknown key", oneRole("approvers: [U01]\naprovals: 2"), ro + ".aprovals", "unknown key"},
		{"unknown group", oneRole("approvers: [group:dbas]"), ro + ".approvers[0]", `unknown group "dbas"`},
		{"no approvers", oneRole("requesters: ['*']"), ro + ".approvers", "nobody could approve"},
		{"more approvals than people", oneRole("approvers: [group:ops]\napprovals: 3"),
			ro + ".approvals", "only 2 approver"},
		{"over hard cap", oneRole("approvers: [U01]\nmax_duration: 25h"), ro + ".max_duration",
			"hard cap of 24h"},
		{"over own hard cap", "hard_cap: 8h\n" + oneRole("approvers: [U01]\nmax_duration: 9h"),
			ro + ".max_duration", "hard cap of 8h"},
		{"default over max", oneRole("approvers: [U01]\nmax_duration: 1h\ndefault_duration: 2h"),
			ro + ".default_duration", "longer than max_duration"},
		{"bad duration", oneRole("approvers: [U01]\nmax_duration: 2 hours"), ro + ".max_duration",
			"not a duration"},
		{"zero duration", oneRole("approvers: [U01]\nmax_duration: 0s"), ro + ".max_duration",
			"greater than zero"},
		{"bad reason pattern", oneRole("approvers: [U01]\nreason: {pattern: '(INC'}"),
			ro + ".reason.pattern", "does not compile"},
		{"bad timezone", oneRole("approvers: [U01]\nauto_approve:\n- name: a\n  window: " +
			"{start: '09:00', end: '17:00', timezone: Mars/Olympus}"),
			ro + ".auto_approve[0].window.timezone", "unknown time zone"},
		{"bad day", oneRole("approvers: [U01]\nauto_approve:\n- name: a\n  window: " +
			"{days: [mon, funday], start: '09:00', end: '17:00'}"),
			ro + ".auto_approve[0].window.days[1]", "unknown day"},
		{"empty window", oneRole("approvers: [U01]\nauto_approve:\n- name: a\n  window: " +
			"{start: '09:00', end: '09:00'}"), ro + ".auto_approve[0].window.end", "empty"},
		{"auto rule without name", oneRole("approvers: [U01]\nauto_approve:\n- max_duration: 1h"),
			ro + ".auto_approve[0].name", "missing"},
		{"break-glass over cap", oneRole("approvers: [U01]\nbreak_glass: " +
			"{enabled: true, max_duration: 5h, channel: C0SEC}"),
			ro + ".break_glass.max_duration", "break-glass cap of 4h"},
		{"break-glass without channel", oneRole("approvers: [U01]\nbreak_glass: {enabled: true}"),
			ro + ".break_glass.channel", "security alert"},
		{"bad ref", oneRole("approvers: [alice]"), ro + ".approvers[0]", `unknown reference "alice"`},
		{"anyone as approver", oneRole("approvers: ['*']"), ro + ".approvers[0]",
			"only allowed in requesters"},
		{"wrong type", oneRole("approvers: [U01]\napprovals: two"), ro + ".approvals",
			`whole number of approvers, such as 2, not "two"`},
		{"nested group", "groups: {a: [U01], b: [group:a]}\nresources: {db: {provider: p, " +
			"roles: {ro: {channel: C1, approvers: [U01]}}}}",
			"groups.b[0]", "lists people"},
		{"missing provider", "resources: {db: {roles: {ro: {channel: C1, approvers: [U01]}}}}",
			"resources.db.provider", "missing"},
		{"bad principal", "resources: {db: {provider: p, principal: '{{ .Name }}', " +
			"roles: {ro: {channel: C1, approvers: [U01]}}}}", "resources.db.principal", "Name"},
		{"no channel", "resources: {db: {provider: p, roles: {ro: {approvers: [U01]}}}}",
			ro + ".channel", "missing"},
		{"empty policy", "", "resources", "no resources"},
		{"syntax error", "resources: [", "", "yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			for _, p := range ve.Problems {
				if p.Field == tc.field && strings.Contains(p.Message, tc.inMessage) {
					return
				}
			}
			t.Errorf("no problem %s: …%s…; got %+v", tc.field, tc.inMessage, ve.Problems)
		})
	}
}

func TestParseListsEveryProblem(t *testing.T) {
	doc := oneRole("approvers: [group:nope]\nmax_duration: 48h\nreason: {pattern: '['}\ncolour: red")
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want *ValidationError", err)
	}
	fields := map[string]bool{}
	for _, p := range ve.Problems {
		fields[p.Field] = true
	}
	for _, f := range []string{"approvers[0]", "max_duration", "reason.pattern", "colour"} {
		if !fields["resources.db.roles.ro."+f] {
			t.Errorf("missing problem for %s in %+v", f, ve.Problems)
		}
	}
}

func TestInheritedProblemIsReportedOnce(t *testing.T) {
	doc := "defaults: {max_duration: 30h}\n" + oneRole("approvers: [U01]") +
		"      rw:\n        channel: C0X\n        approvers: [U01]\n"
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 ||
		ve.Problems[0].Field != "defaults.max_duration" {
		t.Fatalf("err = %v, want one problem at defaults.max_duration", err)
	}
}

func TestValidateChecksProviders(t *testing.T) {
	p := mustParse(t, basePolicy)
	if got := p.Validate(nil); len(got) != 0 {
		t.Errorf("Validate(nil) = %v, want none", got)
	}
	got := p.Validate(map[string]bool{"pg-prod": true})
	want := []Problem{{
		Field:   "resources.build.provider",
		Message: `unknown provider "exec-ci"; configured: pg-prod`,
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Validate = %+v\nwant %+v", got, want)
	}
}
