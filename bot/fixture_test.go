package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// editJSON decodes raw, lets edit change it, and encodes it again.
func editJSON(t *testing.T, raw []byte, edit func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("fixture is not JSON: %v", err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// envelopePayload reads a Socket Mode envelope the way the socketmode
// client does and returns its payload.
func envelopePayload(t *testing.T, raw []byte) json.RawMessage {
	t.Helper()
	var req socketmode.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatalf("envelope: %v", err)
	}
	return req.Payload
}

func TestFixtureSlashCommandForm(t *testing.T) {
	raw := readFixture(t, "slash-command-payload.form-urlencoded.txt")
	body := strings.ReplaceAll(strings.TrimSpace(string(raw)), "\n", "")
	r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sc, err := slack.SlashCommandParse(r)
	if err != nil {
		t.Fatal(err)
	}
	_, err = parseCommand(sc.Text)
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(ue.Problem, `"94070"`) {
		t.Errorf("fixture text %q: got %v, want an unknown sub-command", sc.Text, err)
	}
}

// fixtureWorld is an emulator that knows the users and channels the
// fixtures name.
func fixtureWorld(t *testing.T) (*slackfake.Server, *Bot, *fakeCore) {
	t.Helper()
	srv := slackfake.New(slackfake.Options{
		AppToken: appToken, BotToken: botToken,
		Users: []slackfake.User{
			{ID: "U111", Name: "test-test-test"}, {ID: "U123ABC456", Name: "rainer"},
			{ID: "U123", Name: "test-test"},
		},
		Channels: []slackfake.Channel{{ID: "C111", Name: "random"}},
	})
	t.Cleanup(srv.Close)
	b := newBot(t, srv, nil, nil)
	core := &fakeCore{}
	b.setCore(core)
	return srv, b, core
}

// TestFixtureSlashCommandEnvelope runs Slack's example envelope: an empty
// command text in a channel the bot is not in. The help goes by DM.
func TestFixtureSlashCommandEnvelope(t *testing.T) {
	srv, b, _ := fixtureWorld(t)
	payload := envelopePayload(t, readFixture(t, "socketmode-envelope-slash_commands.json"))
	var sc slack.SlashCommand
	if err := json.Unmarshal(payload, &sc); err != nil {
		t.Fatal(err)
	}
	b.slash(context.Background(), sc)
	dms := srv.DMs(sc.UserID)
	if len(dms) != 1 || !strings.Contains(blocksText(t, dms[0].Blocks), "/jit request") {
		t.Errorf("help not sent by DM to %s: %+v", sc.UserID, dms)
	}
}

// TestFixtureBlockActions clicks Approve through Slack's example
// block_actions envelope, as an approver that the core refuses.
func TestFixtureBlockActions(t *testing.T) {
	srv, b, core := fixtureWorld(t)
	raw := editJSON(t, readFixture(t, "socketmode-envelope-block_actions.json"),
		func(env map[string]any) {
			act := env["payload"].(map[string]any)["actions"].([]any)[0].(map[string]any)
			act["action_id"], act["value"] = actApprove, "r_77"
		})
	var cb slack.InteractionCallback
	if err := json.Unmarshal(envelopePayload(t, raw), &cb); err != nil {
		t.Fatal(err)
	}
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("actions: %+v", cb.ActionCallback)
	}
	core.decideErr = fmt.Errorf("decide r_77: %w", access.ErrNotApprover)
	b.action(context.Background(), cb, *cb.ActionCallback.BlockActions[0])
	eph := srv.Ephemerals("U111")
	if len(eph) != 1 || eph[0].Channel != "C111" ||
		eph[0].Text != "Only approvers of this role can decide this request." {
		t.Errorf("ephemerals: %+v", eph)
	}
}

// TestFixtureViewSubmission reads Slack's example view_submission with our
// blocks' values in its state.
func TestFixtureViewSubmission(t *testing.T) {
	raw := readFixture(t, "view_submission-payload.json")
	var plainCB slack.InteractionCallback
	if err := json.Unmarshal(raw, &plainCB); err != nil {
		t.Fatal(err)
	}
	if _, _, bad := readSubmission(plainCB); bad[blkTarget] == "" {
		t.Errorf("a foreign form read as a request")
	}

	raw = editJSON(t, raw, func(p map[string]any) {
		view := p["view"].(map[string]any)
		view["callback_id"] = modalCallback
		view["private_metadata"] = `{"c":"C111","x":"g_5"}`
		text := func(v string) map[string]any {
			return map[string]any{"type": "plain_text_input", "value": v}
		}
		view["state"] = map[string]any{"values": map[string]any{
			blkTarget: map[string]any{blkTarget: map[string]any{
				"type": "static_select",
				"selected_option": map[string]any{
					"text":  map[string]any{"type": "plain_text", "text": "db / ro"},
					"value": targetValue("db", "ro"),
				}}},
			blkDuration: map[string]any{blkDuration: text("2h")},
			blkReason:   map[string]any{blkReason: text("  INC-9\nrestore  ")},
			blkBreakGlass: map[string]any{blkBreakGlass: map[string]any{
				"type": "checkboxes", "selected_options": []any{}}},
		}}
	})
	var cb slack.InteractionCallback
	if err := json.Unmarshal(raw, &cb); err != nil {
		t.Fatal(err)
	}
	in, meta, bad := readSubmission(cb)
	want := access.SubmitInput{User: "U123", Resource: "db", Role: "ro",
		Duration: 2 * time.Hour, Reason: "INC-9\nrestore", ExtendsGrant: "g_5"}
	if len(bad) != 0 || in != want || meta.Channel != "C111" {
		t.Errorf("read %+v %+v %v, want %+v", in, meta, bad, want)
	}
}
