package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

func TestParseDurationTakesOnlyCleanForms(t *testing.T) {
	accepted := map[string]time.Duration{
		"45s": 45 * time.Second, "90m": 90 * time.Minute, "1D2H": 26 * time.Hour,
		"1d2h30m": 26*time.Hour + 30*time.Minute,
	}
	for in, want := range accepted {
		if d, problem := parseDuration(in); problem != "" || d != want {
			t.Errorf("parseDuration(%q) = %v, %q; want %v", in, d, problem, want)
		}
	}
	refused := map[string]string{
		"1d-23h": "no negative part",
		"-1h":    "no negative part",
		"1.5h":   "Cannot read duration",
		"1h1h":   "Cannot read duration",
		"30m2h":  "Cannot read duration",
		"1ns":    "Cannot read duration",
		"500ms":  "Cannot read duration",
		"0m":     "more than zero",
	}
	for in, want := range refused {
		if d, problem := parseDuration(in); !strings.Contains(problem, want) {
			t.Errorf("parseDuration(%q) = %v, %q; want a problem with %q", in, d, problem, want)
		}
	}
}

func TestParseIDRefusesWhatIsNotAnID(t *testing.T) {
	long := strings.Repeat("x", 5000)
	refused := []struct {
		text, want string
	}{
		{"cancel " + long,
			`"xxxxxxxxxxxxxxxxxxxxxxx…" is not a request id: request ids look like r_`},
		{"revoke r_abc", `"r_abc" is not a grant id`},
		{"ack r_abc", `"r_abc" is not a grant id`},
		{"cancel g_abc", `"g_abc" is not a request id`},
		{"ack g_", "is not a grant id"},
		{"revoke g_a;drop", "is not a grant id"},
	}
	for _, tc := range refused {
		_, err := parseCommand(tc.text)
		var ue *usageError
		if !errors.As(err, &ue) || !strings.Contains(ue.Problem, tc.want) {
			t.Errorf("parseCommand(%.20q…) = %v, want a problem with %q", tc.text, err, tc.want)
			continue
		}
		if len(ue.Problem) > 120 {
			t.Errorf("problem for %.20q… is %d bytes long", tc.text, len(ue.Problem))
		}
	}
	cmd, err := parseCommand("ack `G_ABC2`")
	if err != nil || cmd.ID != "g_abc2" {
		t.Errorf("pasted id read as %+v, %v; want g_abc2", cmd, err)
	}
}

// idCore is a fakeCore that records the ids it is asked about and answers
// Acknowledge with ackErr.
type idCore struct {
	*fakeCore
	mu     sync.Mutex
	ids    []string
	ackErr error
}

func (c *idCore) record(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, id)
}

func (c *idCore) asked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids...)
}

func (c *idCore) Cancel(ctx context.Context, id, actor string) (store.Request, error) {
	c.record(id)
	return c.fakeCore.Cancel(ctx, id, actor)
}

func (c *idCore) Acknowledge(_ context.Context, id, _ string) (store.Grant, error) {
	c.record(id)
	return store.Grant{ID: id}, c.ackErr
}

// syncBuffer is a log sink the bot's workers may write while a test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLoggedBot is startBot with the bot's log kept in logs.
func startLoggedBot(t *testing.T, core Core, logs *syncBuffer) *slackfake.Server {
	t.Helper()
	srv := newFake(t, nil)
	b := newBot(t, srv, nil, func(o *Options) { o.Log = zerolog.New(logs) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, core) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
	return srv
}

func TestHugeTypedIDIsRefusedUpFront(t *testing.T) {
	core := &idCore{fakeCore: &fakeCore{}}
	var logs syncBuffer
	srv := startLoggedBot(t, core, &logs)
	long := strings.Repeat("x", 5000)
	if _, err := srv.SlashCommand(testCtx(t), bob, ops, "/jit", "cancel "+long); err != nil {
		t.Fatal(err)
	}
	e := waitEphemeral(t, srv, bob, "is not a request id")
	if len(e.Text) > 200 {
		t.Errorf("answer is %d bytes: %.80s…", len(e.Text), e.Text)
	}
	if ids := core.asked(); len(ids) != 0 {
		t.Errorf("core was asked about %d id(s)", len(ids))
	}
	if strings.Contains(logs.String(), strings.Repeat("x", 65)) {
		t.Errorf("log repeats the typed id: %.300s", logs.String())
	}
}

func TestOutcomeCapsTheLoggedOperation(t *testing.T) {
	var logs syncBuffer
	b := newBot(t, newFake(t, nil), nil, func(o *Options) { o.Log = zerolog.New(&logs) })
	op := "decide request r_" + strings.Repeat("y", 5000)
	m := b.outcome(fmt.Errorf("decide: %w", access.ErrNotFound), store.Request{}, op, "")
	if m.Text != phraseNotFound {
		t.Errorf("answer %q, want %q", m.Text, phraseNotFound)
	}
	var line struct {
		Op string `json:"op"`
	}
	if err := json.Unmarshal([]byte(logs.String()), &line); err != nil {
		t.Fatalf("log %q: %v", logs.String(), err)
	}
	n := len([]rune(line.Op))
	if n > maxLoggedOp || !strings.HasPrefix(line.Op, "decide request r_") {
		t.Errorf("logged op has %d characters: %.120s", n, line.Op)
	}
}

func TestHolderAcknowledgingOwnBreakGlassIsTold(t *testing.T) {
	core := &idCore{fakeCore: &fakeCore{},
		ackErr: fmt.Errorf("acknowledge grant g_abc: %w", access.ErrOwnGrant)}
	srv, _ := startBot(t, core)
	if _, err := srv.SlashCommand(testCtx(t), alice, ops, "/jit", "ack g_abc"); err != nil {
		t.Fatal(err)
	}
	e := waitEphemeral(t, srv, alice, phraseOwnGrant)
	if strings.Contains(e.Text, "acknowledged.") {
		t.Errorf("answer also claims success: %q", e.Text)
	}
	if ids := core.asked(); len(ids) != 1 || ids[0] != "g_abc" {
		t.Errorf("core asked about %v", ids)
	}
}

func TestModalShowsEachProblemAsItsOwnSentence(t *testing.T) {
	core := &fakeCore{problems: []policy.Problem{
		{Field: "reason", Message: "must be at least 10 characters"},
		{Field: "reason", Message: "must match INC-[0-9]+, e.g. an incident reference"},
		{Field: "duration", Message: "30s is shorter than the minimum of 1m"},
	}}
	srv, _ := startBot(t, core)
	v := openModal(t, srv, alice)
	ack, err := srv.SubmitView(testCtx(t), alice, v.ID, map[string]map[string]string{
		blkTarget: {blkTarget: targetValue("orders-db", "read")}, blkDuration: {blkDuration: "30s"},
		blkReason: {blkReason: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &resp); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	want := map[string]string{
		blkReason: "Must be at least 10 characters. " +
			"Must match INC-[0-9]+, e.g. an incident reference.",
		blkDuration: "30s is shorter than the minimum of 1m.",
	}
	for blk, w := range want {
		if resp.Errors[blk] != w {
			t.Errorf("error under %s = %q, want %q", blk, resp.Errors[blk], w)
		}
	}
}
