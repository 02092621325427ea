package app_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/store"
)

const (
	appToken = "xapp-1-A0TEST-1-e2e"
	botToken = "xoxb-1-e2e"
	alice    = "U0ALICE" // requester
	bob      = "U0BOB"   // approver
	carol    = "U0CAROL" // approver
	mallory  = "U0MAL"   // neither
	dave     = "U0DAVE"  // has no email in Slack
	approval = "C0APPROVE"
	room     = "C0ROOM"
)

// e2eHead is the part of every end-to-end configuration before its
// providers: the four verbs are newE2EWith's (tokens, API URL, store).
const e2eHead = `
slack:
  app_token: %q
  bot_token: %q
  api_url: %q
  admin_channel: C0ADMIN
store:
  path: %q
digest:
  enabled: false
timers:
  revoke_retry_min: 1m
  revoke_retry_max: 10m
`

// memProviders names the provider mem, which newE2EWith replaces with the
// in-memory one.
const memProviders = `providers:
  mem:
    type: exec
    settings:
      grant: [/bin/true]
      revoke: [/bin/true]
`

const e2eConfig = e2eHead + memProviders + `policy:
  admins: [U0ADMIN]
  groups:
    dba: [U0BOB, U0CAROL]
  defaults:
    approval_timeout: 30m
    warn_before: 10m
    reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
  resources:
    prod-db:
      provider: mem
      roles:
        readonly:
          target: app_readonly
          channel: C0APPROVE
          approvers: [group:dba]
          max_duration: 4h
`

// memProvider is the grant backend of these tests: who holds what.
type memProvider struct {
	mu        sync.Mutex
	held      map[string]bool
	grants    int
	revokeErr error // returned by Revoke while set
}

func (m *memProvider) Grant(_ context.Context, g grants.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.grants++
	m.held[g.Principal+"/"+g.Target] = true
	return nil
}

func (m *memProvider) Revoke(_ context.Context, g grants.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revokeErr != nil {
		return m.revokeErr
	}
	delete(m.held, g.Principal+"/"+g.Target)
	return nil
}

func (m *memProvider) failRevokes(err error) {
	m.mu.Lock()
	m.revokeErr = err
	m.mu.Unlock()
}

func (m *memProvider) holds(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[key]
}

func (m *memProvider) grantCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grants
}

type e2e struct {
	t     testing.TB
	srv   *slackfake.Server
	clock *clockwork.FakeClock
	mem   *memProvider
	cfg   *config.Config
	logs  logBuffer // every log line of every run, at debug level

	cancel context.CancelFunc
	done   chan error
}

// logBuffer keeps what jitbot logged, for tests of what logs must not say.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	return newE2EWith(t, e2eConfig)
}

