package slackfake_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/internal/slackfake"
)

// rawCall posts a form to a method and returns the status and body.
func rawCall(t *testing.T, srv *slackfake.Server, method, token string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.APIURL()+method, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func TestTokensAreChecked(t *testing.T) {
	srv := newServer(t, nil)
	tests := []struct {
		name, method, token, want string
	}{
		{"bot token opens no socket", "apps.connections.open", testBotToken, "not_allowed_token_type"},
		{"app token posts nothing", "chat.postMessage", testAppToken, "not_allowed_token_type"},
		{"unknown bot token", "auth.test", "xoxb-forged", "invalid_auth"},
		{"unknown app token", "apps.connections.open", "xapp-forged", "invalid_auth"},
		{"no token", "users.info", "", "not_authed"},
		{"unknown method", "chat.scheduleMessage", testBotToken, "unknown_method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, body := rawCall(t, srv, tc.method, tc.token, url.Values{"channel": {"C0ACCESS"}, "text": {"x"}})
			want := fmt.Sprintf(`{"error":%q,"ok":false}`, tc.want)
			if body != want {
				t.Errorf("body = %s, want %s", body, want)
			}
		})
	}
	if len(srv.Messages("C0ACCESS")) != 0 {
		t.Error("a refused call posted a message")
	}
	for _, c := range srv.Calls() {
		if strings.Contains(fmt.Sprint(c.Params), "xox") || strings.Contains(fmt.Sprint(c.Params), "xapp") {
			t.Errorf("call %s recorded a token: %v", c.Method, c.Params)
		}
	}
}

func TestResponsesParseWithSlackGo(t *testing.T) {
	srv := newServer(t, nil)
	api := newAPI(srv)
	ctx := testContext(t)

	auth, err := api.AuthTestContext(ctx)
	if err != nil || auth.UserID != "U0JITBOT" || auth.TeamID != "T0JITBOT" || auth.BotID != "B0JITBOT" {
		t.Errorf("auth.test = %+v, %v", auth, err)
	}

	alice, err := api.GetUserInfoContext(ctx, "U0ALICE")
	if err != nil || alice.Profile.Email != "alice@example.com" || alice.RealName != "Alice Example" ||
		alice.TZ != "Europe/Berlin" || alice.TZOffset == 0 {
		t.Errorf("users.info alice = %+v, %v", alice, err)
	}
	_, body := rawCall(t, srv, "users.info", testBotToken, url.Values{"user": {"U0BOB"}})
	if strings.Contains(body, `"email"`) {
		t.Errorf("bob has no email but users.info shows one: %s", body)
	}
	for _, k := range keysOf(t, field(t, []byte(body), "user")) {
		if !strings.Contains(string(fixture(t, "users.info-response.json")), `"`+k+`"`) {
			t.Errorf("users.info has field %q that Slack's example lacks", k)
		}
	}
	if _, err := api.GetUserInfoContext(ctx, "U0NOBODY"); err == nil || err.Error() != "user_not_found" {
		t.Errorf("unknown user err = %v, want user_not_found", err)
	}

	members, err := api.GetUserGroupMembersContext(ctx, "S0ADMINS")
	if err != nil || len(members) != 1 || members[0] != "U0BOB" {
		t.Errorf("usergroups.users.list = %v, %v", members, err)
	}
	if _, err := api.GetUserGroupMembersContext(ctx, "S0NONE"); err == nil || err.Error() != "no_such_subteam" {
		t.Errorf("unknown group err = %v", err)
	}

	ch, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{"U0ALICE"}})
	if err != nil || !strings.HasPrefix(ch.ID, "D") {
		t.Fatalf("conversations.open = %+v, %v", ch, err)
	}
	again, _, already, err := api.OpenConversationContext(ctx,
		&slack.OpenConversationParameters{Users: []string{"U0ALICE"}, ReturnIM: true})
	if err != nil || again.ID != ch.ID || !already || !again.IsIM {
		t.Errorf("reopened IM = %+v already=%v, %v; want %s already open", again, already, err, ch.ID)
	}
}

