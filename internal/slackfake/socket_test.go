package slackfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/slackfake"
)

func TestHelloHasSlackShape(t *testing.T) {
	srv := newServer(t, nil)
	ctx := testContext(t)

	_, url, err := newAPI(srv).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatalf("apps.connections.open: %v", err)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_, hello, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read hello: %v", err)
	}

	want := fixture(t, "socketmode-hello.json")
	if miss := missingKeys(t, want, hello); len(miss) > 0 {
		t.Errorf("hello lacks %v: %s", miss, hello)
	}
	if miss := missingKeys(t, field(t, want, "debug_info"), field(t, hello, "debug_info")); len(miss) > 0 {
		t.Errorf("hello debug_info lacks %v", miss)
	}
	if _, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil); err == nil {
		t.Error("a websocket ticket was accepted twice")
	}
}

func TestSocketModeClientConnectsAndStaysUp(t *testing.T) {
	srv := newServer(t, nil)
	bot := startBot(t, srv, nil)

	hello := bot.waitEvent(t, socketmode.EventTypeHello)
	if hello.Request.NumConnections != 1 || hello.Request.ConnectionInfo.AppID != "A0JITBOT" {
		t.Errorf("hello = %+v, want 1 connection for app A0JITBOT", hello.Request)
	}

	// The client drops a connection that goes 2 s without a ping; after
	// 2.5 s the first connection must still be the only one.
	timer := time.NewTimer(2500 * time.Millisecond)
	defer timer.Stop()
	<-timer.C
	if n := srv.Connections(); n != 1 {
		t.Errorf("connections after 2.5s = %d, want 1 (keep-alive pings failing)", n)
	}
}

func TestSlashCommandRoundTrip(t *testing.T) {
	srv := newServer(t, nil)
	got := make(chan slack.SlashCommand, 1)
	startBot(t, srv, func(b *testBot, evt socketmode.Event) {
		cmd, _ := evt.Data.(slack.SlashCommand)
		got <- cmd
		_ = b.client.Ack(*evt.Request, map[string]any{"text": "Request received"})
	})

	ack, err := srv.SlashCommand(testContext(t), "U0ALICE", "C0ACCESS", "/jit", "request db admin 1h")
	if err != nil {
		t.Fatalf("slash command: %v", err)
	}
	cmd := <-got
	if cmd.UserID != "U0ALICE" || cmd.UserName != "alice" || cmd.ChannelName != "access-requests" ||
		cmd.Command != "/jit" || cmd.Text != "request db admin 1h" || cmd.TriggerID == "" {
		t.Errorf("bot saw command %+v", cmd)
	}
	if text := string(field(t, ack.Payload, "text")); text != `"Request received"` {
		t.Errorf("ack payload text = %s", text)
	}
	lat := srv.AckLatencies()
	if len(lat) != 1 || lat[0] <= 0 || lat[0] >= slackfake.DefaultAckTimeout {
		t.Errorf("ack latencies = %v, want one under 3s", lat)
	}
	eph := srv.Ephemerals("U0ALICE")
	if len(eph) != 1 || eph[0].Text != "Request received" || eph[0].Channel != "C0ACCESS" {
		t.Errorf("alice saw ephemerals %+v, want the ack text", eph)
	}
	t.Logf("slash command ack latency %s", lat[0])
}

func TestSlashCommandEnvelopeMatchesFixture(t *testing.T) {
	srv := newServer(t, nil)
	raw := make(chan slackfake.Envelope, 1)
	startBot(t, srv, func(b *testBot, evt socketmode.Event) {
		raw <- slackfake.Envelope{
			ID: evt.Request.EnvelopeID, Type: evt.Request.Type, Payload: evt.Request.Payload,
			AcceptsResponsePayload: evt.Request.AcceptsResponsePayload,
		}
		_ = b.client.Ack(*evt.Request)
	})
	if _, err := srv.SlashCommand(testContext(t), "U0BOB", "C0ACCESS", "/jit", ""); err != nil {
		t.Fatal(err)
	}
	env := <-raw
	encoded, _ := json.Marshal(env)
	want := fixture(t, "socketmode-envelope-slash_commands.json")
	if miss := missingKeys(t, want, encoded); len(miss) > 0 {
		t.Errorf("envelope lacks %v", miss)
	}
	if miss := missingKeys(t, field(t, want, "payload"), env.Payload); len(miss) > 0 {
		t.Errorf("slash command payload lacks %v", miss)
	}
	if env.Type != "slash_commands" || !env.AcceptsResponsePayload {
		t.Errorf("envelope type %q accepts_response_payload %v", env.Type, env.AcceptsResponsePayload)
	}
}