// newE2EWith starts jitbot with a configuration text whose first four
// verbs are the app token, the bot token, the emulator's API URL and the
// store path (see e2eConfig).
func newE2EWith(t testing.TB, configText string) *e2e {
	t.Helper()
	e := &e2e{
		t:     t,
		clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)),
		mem:   &memProvider{held: map[string]bool{}},
	}
	e.srv = slackfake.New(slackfake.Options{
		AppToken: appToken,
		BotToken: botToken,
		Users: []slackfake.User{
			{ID: alice, Name: "alice", Email: "alice@example.com"},
			{ID: bob, Name: "bob", Email: "bob@example.com"},
			{ID: carol, Name: "carol", Email: "carol@example.com"},
			{ID: mallory, Name: "mallory", Email: "mallory@example.com"},
			{ID: dave, Name: "dave"},
		},
		Channels: []slackfake.Channel{{ID: approval, Name: "approvals"}, {ID: room, Name: "ops"}},
	})
	t.Cleanup(e.srv.Close)

	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(configText, appToken, botToken, e.srv.APIURL(),
		filepath.Join(dir, "jitbot.db"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Check(builtin.Registry().Types()); len(p) > 0 {
		t.Fatalf("config: %v", p)
	}
	e.cfg = cfg
	e.start()
	t.Cleanup(e.stop)
	return e
}

// start runs jitbot on the configured store until stop.
func (e *e2e) start() {
	e.t.Helper()
	a, err := app.New(app.Options{
		Config:    e.cfg,
		Log:       testLog(e.t, &e.logs),
		Clock:     e.clock,
		Providers: e.providers(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- a.Run(ctx) }()
	e.wait("the bot to connect", func() bool { return e.srv.LiveConnections() > 0 })
}

// providers puts the in-memory provider in place of the configured ones
// when the configuration names a provider mem; otherwise jitbot builds the
// providers the configuration describes.
func (e *e2e) providers() map[string]grants.Provider {
	if _, ok := e.cfg.Providers["mem"]; !ok {
		return nil
	}
	return map[string]grants.Provider{"mem": e.mem}
}

func (e *e2e) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	if err := <-e.done; err != nil {
		e.t.Errorf("jitbot run: %v", err)
	}
	e.cancel = nil
	e.wait("the bot to disconnect", func() bool { return e.srv.LiveConnections() == 0 })
}

// wait waits for cond, re-checked on every change the emulator sees. The
// bound is generous: it only matters when something is wrong, and a loaded
// machine running the race detector can be slow.
func (e *e2e) wait(what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := e.srv.WaitFor(ctx, cond); err != nil {
		tail := e.srv.Transcript()
		if len(tail) > 3000 {
			tail = tail[len(tail)-3000:]
		}
		e.t.Fatalf("waiting for %s: %v\nlast of the workspace:\n%s", what, err, tail)
	}
}

func (e *e2e) slash(user, text string) {
	e.t.Helper()
	ack, err := e.srv.SlashCommand(context.Background(), user, room, "/jit", text)
	if err != nil {
		e.t.Fatalf("/jit %s: %v", text, err)
	}
	if ack.Latency > 3*time.Second {
		e.t.Fatalf("ack after %s, over Slack's 3 s", ack.Latency)
	}
}

func (e *e2e) click(user string, msg slackfake.Message, action string) {
	e.t.Helper()
	ref := slackfake.MessageRef{Channel: msg.Channel, TS: msg.TS}
	if _, err := e.srv.Click(context.Background(), user, ref, action, ""); err != nil {
		e.t.Fatalf("%s clicks %s: %v", user, action, err)
	}
}

// request has alice ask for readonly and returns the approval message.
func (e *e2e) request(duration string) slackfake.Message {
	e.t.Helper()
	before := len(e.srv.Messages(approval))
	e.slash(alice, "request prod-db readonly "+duration+" INC-42 orders are failing")
	e.wait("the approval message", func() bool { return len(e.srv.Messages(approval)) > before })
	return e.srv.Messages(approval)[before]
}

func (e *e2e) message(m slackfake.Message) slackfake.Message {
	got, _ := e.srv.FindMessage(m.Channel, m.TS)
	return got
}

func (e *e2e) replyWith(m slackfake.Message, substr string) func() bool {
	return func() bool {
		for _, r := range e.srv.Replies(m.Channel, m.TS) {
			if strings.Contains(r.Text, substr) {
				return true
			}
		}
		return false
	}
}

func (e *e2e) ephemeralWith(user, substr string) func() bool {
	return func() bool {
		for _, m := range e.srv.Ephemerals(user) {
			if strings.Contains(readable(m.Text, m.Blocks), substr) {
				return true
			}
		}
		return false
	}
}

// readable returns a message's text and blocks as a person reads them.
func readable(text string, blocks []byte) string {
	return text + "\n" + strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").
		Replace(string(blocks))
}

func hasButtons(m slackfake.Message) bool {
	return strings.Contains(string(m.Blocks), `"jit_approve"`)
}

func TestRequestApproveGrantExpireRevoke(t *testing.T) {
	e := newE2E(t)
	msg := e.request("2h")
	if !hasButtons(msg) || !strings.Contains(string(msg.Blocks), "INC-42 orders are failing") {
		t.Fatalf("approval message lacks buttons or reason: %s", msg.Blocks)
	}
	e.wait("alice's confirmation", func() bool { return len(e.srv.DMs(alice)) > 0 })

	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.wait("the approval message to show the outcome", func() bool {
		m := e.message(msg)
		return !hasButtons(m) && strings.Contains(readable(m.Text, m.Blocks), "<@"+bob+">")
	})
	e.wait("a granted reply", e.replyWith(msg, "Granted"))

	e.clock.Advance(2 * time.Hour)
	e.wait("the revocation", func() bool { return !e.mem.holds("alice/app_readonly") })
	e.wait("a revoked reply", e.replyWith(msg, "revoked"))
	e.wait("alice told by DM", func() bool {
		dms := e.srv.DMs(alice)
		return strings.Contains(dms[len(dms)-1].Text, "ended")
	})
}

func TestDenyGrantsNothing(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	e.click(carol, msg, "jit_deny")
	e.wait("the denied message", func() bool {
		m := e.message(msg)
		return !hasButtons(m) && strings.Contains(string(m.Blocks), "Denied")
	})
	e.wait("alice told", func() bool {
		for _, m := range e.srv.DMs(alice) {
			if strings.Contains(strings.ToLower(m.Text), "denied") {
				return true
			}
		}
		return false
	})
	if e.mem.grantCalls() != 0 {
		t.Fatal("a denied request reached the provider")
	}
}

func TestUnauthorizedClickChangesNothing(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	e.click(mallory, msg, "jit_approve")
	e.wait("mallory's refusal", e.ephemeralWith(mallory, "approver"))
	e.click(alice, msg, "jit_approve")
	e.wait("alice's refusal", e.ephemeralWith(alice, "own request"))
	if m := e.message(msg); !hasButtons(m) || m.Updated != 0 {
		t.Fatalf("approval message changed after refused clicks: %d updates", m.Updated)
	}
	if e.mem.grantCalls() != 0 {
		t.Fatal("a refused click reached the provider")
	}
}

func TestDoubleClickAndRedeliveryGrantOnce(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	ref := slackfake.MessageRef{Channel: msg.Channel, TS: msg.TS}
	var wg sync.WaitGroup
	for _, user := range []string{bob, bob, carol, carol} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack, err := e.srv.Click(context.Background(), user, ref, "jit_approve", "")
			if err != nil {
				t.Errorf("click: %v", err)
				return
			}
			if _, err := e.srv.Redeliver(context.Background(), ack.Envelope); err != nil {
				t.Errorf("redeliver: %v", err)
			}
		}()
	}
	wg.Wait()
	e.wait("the grant", e.replyWith(msg, "Granted"))
	if n := e.mem.grantCalls(); n != 1 {
		t.Fatalf("provider granted %d times, want 1", n)
	}
	var granted int
	for _, r := range e.srv.Replies(msg.Channel, msg.TS) {
		if strings.Contains(r.Text, "Granted") {
			granted++
		}
	}
	if granted != 1 {
		t.Fatalf("%d granted notices, want 1", granted)
	}
}

