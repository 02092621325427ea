package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// polConfigHead is the configuration of the policy tests up to the
// policy: the in-memory provider mem, the admin channel C0ROOM (the
// emulator's "ops"), and the audit trail copied as JSON lines to a file
// the test reads.
var polConfigHead = strings.NewReplacer(
	"admin_channel: C0ADMIN", "admin_channel: C0ROOM",
	"  path: %q\n", "  path: %q\naudit:\n  sink: AUDIT_PATH\n",
).Replace(e2eHead) + memProviders

// polTrail reads the audit trail jitbot copies to its sink. Events are
// written when their transaction commits, before anyone is told, so once a
// notice is seen in Slack its event is in the file.
type polTrail struct {
	t    *testing.T
	path string
}

func (a polTrail) events() []store.Event {
	a.t.Helper()
	f, err := os.Open(a.path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	var out []store.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev store.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			a.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

func (a polTrail) ofType(typ store.EventType) []store.Event {
	a.t.Helper()
	var out []store.Event
	for _, ev := range a.events() {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// newPolicyE2E starts jitbot with policyText as the policy section of its
// configuration.
func newPolicyE2E(t *testing.T, policyText string) (*e2e, polTrail) {
	t.Helper()
	var b strings.Builder
	b.WriteString("policy:\n")
	for line := range strings.SplitSeq(strings.Trim(policyText, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return newPolicyE2EWith(t, b.String())
}

// newPolicyFileE2E starts jitbot with its policy in a file of its own and
// returns that file's path.
func newPolicyFileE2E(t *testing.T, policyText string) (*e2e, polTrail, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	polWrite(t, path, policyText)
	e, trail := newPolicyE2EWith(t, "policy_file: "+strconv.Quote(path)+"\n")
	return e, trail, path
}

func newPolicyE2EWith(t *testing.T, tail string) (*e2e, polTrail) {
	t.Helper()
	trail := polTrail{t: t, path: filepath.Join(t.TempDir(), "audit.jsonl")}
	head := strings.Replace(polConfigHead, "AUDIT_PATH", strconv.Quote(trail.path), 1)
	return newE2EWith(t, head+tail), trail
}

func polWrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// polAt moves the fake clock forward to at.
func polAt(e *e2e, at time.Time) {
	e.t.Helper()
	if d := at.Sub(e.clock.Now()); d > 0 {
		e.clock.Advance(d)
	} else if d < 0 {
		e.t.Fatalf("cannot move the clock back to %s", at)
	}
}

func polText(m slackfake.Message) string { return readable(m.Text, m.Blocks) }

// polMessageWith returns a test for a message in channel holding substr.
func polMessageWith(e *e2e, channel, substr string) func() bool {
	return func() bool {
		_, ok := polFind(e.srv.Messages(channel), substr)
		return ok
	}
}

// polFind returns the last message of msgs holding substr.
func polFind(msgs []slackfake.Message, substr string) (slackfake.Message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(polText(msgs[i]), substr) {
			return msgs[i], true
		}
	}
	return slackfake.Message{}, false
}

// polRequest has alice ask for readonly and returns the approval message
// once jitbot has stored where it is, which it tells alice by DM: a click
// before that would find no message to update or reply to.
func polRequest(e *e2e, duration string) slackfake.Message {
	e.t.Helper()
	told := len(polDMsWith(e, alice, "waiting for approval"))
	msg := e.request(duration)
	polWaitTold(e, told)
	return msg
}

func polWaitTold(e *e2e, before int) {
	e.t.Helper()
	e.wait("alice told her request waits", func() bool {
		return len(polDMsWith(e, alice, "waiting for approval")) > before
	})
}

func polCountReplies(e *e2e, m slackfake.Message, substr string) int {
	n := 0
	for _, r := range e.srv.Replies(m.Channel, m.TS) {
		if strings.Contains(polText(r), substr) {
			n++
		}
	}
	return n
}

const polTwoApprovals = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0BOB, U0CAROL]
        approvals: 2
        max_duration: 4h
`

func TestTwoApprovalsNeedTwoDifferentApprovers(t *testing.T) {
	e, trail := newPolicyE2E(t, polTwoApprovals)
	msg := e.request("1h")
	if !strings.Contains(polText(msg), "0 of 2 approvals") {
		t.Fatalf("new approval message does not count to 2: %s", polText(msg))
	}

	// Bob clicks at once, perhaps before jitbot has stored where the message
	// is; the message must show his vote either way.
	e.click(bob, msg, "jit_approve")
	e.wait("bob's approval to be counted", e.ephemeralWith(bob, "(1 of 2)"))
	e.wait("the message to show 1 of 2", func() bool {
		m := e.message(msg)
		return hasButtons(m) && strings.Contains(polText(m), "1 of 2 approvals")
	})

	e.click(bob, msg, "jit_approve")
	e.wait("bob told his approval is in already", e.ephemeralWith(bob, "already approved"))
	if m := e.message(msg); m.Updated != 1 || !strings.Contains(polText(m), "1 of 2 approvals") {
		t.Fatalf("second click by bob changed the message (%d updates): %s",
			m.Updated, polText(m))
	}
	if n := e.mem.grantCalls(); n != 0 {
		t.Fatalf("provider granted %d times after one approver", n)
	}

	e.click(carol, msg, "jit_approve")
	e.wait("the grant", e.replyWith(msg, "Granted"))
	e.wait("the message to show who completed it", func() bool {
		m := e.message(msg)
		return !hasButtons(m) &&
			strings.Contains(polText(m), "Approved by <@"+bob+"> and <@"+carol+">")
	})
	if n := e.mem.grantCalls(); n != 1 || !e.mem.holds("alice/app_readonly") {
		t.Fatalf("provider granted %d times, want once to alice", n)
	}
	votes := trail.ofType(store.EvRequestApproval)
	if len(votes) != 1 || votes[0].Actor != bob {
		t.Fatalf("partial approvals in the audit: %+v, want one by bob", votes)
	}
	if done := trail.ofType(store.EvRequestApproved); len(done) != 1 || done[0].Actor != carol {
		t.Fatalf("approvals in the audit: %+v, want one by carol", done)
	}
}

const polAutoApprove = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0BOB]
        max_duration: 4h
        auto_approve:
          - name: office-hours
            requesters: [U0ALICE]
            max_duration: 2h
            window:
              days: [mon, tue, wed, thu, fri]
              start: "09:00"
              end: "18:00"
              timezone: Europe/Berlin
`

func TestAutoApprovalOnlyInsideItsWindow(t *testing.T) {
	utc := func(day, hour, minute int) time.Time {
		return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
	}
	tests := []struct {
		name string
		at   time.Time
		auto bool
	}{
		{"monday 10:00 in Berlin", utc(2, 9, 0), true},
		{"tuesday 09:30 in Berlin, still night in UTC", utc(3, 8, 30), true},
		{"monday 18:30 in Berlin, still office hours in UTC", utc(2, 17, 30), false},
		{"saturday noon in Berlin", utc(7, 11, 0), false},
		{"monday 18:30 in Berlin after the clocks went forward", utc(30, 16, 30), false},
		{"monday 17:30 in Berlin after the clocks went forward", utc(30, 15, 30), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, trail := newPolicyE2E(t, polAutoApprove)
			polAt(e, tc.at)
			msg := e.request("1h")
			if tc.auto {
				polCheckAutoApproved(t, e, trail, msg)
			} else {
				polCheckNeedsApproval(t, e, trail, msg)
			}
		})
	}
}

func polCheckAutoApproved(t *testing.T, e *e2e, trail polTrail, msg slackfake.Message) {
	t.Helper()
	e.wait("the grant without a click", func() bool { return e.mem.holds("alice/app_readonly") })
	if hasButtons(msg) || !strings.Contains(polText(msg), "auto-approved") {
		t.Fatalf("auto-approved request posted with buttons or unmarked: %s", polText(msg))
	}
	e.wait("the channel told", polMessageWith(e, approval, "was auto-approved"))
	auto := trail.ofType(store.EvRequestAuto)
	if len(auto) != 1 || auto[0].Details["rule"] != "office-hours" {
		t.Fatalf("audit has %+v, want one request.auto_approved by rule office-hours", auto)
	}
}

func polCheckNeedsApproval(t *testing.T, e *e2e, trail polTrail, msg slackfake.Message) {
	t.Helper()
	if !hasButtons(msg) || strings.Contains(polText(msg), "auto-approved") {
		t.Fatalf("request outside the window not put to approvers: %s", polText(msg))
	}
	polWaitTold(e, 0)
	e.click(bob, msg, "jit_approve")
	e.wait("the grant after bob's approval", e.replyWith(msg, "Granted"))
	if auto := trail.ofType(store.EvRequestAuto); len(auto) != 0 {
		t.Fatalf("audit has %+v outside the window", auto)
	}
}

const polBreakGlass = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      admin:
        target: app_admin
        channel: C0APPROVE
        approvers: [U0BOB]
        max_duration: 1h
        break_glass: {enabled: true, max_duration: 30m, channel: C0ROOM}
`

func TestBreakGlassGrantsAtOnceUntilAcknowledged(t *testing.T) {
	e, trail := newPolicyE2E(t, polBreakGlass)
	e.slash(alice, "breakglass prod-db admin 4h INC-1 primary database refuses writes")
	e.wait("the grant without approval", func() bool { return e.mem.holds("alice/app_admin") })
	e.wait("alice told", e.ephemeralWith(alice, "Break-glass request"))

	e.wait("the security alert", polMessageWith(e, room, "Break-glass:"))
	alert, _ := polFind(e.srv.Messages(room), "Break-glass:")
	if !strings.Contains(string(alert.Blocks), `"jit_ack"`) {
		t.Fatalf("security alert has no Acknowledge button: %s", polText(alert))
	}
	msg := e.srv.Messages(approval)[0]
	if hasButtons(msg) || !strings.Contains(polText(msg), "granted without approval") ||
		strings.Contains(polText(msg), "Auto-approved") {
		t.Fatalf("approval channel message does not read as break-glass: %s", polText(msg))
	}
	if !strings.HasSuffix(msg.Text, "for 30m") {
		t.Fatalf("4h not capped at the break-glass maximum of 30m: %s", polText(msg))
	}
	if len(trail.ofType(store.EvBreakGlassUsed)) != 1 {
		t.Fatal("no breakglass.used in the audit")
	}
	if !strings.Contains(polList(e, alice), "awaiting acknowledgement") {
		t.Fatal("alice's list does not flag the unacknowledged break-glass grant")
	}

	e.click(bob, alert, "jit_ack")
	e.wait("bob refused", e.ephemeralWith(bob, "not allowed"))
	if a := e.message(alert); a.Updated != 0 || len(trail.ofType(store.EvBreakGlassAcked)) != 0 {
		t.Fatalf("a non-admin's click acknowledged the grant: %s", polText(a))
	}

	e.click(carol, alert, "jit_ack")
	e.wait("the alert to say carol acknowledged", func() bool {
		a := e.message(alert)
		return !strings.Contains(string(a.Blocks), `"jit_ack"`) &&
			strings.Contains(polText(a), "Acknowledged by <@"+carol+">")
	})
	e.wait("the approval thread told", e.replyWith(msg, "acknowledged by <@"+carol+">"))
	if acks := trail.ofType(store.EvBreakGlassAcked); len(acks) != 1 || acks[0].Actor != carol {
		t.Fatalf("audit acknowledgements %+v, want one by carol", acks)
	}
	if strings.Contains(polList(e, alice), "awaiting acknowledgement") {
		t.Fatal("grant still flagged after carol acknowledged it")
	}

	e.clock.Advance(30 * time.Minute)
	e.wait("the revocation after 30m", func() bool { return !e.mem.holds("alice/app_admin") })
}

// polList runs /jit list as user and returns what they see.
func polList(e *e2e, user string) string {
	e.t.Helper()
	before := len(e.srv.Ephemerals(user))
	e.slash(user, "list")
	e.wait("the list", func() bool { return len(e.srv.Ephemerals(user)) > before })
	eph := e.srv.Ephemerals(user)[before]
	return readable(eph.Text, eph.Blocks)
}

const polEscalation = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0BOB]
        backup_approvers: [U0CAROL]
        remind_after: 10m
        escalate_after: 45m
        max_duration: 4h
`

func TestRemindersBackOffAndEscalationAddsBackups(t *testing.T) {
	e, trail := newPolicyE2E(t, polEscalation)
	start := e.clock.Now()
	msg := polRequest(e, "1h")

	e.click(carol, msg, "jit_approve")
	e.wait("carol refused before escalation", e.ephemeralWith(carol, "Only approvers"))

	// Step through the first 75 minutes; reminders are due after 10m,
	// then 20m and 40m more; the escalation after 45m.
	checkpoints := map[time.Duration]func() bool{
		10 * time.Minute: func() bool { return polCountReplies(e, msg, "still waiting") == 1 },
		30 * time.Minute: func() bool { return polCountReplies(e, msg, "still waiting") == 2 },
		45 * time.Minute: e.replyWith(msg, "Escalating to <@"+carol+">"),
		70 * time.Minute: func() bool { return polCountReplies(e, msg, "still waiting") == 3 },
	}
	for at := 5 * time.Minute; at <= 75*time.Minute; at += 5 * time.Minute {
		e.clock.Advance(5 * time.Minute)
		if cond, ok := checkpoints[at]; ok {
			e.wait("the notice due after "+at.String(), cond)
		}
	}

	var got []time.Duration
	for _, ev := range trail.ofType(store.EvRequestReminded) {
		got = append(got, ev.Time.Sub(start))
	}
	want := []time.Duration{10 * time.Minute, 30 * time.Minute, 70 * time.Minute}
	if !slices.Equal(got, want) {
		t.Fatalf("reminders after %v, want %v", got, want)
	}
	if n := polCountReplies(e, msg, "<@"+bob+">: request"); n != 3 {
		t.Fatalf("%d reminders address bob, want 3", n)
	}

	e.click(carol, msg, "jit_approve")
	e.wait("the grant after carol's approval", e.replyWith(msg, "Granted"))
	e.wait("the message to show carol decided", func() bool {
		return strings.Contains(polText(e.message(msg)), "Approved by <@"+carol+">")
	})
}

const polWarn = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  warn_before: 10m
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0BOB]
        max_duration: 4h
`

// polGrantAndWarn has alice get readonly for an hour and waits for the
// warning DM ten minutes before it ends.
func polGrantAndWarn(e *e2e) (request, warning slackfake.Message) {
	e.t.Helper()
	msg := polRequest(e, "1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", e.replyWith(msg, "Granted"))
	warned := len(polDMsWith(e, alice, `"jit_extend"`))
	e.clock.Advance(50 * time.Minute)
	e.wait("the expiry warning", func() bool {
		return len(polDMsWith(e, alice, `"jit_extend"`)) > warned
	})
	dms := polDMsWith(e, alice, `"jit_extend"`)
	warning = dms[len(dms)-1]
	if !strings.Contains(polText(warning), "Release now") ||
		!strings.Contains(polText(warning), "Request extension") {
		e.t.Fatalf("warning lacks its buttons: %s", polText(warning))
	}
	return msg, warning
}

func polDMsWith(e *e2e, user, substr string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range e.srv.DMs(user) {
		if strings.Contains(polText(m), substr) {
			out = append(out, m)
		}
	}
	return out
}

func TestExpiryWarningReleaseNow(t *testing.T) {
	e, trail := newPolicyE2E(t, polWarn)
	msg, warning := polGrantAndWarn(e)
	e.wait("a warning in the thread", e.replyWith(msg, "expires"))

	e.click(alice, warning, "jit_release")
	e.wait("the access taken back", func() bool { return !e.mem.holds("alice/app_readonly") })
	e.wait("the thread told", e.replyWith(msg, "released by <@"+alice+">"))
	if n := len(trail.ofType(store.EvGrantReleased)); n != 1 {
		t.Fatalf("%d grant.released events, want 1", n)
	}
	if late := trail.ofType(store.EvGrantRevoked); len(late) != 0 {
		t.Fatalf("released grant also revoked: %+v", late)
	}
}

func TestExpiryWarningRequestExtension(t *testing.T) {
	e, _ := newPolicyE2E(t, polWarn)
	first, warning := polGrantAndWarn(e)

	e.click(alice, warning, "jit_extend")
	e.wait("the extension form", func() bool { return len(polOpenViews(e, alice)) == 1 })
	view := polOpenViews(e, alice)[0]
	told := len(polDMsWith(e, alice, "waiting for approval"))
	target := `["prod-db","readonly"]`
	if view.Title != "Extend access" || polInitialTarget(t, view) != target {
		t.Fatalf("form %q starts at %q, want Extend access at %s",
			view.Title, polInitialTarget(t, view), target)
	}
	_, err := e.srv.SubmitView(context.Background(), alice, view.ID, map[string]map[string]string{
		"target":   {"target": target},
		"duration": {"duration": "2h"},
		"reason":   {"reason": "INC-42 the migration needs longer"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.wait("the extension request", func() bool { return len(e.srv.Messages(approval)) == 2 })
	polWaitTold(e, told)
	ext := e.srv.Messages(approval)[1]
	if !hasButtons(ext) || !strings.Contains(polText(ext), "extension") {
		t.Fatalf("extension not put to approvers: %s", polText(ext))
	}
	if n := e.mem.grantCalls(); n != 1 {
		t.Fatalf("provider called %d times before the extension was approved", n)
	}

	e.click(bob, ext, "jit_approve")
	e.wait("the extension granted", e.replyWith(ext, "Granted"))
	e.clock.Advance(10 * time.Minute)
	e.wait("the first grant to end on time", e.replyWith(first, "revoked (expired)"))
	if !e.mem.holds("alice/app_readonly") || e.mem.grantCalls() != 2 {
		t.Fatalf("access after the first grant ended: held %v, %d grant calls",
			e.mem.holds("alice/app_readonly"), e.mem.grantCalls())
	}
}

func polOpenViews(e *e2e, user string) []slackfake.View {
	var out []slackfake.View
	for _, v := range e.srv.Views(user) {
		if v.Open {
			out = append(out, v)
		}
	}
	return out
}

// polInitialTarget returns the value the form's resource/role select
// starts with.
func polInitialTarget(t *testing.T, v slackfake.View) string {
	t.Helper()
	var blocks []struct {
		BlockID string `json:"block_id"`
		Element struct {
			InitialOption *struct {
				Value string `json:"value"`
			} `json:"initial_option"`
		} `json:"element"`
	}
	if err := json.Unmarshal(v.Blocks, &blocks); err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.BlockID == "target" && b.Element.InitialOption != nil {
			return b.Element.InitialOption.Value
		}
	}
	return ""
}

const polReloadBefore = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0BOB]
        max_duration: 4h
`

const polReloadAfter = `
admins: [U0CAROL]
defaults:
  approval_timeout: 2h
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0CAROL]
        max_duration: 4h
`

const polReloadBroken = `
admins: [U0CAROL]
resources:
  prod-db:
    provider: mem
    roles:
      readonly:
        target: app_readonly
        channel: C0APPROVE
        approvers: [U0CAROL]
        max_duration: forever
`

func TestPolicyReloadLeavesPendingRequestsOnTheirRules(t *testing.T) {
	e, trail, path := newPolicyFileE2E(t, polReloadBefore)
	before, after := polVersion(t, polReloadBefore), polVersion(t, polReloadAfter)
	old := polRequest(e, "1h")
	if !strings.Contains(polText(old), before) {
		t.Fatalf("approval message does not name policy %s: %s", before, polText(old))
	}

	polWrite(t, path, polReloadAfter)
	e.wait("the admin channel told of the new policy", polMessageWith(e, room, after))
	if ch := trail.ofType(store.EvPolicyChanged); len(ch) != 1 ||
		ch[0].Details["version"] != after || ch[0].Details["previous"] != before {
		t.Fatalf("audit policy changes %+v, want %s after %s", ch, before, after)
	}

	fresh := polRequest(e, "1h")
	if !strings.Contains(polText(fresh), after) {
		t.Fatalf("new request does not name policy %s: %s", after, polText(fresh))
	}
	e.click(bob, fresh, "jit_approve")
	e.wait("bob refused on the new request", e.ephemeralWith(bob, "Only approvers"))
	e.click(carol, old, "jit_approve")
	e.wait("carol refused on the old request", e.ephemeralWith(carol, "Only approvers"))
	e.click(bob, old, "jit_approve")
	e.wait("the old request granted by bob", e.replyWith(old, "Granted"))
	e.click(carol, fresh, "jit_approve")
	e.wait("the new request granted by carol", e.replyWith(fresh, "Granted"))

	polWrite(t, path, polReloadBroken)
	e.wait("the admin channel told of the rejection", polMessageWith(e, room, "rejected"))
	rejection, _ := polFind(e.srv.Messages(room), "rejected")
	if !strings.Contains(polText(rejection), "resources.prod-db.roles.readonly.max_duration") {
		t.Fatalf("rejection does not name the problem: %s", polText(rejection))
	}
	if n := len(trail.ofType(store.EvPolicyRejected)); n != 1 {
		t.Fatalf("%d policy.rejected events, want 1", n)
	}
	third := polRequest(e, "1h")
	if !strings.Contains(polText(third), after) {
		t.Fatalf("request after the rejected change is not under %s: %s", after, polText(third))
	}
	e.click(carol, third, "jit_approve")
	e.wait("the policy in force still names carol", e.replyWith(third, "Granted"))
}

func polVersion(t *testing.T, text string) string {
	t.Helper()
	p, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p.Version()
}