func TestAckTimeoutAndRedelivery(t *testing.T) {
	srv := newServer(t, func(o *slackfake.Options) { o.AckTimeout = 300 * time.Millisecond })
	attempts := make(chan int, 2)
	startBot(t, srv, func(b *testBot, evt socketmode.Event) {
		attempts <- evt.Request.RetryAttempt
		if evt.Request.RetryAttempt > 0 { // a slow bot: only the retry is acked
			_ = b.client.Ack(*evt.Request)
		}
	})
	ctx := testContext(t)

	ack, err := srv.SlashCommand(ctx, "U0ALICE", "C0ACCESS", "/jit", "x")
	if !errors.Is(err, slackfake.ErrAckTimeout) {
		t.Fatalf("unacked command err = %v, want ErrAckTimeout", err)
	}
	again, err := srv.Redeliver(ctx, ack.Envelope)
	if err != nil {
		t.Fatalf("redeliver: %v", err)
	}
	if first, second := <-attempts, <-attempts; first != 0 || second != 1 {
		t.Errorf("bot saw retry attempts %d then %d, want 0 then 1", first, second)
	}
	if again.Envelope.ID != ack.Envelope.ID || again.Envelope.RetryReason != "timeout" {
		t.Errorf("redelivered envelope %+v, want same id with retry_reason timeout", again.Envelope)
	}
	if n := len(srv.AckLatencies()); n != 1 {
		t.Errorf("recorded %d ack latencies, want 1 (the timed-out one has none)", n)
	}
}

func TestDisconnectThenReconnect(t *testing.T) {
	srv := newServer(t, nil)
	bot := startBot(t, srv, nil)
	ctx := testContext(t)
	bot.waitEvent(t, socketmode.EventTypeHello)

	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	err := srv.WaitFor(ctx, func() bool {
		return srv.Connections() == 2 && srv.LiveConnections() == 1
	})
	if err != nil {
		t.Fatalf("no reconnect: connections=%d live=%d: %v",
			srv.Connections(), srv.LiveConnections(), err)
	}
	if _, err := srv.SlashCommand(ctx, "U0ALICE", "C0ACCESS", "/jit", "after"); err != nil {
		t.Errorf("command on the new connection: %v", err)
	}
}

func TestDisconnectFrameMatchesFixture(t *testing.T) {
	srv := newServer(t, nil)
	ctx := testContext(t)
	_, url, err := newAPI(srv).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_, _, _ = conn.ReadMessage() // hello

	if err := srv.Disconnect("refresh_requested"); err != nil {
		t.Fatal(err)
	}
	_, frame, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := fixture(t, "socketmode-disconnect-refresh_requested.json")
	if !slices.Equal(keysOf(t, want), keysOf(t, frame)) {
		t.Errorf("disconnect frame keys %v, want %v", keysOf(t, frame), keysOf(t, want))
	}
	if r := string(field(t, frame, "reason")); r != `"refresh_requested"` {
		t.Errorf("reason = %s", r)
	}
	if err := srv.Disconnect("refresh_requested"); !errors.Is(err, slackfake.ErrNotConnected) {
		t.Errorf("second disconnect err = %v, want ErrNotConnected", err)
	}
}

func TestDeliverWaitsForAConnection(t *testing.T) {
	srv := newServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := srv.SlashCommand(ctx, "U0ALICE", "C0ACCESS", "/jit", "")
	if !errors.Is(err, slackfake.ErrNotConnected) {
		t.Errorf("command with no bot err = %v, want ErrNotConnected", err)
	}
}

func TestBadAppTokenStopsSocketMode(t *testing.T) {
	srv := newServer(t, nil)
	api := slack.New(testBotToken, slack.OptionAppLevelToken("xapp-wrong"),
		slack.OptionAPIURL(srv.APIURL()))
	client := socketmode.New(api)
	ctx := testContext(t)
	go func() {
		for {
			select {
			case <-client.Events:
			case <-ctx.Done():
				return
			}
		}
	}()
	err := client.RunContext(ctx)
	if err == nil || err.Error() != "invalid_auth" {
		t.Errorf("run with a wrong app token = %v, want invalid_auth", err)
	}
	if srv.Connections() != 0 {
		t.Error("a wrong app token got a websocket")
	}
}