func TestPostUpdateThreadAndEphemeral(t *testing.T) {
	srv := newServer(t, nil)
	api := newAPI(srv)
	ctx := testContext(t)

	ch, ts, err := api.PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("Request 1", false))
	if err != nil || ch != "C0ACCESS" {
		t.Fatalf("post = %s %s, %v", ch, ts, err)
	}
	_, reply, err := api.PostMessageContext(ctx, "C0ACCESS",
		slack.MsgOptionText("approved by bob", false), slack.MsgOptionTS(ts))
	if err != nil || reply <= ts {
		t.Fatalf("thread reply ts %s after parent %s, %v", reply, ts, err)
	}
	if _, _, _, err := api.UpdateMessageContext(ctx, "C0ACCESS", ts, slack.MsgOptionText("Request 1: approved", false)); err != nil {
		t.Fatalf("update: %v", err)
	}
	dmChannel, _, err := api.PostMessageContext(ctx, "U0ALICE", slack.MsgOptionText("granted", false))
	if err != nil {
		t.Fatalf("post to a user: %v", err)
	}
	if _, err := api.PostEphemeralContext(ctx, "C0ACCESS", "U0BOB", slack.MsgOptionText("only you", false)); err != nil {
		t.Fatalf("ephemeral: %v", err)
	}

	top := srv.Messages("C0ACCESS")
	if len(top) != 1 || top[0].Text != "Request 1: approved" || top[0].Updated != 1 {
		t.Errorf("channel shows %+v, want the updated request only", top)
	}
	if r := srv.Replies("C0ACCESS", ts); len(r) != 1 || r[0].Text != "approved by bob" {
		t.Errorf("thread shows %+v", r)
	}
	if dm := srv.DMs("U0ALICE"); len(dm) != 1 || dm[0].Channel != dmChannel || dm[0].Text != "granted" {
		t.Errorf("alice's DMs %+v, want the grant notice in %s", dm, dmChannel)
	}
	if e := srv.Ephemerals("U0BOB"); len(e) != 1 || e[0].Text != "only you" {
		t.Errorf("bob's ephemerals %+v", e)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0NOWHERE", slack.MsgOptionText("x", false)); err == nil ||
		err.Error() != "channel_not_found" {
		t.Errorf("post to unknown channel err = %v", err)
	}
}

func button(text, value string) slack.BlockElement {
	return slack.NewButtonBlockElement("approve", value, slack.NewTextBlockObject("plain_text", text, false, false))
}

func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", text, false, false), nil, nil)
}

func TestMessageLimitsRefused(t *testing.T) {
	srv := newServer(t, nil)
	api := newAPI(srv)
	ctx := testContext(t)
	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = section("x")
	}
	tests := []struct {
		name string
		opts []slack.MsgOption
		want string
	}{
		{"51 blocks", []slack.MsgOption{slack.MsgOptionBlocks(many...)}, "invalid_blocks"},
		{"section text 3001", []slack.MsgOption{slack.MsgOptionBlocks(section(strings.Repeat("a", 3001)))}, "invalid_blocks"},
		{"button text 76", []slack.MsgOption{slack.MsgOptionBlocks(
			slack.NewActionBlock("b", button(strings.Repeat("a", 76), "v")))}, "invalid_blocks"},
		{"button value 2001", []slack.MsgOption{slack.MsgOptionBlocks(
			slack.NewActionBlock("b", button("Approve", strings.Repeat("v", 2001))))}, "invalid_blocks"},
		{"header 151", []slack.MsgOption{slack.MsgOptionBlocks(slack.NewHeaderBlock(
			slack.NewTextBlockObject("plain_text", strings.Repeat("h", 151), false, false)))}, "invalid_blocks"},
		{"no text or blocks", nil, "no_text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessageContext(ctx, "C0ACCESS", tc.opts...)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
	if n := len(srv.Messages("C0ACCESS")); n != 0 {
		t.Errorf("%d refused messages were stored", n)
	}

	okBlocks := slack.MsgOptionBlocks(many[:50]...)
	if _, _, err := api.PostMessageContext(ctx, "C0ACCESS", okBlocks); err != nil {
		t.Errorf("50 blocks refused: %v", err)
	}
	_, ts, _ := api.PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("short", false))
	_, _, _, err := api.UpdateMessageContext(ctx, "C0ACCESS", ts, slack.MsgOptionText(strings.Repeat("a", 4001), false))
	if err == nil || err.Error() != "msg_too_long" {
		t.Errorf("update with 4001 chars err = %v, want msg_too_long", err)
	}
	if m, _ := srv.FindMessage("C0ACCESS", ts); m.Text != "short" {
		t.Errorf("refused update changed the message to %q", m.Text)
	}
}

func TestFailNextAndRateLimit(t *testing.T) {
	srv := newServer(t, nil)
	ctx := testContext(t)

	srv.FailNext("chat.postMessage", "fatal_error", 1)
	if _, _, err := newAPI(srv).PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("x", false)); err == nil ||
		err.Error() != "fatal_error" {
		t.Errorf("injected failure err = %v", err)
	}

	srv.RateLimitNext("chat.postMessage", time.Second, 1)
	_, _, err := newAPI(srv).PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("rate limited err = %v, want RateLimitedError after 1s", err)
	}

	srv.RateLimitNext("chat.postMessage", time.Second, 1)
	retrying := newAPI(srv, slack.OptionRetryConfig(slack.RetryConfig{MaxRetries: 1}))
	start := time.Now()
	_, _, err = retrying.PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionText("after wait", false))
	waited := time.Since(start)
	if err != nil || waited < time.Second {
		t.Errorf("retrying client: err %v after %s, want success after >= 1s", err, waited)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 4 || calls[2].Error != "ratelimited" || calls[3].Error != "" {
		t.Errorf("postMessage calls %+v, want the 429 then the retry", calls)
	}
	t.Logf("slack-go honoured Retry-After: 1, retried after %s", waited)
}