func TestBadInputIsAnsweredAndStoresNothing(t *testing.T) {
	e := newE2E(t)
	tests := []struct {
		name, text, want string
	}{
		{"unknown sub-command", "frobnicate", "Usage"},
		{"unknown resource", "request nosuch readonly 1h INC-1 broken thing", "unknown resource"},
		{"unknown role", "request prod-db superuser 1h INC-1 broken thing", "unknown role"},
		{"duration without unit", "request prod-db readonly 90 INC-1 broken thing", "unit"},
		{"duration too long", "request prod-db readonly 9h INC-1 broken thing", "4h"},
		{"no reason", "request prod-db readonly 1h", "reason"},
		{"reason without incident", "request prod-db readonly 1h need it for stuff", "INC-"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.slash(alice, tc.text)
			e.wait("an answer", func() bool { return len(e.srv.Ephemerals(alice)) > i })
			eph := e.srv.Ephemerals(alice)[i]
			got := readable(eph.Text, eph.Blocks)
			if !strings.Contains(got, tc.want) {
				t.Fatalf("answer %q does not mention %q", got, tc.want)
			}
		})
	}
	if n := len(e.srv.Messages(approval)); n != 0 {
		t.Fatalf("%d approval messages after bad input", n)
	}
	e.stop()
	db, err := store.Open(e.cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if last, err := db.LastEvent(); err == nil {
		t.Fatalf("audit event %s stored after bad input", last.Type)
	}
}

func TestRestartRevokesOverdueGrant(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
	e.stop()

	e.clock.Advance(90 * time.Minute) // jitbot is down at expiry
	e.start()
	e.wait("the overdue revocation", func() bool { return !e.mem.holds("alice/app_readonly") })
	e.wait("a revoked reply in the original thread", e.replyWith(msg, "revoked"))
}

func TestPendingRequestExpiresAfterRestart(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	e.stop()
	e.clock.Advance(31 * time.Minute)
	e.start()
	e.wait("the approval message to say it expired", func() bool {
		m := e.message(msg)
		return !hasButtons(m) && strings.Contains(strings.ToLower(string(m.Blocks)), "expired")
	})
}

func TestReconnectAfterDisconnect(t *testing.T) {
	e := newE2E(t)
	if err := e.srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	e.wait("a second connection", func() bool {
		return e.srv.Connections() >= 2 && e.srv.LiveConnections() == 1
	})
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", func() bool { return e.mem.holds("alice/app_readonly") })
}

// testLog logs at debug level into keep, and also to the test's output
// when JITBOT_TEST_LOG is set.
func testLog(t testing.TB, keep io.Writer) zerolog.Logger {
	w := keep
	if os.Getenv("JITBOT_TEST_LOG") != "" {
		w = io.MultiWriter(keep, zerolog.NewTestWriter(t))
	}
	return zerolog.New(w).Level(zerolog.DebugLevel)
}
