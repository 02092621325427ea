package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

const (
	appToken = "xapp-1-A0JITBOT-test"
	botToken = "xoxb-test-token"
	alice    = "U0ALICE"
	bob      = "U0BOB"
	ops      = "C0OPS"
)

// fakeCore is a small in-memory Core. Submit and Decide wait on gate when
// it is set, to play a slow core.
type fakeCore struct {
	mu        sync.Mutex
	gate      chan struct{}
	problems  []policy.Problem
	submitted []access.SubmitInput
	decideErr error
	decideReq store.Request
	grants    []store.Grant
}

func (c *fakeCore) wait(ctx context.Context) error {
	c.mu.Lock()
	gate := c.gate
	c.mu.Unlock()
	if gate == nil {
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *fakeCore) Validate(access.SubmitInput) []policy.Problem {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.problems
}

func (c *fakeCore) Submit(ctx context.Context, in access.SubmitInput) (store.Request, error) {
	if err := c.wait(ctx); err != nil {
		return store.Request{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.submitted = append(c.submitted, in)
	return store.Request{
		ID: fmt.Sprintf("r_%d", len(c.submitted)), Requester: in.User,
		Resource: in.Resource, Role: in.Role, Duration: in.Duration,
		State: store.RequestPending, ApprovalsRequired: 1,
	}, nil
}

func (c *fakeCore) Decide(ctx context.Context, id, actor string, approve bool) (
	store.Request, error,
) {
	if err := c.wait(ctx); err != nil {
		return store.Request{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.decideReq, c.decideErr
}

func (c *fakeCore) Cancel(_ context.Context, id, _ string) (store.Request, error) {
	return store.Request{ID: id, State: store.RequestCancelled}, nil
}

func (c *fakeCore) Release(_ context.Context, id, _ string) (store.Grant, error) {
	return store.Grant{ID: id}, nil
}

func (c *fakeCore) Acknowledge(_ context.Context, id, _ string) (store.Grant, error) {
	return store.Grant{}, fmt.Errorf("acknowledge grant %s: %w", id, access.ErrNotFound)
}

func (c *fakeCore) Mine(context.Context, string) ([]store.Request, []store.Grant, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return nil, c.grants, nil
}

func (c *fakeCore) Catalog() map[string][]string {
	return map[string][]string{"orders-db": {"read", "write"}, "billing": {"admin"}}
}

func (c *fakeCore) submissions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.submitted)
}

func newFake(t *testing.T, clock clockwork.Clock) *slackfake.Server {
	t.Helper()
	srv := slackfake.New(slackfake.Options{
		AppToken: appToken, BotToken: botToken, Clock: clock,
		Users: []slackfake.User{
			{ID: alice, Name: "alice", Email: "alice@example.test"},
			{ID: bob, Name: "bob"},
		},
		Channels:   []slackfake.Channel{{ID: ops, Name: "ops"}},
		UserGroups: map[string][]string{"S0ONCALL": {alice, bob}},
	})
	t.Cleanup(srv.Close)
	return srv
}

func newBot(t *testing.T, srv *slackfake.Server, clock clockwork.Clock, mod func(*Options)) *Bot {
	t.Helper()
	opts := Options{
		AppToken: appToken, BotToken: botToken, APIURL: srv.APIURL(),
		Log: zerolog.New(zerolog.NewTestWriter(t)), Clock: clock,
		Timeout: 5 * time.Second, Workers: 2, AdminChannel: ops,
	}
	if mod != nil {
		mod(&opts)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// startBot runs a bot against a fresh emulator until the test ends.
func startBot(t *testing.T, core Core) (*slackfake.Server, *Bot) {
	t.Helper()
	srv := newFake(t, nil)
	b := newBot(t, srv, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, core) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return srv, b
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitEphemeral waits for an ephemeral message to user containing want.
func waitEphemeral(t *testing.T, srv *slackfake.Server, user, want string) slackfake.Ephemeral {
	t.Helper()
	var found slackfake.Ephemeral
	err := srv.WaitFor(testCtx(t), func() bool {
		for _, e := range srv.Ephemerals(user) {
			if strings.Contains(e.Text, want) || strings.Contains(blocksText(t, e.Blocks), want) {
				found = e
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no ephemeral to %s containing %q; got %+v", user, want, srv.Ephemerals(user))
	}
	return found
}

// blocksText is Block Kit JSON as Slack's text reads, without Go's
// escaping of <, > and &.
func blocksText(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 {
		return ""
	}
	return string(readable(t, raw))
}

func TestAckArrivesWhileCoreIsSlow(t *testing.T) {
	core := &fakeCore{gate: make(chan struct{})}
	srv, _ := startBot(t, core)
	release := sync.OnceFunc(func() { close(core.gate) })
	t.Cleanup(release)
	ctx := testCtx(t)

	// More commands than workers: all are acked while the core holds them.
	for i := range 4 {
		ack, err := srv.SlashCommand(ctx, alice, ops, "/jit",
			fmt.Sprintf("request orders-db read 1h task %d", i))
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
		if ack.Latency > time.Second {
			t.Errorf("command %d acked after %v", i, ack.Latency)
		}
	}
	if n := core.submissions(); n != 0 {
		t.Fatalf("%d submissions went through a blocked core", n)
	}

	release()
	err := srv.WaitFor(ctx, func() bool { return len(srv.Ephemerals(alice)) == 4 })
	if err != nil {
		t.Fatalf("want 4 answers once the core is free, got %+v", srv.Ephemerals(alice))
	}
	waitEphemeral(t, srv, alice, "submitted")
	t.Logf("ack latencies with a blocked core: %v", srv.AckLatencies())
}

func TestSlashCommandAnswers(t *testing.T) {
	tests := []struct {
		name, text string
		wants      []string
	}{
		{"unknown sub-command", "frobnicate now", []string{
			`Unknown sub-command "frobnicate"`, "/jit request &lt;resource&gt;"}},
		{"duration without unit", "request orders-db read 90 fix", []string{
			"use a unit, e.g. 90m", "/jit request &lt;resource&gt;"}},
		{"help", "help", []string{"/jit breakglass", "/jit revoke"}},
		{"unknown grant on ack", "ack g_404", []string{phraseNotFound}},
		{"cancel", "cancel r_5", []string{"Request `r_5` is cancelled."}},
		{"list", "list", []string{"You have no requests and no grants."}},
		{"revoke", "revoke g_3", []string{"Grant `g_3` is being revoked."}},
	}
	core := &fakeCore{}
	srv, _ := startBot(t, core)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := srv.SlashCommand(testCtx(t), bob, ops, "/jit", tt.text); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.wants {
				waitEphemeral(t, srv, bob, want)
			}
		})
	}
	if n := core.submissions(); n != 0 {
		t.Errorf("bad input reached Submit %d times", n)
	}
}

func TestPolicyProblemsAreShownAndNothingSubmitted(t *testing.T) {
	core := &fakeCore{problems: []policy.Problem{
		{Field: "role", Message: "unknown role"},
		{Field: "duration", Message: "longer than 4h"},
	}}
	srv, _ := startBot(t, core)
	if _, err := srv.SlashCommand(testCtx(t), alice, ops, "/jit",
		"request orders-db root 9h because"); err != nil {
		t.Fatal(err)
	}
	e := waitEphemeral(t, srv, alice, "not submitted")
	for _, want := range []string{"*role*: unknown role", "*duration*: longer than 4h"} {
		if !strings.Contains(blocksText(t, e.Blocks), want) {
			t.Errorf("answer lacks %q: %s", want, e.Blocks)
		}
	}
	if core.submissions() != 0 {
		t.Errorf("a refused request was submitted")
	}
}

func TestDuplicateEnvelopeIsHandledOnce(t *testing.T) {
	core := &fakeCore{}
	srv, _ := startBot(t, core)
	ctx := testCtx(t)
	ack, err := srv.SlashCommand(ctx, alice, ops, "/jit", "request orders-db read 1h x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Redeliver(ctx, ack.Envelope); err != nil {
		t.Fatalf("redelivery not acked: %v", err)
	}
	// A later command is a barrier: once it is answered, a second copy of
	// the first would have been handled too.
	if _, err := srv.SlashCommand(ctx, alice, ops, "/jit", "help"); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, srv, alice, "/jit breakglass")
	waitEphemeral(t, srv, alice, "submitted")
	if n := core.submissions(); n != 1 {
		t.Errorf("redelivered envelope submitted %d times, want 1", n)
	}
}

// openModal types /jit request and returns the modal it opened.
func openModal(t *testing.T, srv *slackfake.Server, user string) slackfake.View {
	t.Helper()
	ctx := testCtx(t)
	if _, err := srv.SlashCommand(ctx, user, ops, "/jit", "request"); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func() bool { return len(srv.Views(user)) > 0 }); err != nil {
		t.Fatalf("no modal opened: %v", err)
	}
	return srv.Views(user)[0]
}

func TestRequestModalOpensWithCatalog(t *testing.T) {
	srv, _ := startBot(t, &fakeCore{})
	v := openModal(t, srv, alice)
	if v.CallbackID != modalCallback || !v.Open {
		t.Fatalf("modal %+v", v)
	}
	blocks := blocksText(t, v.Blocks)
	for _, want := range []string{`"option_groups"`, "orders-db / write", "billing / admin",
		`"block_id":"reason"`, `"block_id":"breakglass"`} {
		if !strings.Contains(blocks, want) {
			t.Errorf("modal lacks %s: %s", want, blocks)
		}
	}
}

func TestModalSubmission(t *testing.T) {
	core := &fakeCore{}
	srv, _ := startBot(t, core)
	v := openModal(t, srv, alice)
	ctx := testCtx(t)
	target := targetValue("orders-db", "read")

	core.mu.Lock()
	core.problems = []policy.Problem{{Field: "reason", Message: "Name a ticket."}}
	core.mu.Unlock()
	ack, err := srv.SubmitView(ctx, alice, v.ID, map[string]map[string]string{
		blkTarget: {blkTarget: target}, blkDuration: {blkDuration: "90"},
		blkReason: {blkReason: "because"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Action string            `json:"response_action"`
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &resp); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if resp.Action != "errors" || !strings.Contains(resp.Errors[blkDuration], "use a unit") ||
		resp.Errors[blkReason] != "Name a ticket." {
		t.Errorf("ack = %s, want errors under duration and reason", ack.Payload)
	}
	if core.submissions() != 0 {
		t.Fatal("an invalid modal was submitted")
	}

	core.mu.Lock()
	core.problems = nil
	core.mu.Unlock()
	ack, err = srv.SubmitView(ctx, alice, v.ID, map[string]map[string]string{
		blkTarget: {blkTarget: target}, blkDuration: {blkDuration: "90m"},
		blkReason: {blkReason: "INC-1"},
	})
	if err != nil || len(ack.Payload) > 0 && string(ack.Payload) != "null" {
		t.Fatalf("valid submission ack = %s, %v; want a plain ack", ack.Payload, err)
	}
	waitEphemeral(t, srv, alice, "submitted")
	core.mu.Lock()
	got := core.submitted[0]
	core.mu.Unlock()
	want := access.SubmitInput{User: alice, Resource: "orders-db", Role: "read",
		Duration: 90 * time.Minute, Reason: "INC-1"}
	if got != want {
		t.Errorf("submitted %+v, want %+v", got, want)
	}
}

func TestApprovalMessageLifecycle(t *testing.T) {
	core := &fakeCore{}
	srv, b := startBot(t, core)
	ctx := testCtx(t)
	req := sampleRequest()
	ref, err := b.PostApproval(ctx, req, policy.Rules{Channel: ops})
	if err != nil {
		t.Fatal(err)
	}
	msg := slackfake.MessageRef{Channel: ref.Channel, TS: ref.TS}

	// An outsider's click gets the fixed phrase and changes nothing.
	core.mu.Lock()
	core.decideReq = req
	core.decideErr = fmt.Errorf("decide request r_1: %w", access.ErrNotApprover)
	core.mu.Unlock()
	if _, err := srv.Click(ctx, bob, msg, actApprove, req.ID); err != nil {
		t.Fatal(err)
	}
	waitEphemeral(t, srv, bob, "Only approvers of *orders-db / read* can decide this request.")

	req.Message = ref
	req.State, req.DecidedBy, req.DecidedAt = store.RequestApproved, alice, req.CreatedAt
	if err := b.UpdateApproval(ctx, req, policy.Rules{}); err != nil {
		t.Fatal(err)
	}
	got, _ := srv.FindMessage(ref.Channel, ref.TS)
	if blocks := blocksText(t, got.Blocks); got.Updated != 1 ||
		strings.Contains(blocks, actApprove) ||
		!strings.Contains(blocks, "Approved by <@U2> and <@"+alice+">") {
		t.Errorf("updated message: %s", got.Blocks)
	}
	_, err = srv.Click(ctx, alice, msg, actApprove, req.ID)
	if !errors.Is(err, slackfake.ErrNoSuchAction) {
		t.Errorf("clicking a removed button: %v", err)
	}
}

func TestClickErrorsMapToPhrases(t *testing.T) {
	tests := []struct {
		name string
		err  error
		req  store.Request
		want string
	}{
		{"self", access.ErrSelfApproval, store.Request{}, phraseSelf},
		{"decided", access.ErrAlreadyDecided, store.Request{DecidedBy: bob},
			"already decided by <@" + bob + ">"},
		{"voted", access.ErrAlreadyVoted, store.Request{}, phraseVoted},
		{"raw provider failure", errors.New("pq: password authentication failed"),
			store.Request{}, phraseGeneric},
		{"refused", &access.InvalidError{Problems: []policy.Problem{
			{Field: "role", Message: "gone"}}}, store.Request{}, "*role*: gone"},
	}
	core := &fakeCore{}
	srv, b := startBot(t, core)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			ref, err := b.PostApproval(ctx, sampleRequest(), policy.Rules{Channel: ops})
			if err != nil {
				t.Fatal(err)
			}
			core.mu.Lock()
			core.decideReq, core.decideErr = tt.req, fmt.Errorf("decide: %w", tt.err)
			core.mu.Unlock()
			msg := slackfake.MessageRef{Channel: ref.Channel, TS: ref.TS}
			if _, err := srv.Click(ctx, alice, msg, actDeny, ""); err != nil {
				t.Fatal(err)
			}
			e := waitEphemeral(t, srv, alice, tt.want)
			if strings.Contains(e.Text+blocksText(t, e.Blocks), "pq:") {
				t.Errorf("raw error reached Slack: %+v", e)
			}
		})
	}
}

func TestNotifyRoutesThreadAndDM(t *testing.T) {
	srv := newFake(t, nil)
	b := newBot(t, srv, nil, nil)
	ctx := testCtx(t)
	req := sampleRequest()
	req.Requester = alice
	ref, err := b.PostApproval(ctx, req, policy.Rules{Channel: ops})
	if err != nil {
		t.Fatal(err)
	}
	g := store.Grant{ID: "g_9", User: alice, Resource: req.Resource, Role: req.Role,
		ExpiresAt: req.CreatedAt.Add(time.Hour), Thread: ref}
	err = b.Notify(ctx, access.Notice{Kind: access.NoticeExpiringSoon, Request: req, Grant: g})
	if err != nil {
		t.Fatal(err)
	}
	if r := srv.Replies(ref.Channel, ref.TS); len(r) != 1 || !strings.Contains(r[0].Text, "g_9") {
		t.Errorf("thread replies: %+v", r)
	}
	dms := srv.DMs(alice)
	if len(dms) != 1 || !strings.Contains(blocksText(t, dms[0].Blocks), actExtend) {
		t.Fatalf("DMs: %+v", dms)
	}
}

func TestEphemeralFallsBackToDM(t *testing.T) {
	srv := newFake(t, nil)
	b := newBot(t, srv, nil, nil)
	srv.FailNext("chat.postEphemeral", "user_not_in_channel", 1)
	if err := b.reply(testCtx(t), ops, bob, message{Text: "hello bob"}); err != nil {
		t.Fatal(err)
	}
	if dms := srv.DMs(bob); len(dms) != 1 || dms[0].Text != "hello bob" {
		t.Errorf("DMs: %+v", dms)
	}
}

func TestRateLimitedCallWaitsOnTheClock(t *testing.T) {
	clock := clockwork.NewFakeClock()
	srv := newFake(t, clock)
	b := newBot(t, srv, clock, nil)
	srv.RateLimitNext("chat.postMessage", 7*time.Second, 1)
	done := make(chan error, 1)
	go func() {
		_, err := b.post(testCtx(t), ops, "", message{Text: "hi"})
		done <- err
	}()
	ctx := testCtx(t)
	// The first try is refused; the bot then waits on the clock.
	if err := srv.WaitFor(ctx, func() bool {
		return len(srv.CallsTo("chat.postMessage")) == 1
	}); err != nil {
		t.Fatal(err)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Fatalf("post finished before the wait: %v", err)
	default:
	}
	clock.Advance(7 * time.Second)
	if err := <-done; err != nil {
		t.Fatalf("post after rate limit: %v", err)
	}
	if n := len(srv.Messages(ops)); n != 1 {
		t.Errorf("%d messages posted, want 1", n)
	}
}

func TestDirectoryCaches(t *testing.T) {
	clock := clockwork.NewFakeClock()
	srv := newFake(t, clock)
	b := newBot(t, srv, clock, func(o *Options) { o.GroupTTL = time.Minute })
	ctx := testCtx(t)
	for range 2 {
		got, err := b.GroupMembers(ctx, "subteam:S0ONCALL")
		if err != nil || len(got) != 2 {
			t.Fatalf("GroupMembers = %v, %v", got, err)
		}
	}
	if n := len(srv.CallsTo("usergroups.users.list")); n != 1 {
		t.Errorf("%d lookups within the TTL, want 1", n)
	}
	clock.Advance(2 * time.Minute)
	if _, err := b.GroupMembers(ctx, "S0ONCALL"); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.CallsTo("usergroups.users.list")); n != 2 {
		t.Errorf("%d lookups after the TTL, want 2", n)
	}

	if e, err := b.Email(ctx, alice); err != nil || e != "alice@example.test" {
		t.Errorf("Email(alice) = %q, %v", e, err)
	}
	if e, err := b.Email(ctx, bob); err != nil || e != "" {
		t.Errorf("Email(bob) = %q, %v; want empty", e, err)
	}
	if _, err := b.Email(ctx, "U0NOBODY"); err == nil {
		t.Error("Email of an unknown user succeeded")
	}
}

func TestNewChecksTokens(t *testing.T) {
	tests := []struct {
		name, app, bot, want string
	}{
		{"no app token", "", botToken, "JITBOT_SLACK_APP_TOKEN"},
		{"bot token in app slot", botToken, botToken, "JITBOT_SLACK_APP_TOKEN must start with xapp-"},
		{"no bot token", appToken, "", "JITBOT_SLACK_BOT_TOKEN"},
		{"user token", appToken, "xoxp-1", "JITBOT_SLACK_BOT_TOKEN must start with xoxb-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{AppToken: tt.app, BotToken: tt.bot})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want it to mention %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "xoxp-1") {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
}

func TestRunNamesTheRefusedToken(t *testing.T) {
	tests := []struct {
		name, app, bot, want string
	}{
		{"bot token", appToken, "xoxb-wrong", "JITBOT_SLACK_BOT_TOKEN"},
		{"app token", "xapp-wrong", botToken, "JITBOT_SLACK_APP_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, nil)
			b := newBot(t, srv, nil, func(o *Options) { o.AppToken, o.BotToken = tt.app, tt.bot })
			err := b.Run(testCtx(t), &fakeCore{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run error = %v, want it to name %s", err, tt.want)
			}
		})
	}
}

func TestExtendButtonOpensPrefilledModal(t *testing.T) {
	core := &fakeCore{}
	srv, b := startBot(t, core)
	ctx := testCtx(t)
	g := store.Grant{ID: "g_9", User: alice, Resource: "orders-db", Role: "write",
		ExpiresAt: time.Now().Add(10 * time.Minute)}
	core.mu.Lock()
	core.grants = []store.Grant{g}
	core.mu.Unlock()
	n := access.Notice{Kind: access.NoticeExpiringSoon, Grant: g,
		Request: store.Request{Requester: alice}}
	if err := b.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	dm := srv.DMs(alice)[0]
	_, err := srv.Click(ctx, alice, slackfake.MessageRef{Channel: dm.Channel, TS: dm.TS},
		actExtend, "g_9")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitFor(ctx, func() bool { return len(srv.Views(alice)) == 1 }); err != nil {
		t.Fatal("no modal opened for the extension")
	}
	v := srv.Views(alice)[0]
	var meta modalMeta
	_ = json.Unmarshal([]byte(v.PrivateMetadata), &meta)
	blocks := blocksText(t, v.Blocks)
	if meta.Extends != "g_9" || !strings.Contains(blocks, `"initial_option"`) ||
		strings.Contains(blocks, blkBreakGlass) {
		t.Errorf("extension modal: meta %+v blocks %s", meta, blocks)
	}
}

// TestRunFinishesAcceptedWorkOnCancel: work acked before shutdown is still
// done, and Run returns nil only after it.
func TestRunFinishesAcceptedWorkOnCancel(t *testing.T) {
	core := &fakeCore{gate: make(chan struct{})}
	srv := newFake(t, nil)
	b := newBot(t, srv, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, core) }()

	if _, err := srv.SlashCommand(testCtx(t), alice, ops, "/jit",
		"request orders-db read 1h late work"); err != nil {
		t.Fatal(err)
	}
	cancel()
	close(core.gate)
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if core.submissions() != 1 || len(srv.Ephemerals(alice)) != 1 {
		t.Errorf("accepted work not finished before Run returned: %d submissions, %+v",
			core.submissions(), srv.Ephemerals(alice))
	}
}

func TestCommandsWorkAfterSlackDisconnects(t *testing.T) {
	srv, _ := startBot(t, &fakeCore{})
	ctx := testCtx(t)
	if err := srv.WaitFor(ctx, func() bool { return srv.LiveConnections() > 0 }); err != nil {
		t.Fatal(err)
	}
	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.SlashCommand(ctx, bob, ops, "/jit", "help"); err != nil {
		t.Fatalf("command after reconnect: %v", err)
	}
	waitEphemeral(t, srv, bob, "/jit list")
	if n := srv.Connections(); n < 2 {
		t.Errorf("%d connections, want a reconnect", n)
	}
}
