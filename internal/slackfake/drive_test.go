package slackfake_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/internal/slackfake"
)

func requestModal(title string) slack.ModalViewRequest {
	input := slack.NewInputBlock("reason",
		slack.NewTextBlockObject("plain_text", "Reason", false, false), nil,
		slack.NewPlainTextInputBlockElement(nil, "reason_input"))
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject("plain_text", title, false, false),
		Submit:          slack.NewTextBlockObject("plain_text", "Request", false, false),
		CallbackID:      "jit_request",
		PrivateMetadata: "req-1",
		Blocks:          slack.Blocks{BlockSet: []slack.Block{input}},
	}
}

func TestClickOpenModalAndSubmit(t *testing.T) {
	srv := newServer(t, nil)
	ctx := testContext(t)
	clicks := make(chan slack.InteractionCallback, 4)
	startBot(t, srv, func(b *testBot, evt socketmode.Event) {
		cb, _ := evt.Data.(slack.InteractionCallback)
		clicks <- cb
		switch {
		case cb.Type == slack.InteractionTypeBlockActions:
			_ = b.client.Ack(*evt.Request)
			_, _ = b.api.OpenViewContext(ctx, cb.TriggerID, requestModal("Request access"))
		case cb.View.State.Values["reason"]["reason_input"].Value == "":
			_ = b.client.Ack(*evt.Request, slack.NewErrorsViewSubmissionResponse(
				map[string]string{"reason": "say why"}))
		default:
			_ = b.client.Ack(*evt.Request)
		}
	})
	api := newAPI(srv)
	_, ts, err := api.PostMessageContext(ctx, "C0ACCESS", slack.MsgOptionBlocks(
		section("alice asks for db admin"),
		slack.NewActionBlock("decide", button("Approve", "req-1"))))
	if err != nil {
		t.Fatal(err)
	}
	ref := slackfake.MessageRef{Channel: "C0ACCESS", TS: ts}

	if _, err := srv.Click(ctx, "U0BOB", ref, "deny", ""); !errors.Is(err, slackfake.ErrNoSuchAction) {
		t.Errorf("click on a missing button err = %v, want ErrNoSuchAction", err)
	}
	if _, err := srv.Click(ctx, "U0BOB", ref, "approve", "req-1"); err != nil {
		t.Fatalf("click approve: %v", err)
	}
	cb := <-clicks
	if len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].Value != "req-1" ||
		cb.User.ID != "U0BOB" || cb.Container.MessageTs != ts || cb.Channel.ID != "C0ACCESS" {
		t.Errorf("bot saw click %+v", cb)
	}

	var view slackfake.View
	err = srv.WaitFor(ctx, func() bool {
		vs := srv.Views("U0BOB")
		if len(vs) == 1 {
			view = vs[0]
		}
		return len(vs) == 1
	})
	if err != nil || view.CallbackID != "jit_request" || !view.Open {
		t.Fatalf("modal for bob = %+v, %v", view, err)
	}

	if _, err := srv.SubmitView(ctx, "U0BOB", view.ID, map[string]map[string]string{
		"reason": {"reason_input": ""}}); err == nil {
		t.Error("submitting an empty required input succeeded")
	}
	if _, err := srv.SubmitView(ctx, "U0BOB", view.ID, map[string]map[string]string{
		"nope": {"x": "y"}, "reason": {"reason_input": "ok"}}); !errors.Is(err, slackfake.ErrNoSuchAction) {
		t.Errorf("value for a missing input err = %v, want ErrNoSuchAction", err)
	}
	ack, err := srv.SubmitView(ctx, "U0BOB", view.ID, map[string]map[string]string{
		"reason": {"reason_input": "incident 42"}})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	sub := <-clicks
	if sub.Type != slack.InteractionTypeViewSubmission || sub.View.CallbackID != "jit_request" ||
		sub.View.PrivateMetadata != "req-1" ||
		sub.View.State.Values["reason"]["reason_input"].Value != "incident 42" {
		t.Errorf("bot saw submission %+v", sub.View)
	}
	if len(ack.Payload) != 0 {
		t.Errorf("ack payload %s, want none", ack.Payload)
	}
	if vs := srv.Views("U0BOB"); vs[0].Open {
		t.Error("modal still open after a plain ack")
	}
	if !strings.Contains(srv.Transcript(), "[Approve]") {
		t.Errorf("transcript lacks the button:\n%s", srv.Transcript())
	}
}

func TestViewsOpenTriggerRules(t *testing.T) {
	clock := clockwork.NewFakeClock()
	srv := newServer(t, func(o *slackfake.Options) { o.Clock = clock })
	ctx := testContext(t)
	triggers := make(chan string, 2)
	startBot(t, srv, func(b *testBot, evt socketmode.Event) {
		cmd, _ := evt.Data.(slack.SlashCommand)
		triggers <- cmd.TriggerID
		_ = b.client.Ack(*evt.Request)
	})
	api := newAPI(srv)
	command := func() string {
		t.Helper()
		if _, err := srv.SlashCommand(ctx, "U0ALICE", "C0ACCESS", "/jit", ""); err != nil {
			t.Fatal(err)
		}
		return <-triggers
	}

	fresh := command()
	if _, err := api.OpenViewContext(ctx, fresh, requestModal(strings.Repeat("t", 25))); err == nil ||
		err.Error() != "invalid_arguments" {
		t.Errorf("25-char title err = %v, want invalid_arguments", err)
	}
	if _, err := api.OpenViewContext(ctx, fresh, requestModal("Request access")); err != nil {
		t.Errorf("fresh trigger refused: %v", err)
	}
	if _, err := api.OpenViewContext(ctx, fresh, requestModal("Request access")); err == nil ||
		err.Error() != "exchanged_trigger_id" {
		t.Errorf("reused trigger err = %v, want exchanged_trigger_id", err)
	}
	stale := command()
	clock.Advance(3*time.Second + time.Millisecond)
	if _, err := api.OpenViewContext(ctx, stale, requestModal("Request access")); err == nil ||
		err.Error() != "expired_trigger_id" {
		t.Errorf("stale trigger err = %v, want expired_trigger_id", err)
	}
	if _, err := api.OpenViewContext(ctx, "1.2.made-up", requestModal("Request access")); err == nil ||
		err.Error() != "invalid_arguments" {
		t.Errorf("made-up trigger err = %v, want invalid_arguments", err)
	}
	if n := len(srv.Views("U0ALICE")); n != 1 {
		t.Errorf("alice has %d modals, want 1", n)
	}
}
