package slackfake_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/slackfake"
)

const (
	testAppToken = "xapp-1-A0JITBOT-1-test"
	testBotToken = "xoxb-1-test"
)

var testUsers = []slackfake.User{
	{ID: "U0ALICE", Name: "alice", RealName: "Alice Example", Email: "alice@example.com", TZ: "Europe/Berlin"},
	{ID: "U0BOB", Name: "bob", RealName: "Bob Example"},
}

// newServer starts an emulator with two users, one channel and one group.
func newServer(t *testing.T, tweak func(*slackfake.Options)) *slackfake.Server {
	t.Helper()
	opts := slackfake.Options{
		AppToken:   testAppToken,
		BotToken:   testBotToken,
		Users:      testUsers,
		Channels:   []slackfake.Channel{{ID: "C0ACCESS", Name: "access-requests"}},
		UserGroups: map[string][]string{"S0ADMINS": {"U0BOB"}},
		// Well inside the 2 s the test bot's client waits for a ping.
		PingInterval: 200 * time.Millisecond,
		Logf:         t.Logf,
	}
	if tweak != nil {
		tweak(&opts)
	}
	srv := slackfake.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// newAPI returns a real slack-go client pointed at the emulator.
func newAPI(srv *slackfake.Server, opts ...slack.Option) *slack.Client {
	opts = append([]slack.Option{
		slack.OptionAppLevelToken(testAppToken),
		slack.OptionAPIURL(srv.APIURL()),
	}, opts...)
	return slack.New(testBotToken, opts...)
}

// testBot is a minimal bot on the real socketmode client. handle answers
// each request; nil acks with no payload.
type testBot struct {
	api    *slack.Client
	client *socketmode.Client
	events chan socketmode.Event // every event the client emitted
}

func startBot(
	t *testing.T,
	srv *slackfake.Server,
	handle func(b *testBot, evt socketmode.Event),
) *testBot {
	t.Helper()
	api := newAPI(srv)
	b := &testBot{
		api:    api,
		client: socketmode.New(api, socketmode.OptionPingInterval(2*time.Second)),
		events: make(chan socketmode.Event, 100),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = b.client.RunContext(ctx); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.client.Events:
				select {
				case b.events <- evt:
				default:
				}
				if evt.Request == nil || evt.Type == socketmode.EventTypeHello {
					continue
				}
				if handle != nil {
					handle(b, evt)
				} else {
					_ = b.client.Ack(*evt.Request)
				}
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return b
}

// waitEvent returns the first client event of a type.
func (b *testBot) waitEvent(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case evt := <-b.events:
			if evt.Type == typ {
				return evt
			}
		case <-timeout:
			t.Fatalf("no %s event within 5s", typ)
		}
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fixture reads a file from shared/slack-fixtures, found by walking up
// from the test's folder (the repository may sit beside shared/).
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		for _, cand := range []string{
			filepath.Join(dir, "shared", "slack-fixtures"),
			filepath.Join(dir, "..", "shared", "slack-fixtures"),
		} {
			if data, err := os.ReadFile(filepath.Join(cand, name)); err == nil {
				return data
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("fixture %s: no shared/slack-fixtures above the test", name)
		}
		dir = parent
	}
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// missingKeys returns the keys of want that got lacks.
func missingKeys(t *testing.T, want, got []byte) []string {
	t.Helper()
	have := map[string]bool{}
	for _, k := range keysOf(t, got) {
		have[k] = true
	}
	var missing []string
	for _, k := range keysOf(t, want) {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	return missing
}

// field returns a nested JSON value by keys.
func field(t *testing.T, raw []byte, keys ...string) []byte {
	t.Helper()
	for _, k := range keys {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("field %s: %v", k, err)
		}
		raw = m[k]
	}
	return raw
}
