package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// verificationToken is the legacy token Slack puts in payloads.
const verificationToken = "slackfake-verification"

// Envelope is a Socket Mode envelope as sent on the websocket.
type Envelope struct {
	ID                     string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt,omitempty"`
	RetryReason            string          `json:"retry_reason,omitempty"`
}

// Ack is the bot's answer to an envelope.
type Ack struct {
	Envelope Envelope        // what was delivered
	Payload  json.RawMessage // what the bot put in the ack; nil if nothing
	Latency  time.Duration   // from the write of the envelope to the ack
}

// MessageRef names a posted message.
type MessageRef struct {
	Channel string
	TS      string
}

// Deliver sends an envelope on the newest live connection, waiting for
// one to open if needed (bounded by ctx), and waits up to the ack budget
// for the bot's ack. Without an ack in time it returns the Ack with only
// Envelope set and an error wrapping ErrAckTimeout.
func (s *Server) Deliver(ctx context.Context, env Envelope) (Ack, error) {
	ack := Ack{Envelope: env}
	conn, err := s.liveConn(ctx)
	if err != nil {
		return ack, fmt.Errorf("deliver envelope %s: %w", env.ID, err)
	}
	wait := make(chan ackFrame, 1)
	s.sock.mu.Lock()
	s.sock.waiters[env.ID] = wait
	s.sock.mu.Unlock()
	defer func() {
		s.sock.mu.Lock()
		delete(s.sock.waiters, env.ID)
		s.sock.mu.Unlock()
	}()

	s.recordEnvelope(env)
	sent := time.Now()
	if err := conn.writeJSON(env); err != nil {
		return ack, fmt.Errorf("deliver envelope %s: %w", env.ID, err)
	}
	budget := time.NewTimer(s.opts.AckTimeout)
	defer budget.Stop()
	select {
	case f := <-wait:
		ack.Payload, ack.Latency = f.Payload, f.at.Sub(sent)
		s.recordAck(ack)
		return ack, nil
	case <-budget.C:
		return ack, fmt.Errorf("deliver envelope %s: %w", env.ID, ErrAckTimeout)
	case <-ctx.Done():
		return ack, fmt.Errorf("deliver envelope %s: %w", env.ID, ctx.Err())
	}
}

// Redeliver sends an envelope again as Slack does when an ack did not
// come: same envelope id, retry_attempt one higher, retry_reason
// "timeout". The bot must treat it as the same event.
func (s *Server) Redeliver(ctx context.Context, env Envelope) (Ack, error) {
	env.RetryAttempt++
	env.RetryReason = "timeout"
	return s.Deliver(ctx, env)
}

func (s *Server) recordEnvelope(env Envelope) {
	var p struct {
		Type    string `json:"type"`
		Command string `json:"command"`
		Text    string `json:"text"`
		User    struct {
			ID string `json:"id"`
		} `json:"user"`
		UserID  string `json:"user_id"`
		Actions []struct {
			ActionID string `json:"action_id"`
		} `json:"actions"`
	}
	_ = json.Unmarshal(env.Payload, &p)
	summary := env.Type
	switch {
	case p.Command != "":
		summary = strings.TrimSpace(p.Command + " " + p.Text)
	case len(p.Actions) > 0:
		summary = "click " + p.Actions[0].ActionID
	case p.Type != "":
		summary = p.Type
	}
	if env.RetryAttempt > 0 {
		summary += fmt.Sprintf(" (retry %d)", env.RetryAttempt)
	}
	user := p.UserID + p.User.ID
	s.mu.Lock()
	s.emitLocked(Event{Kind: EventEnvelope, User: user, Text: summary})
	s.mu.Unlock()
	s.logf("socket envelope %s type=%s retry=%d", env.ID, env.Type, env.RetryAttempt)
}

func (s *Server) recordAck(a Ack) {
	s.mu.Lock()
	s.latency = append(s.latency, a.Latency)
	s.notifyLocked()
	s.mu.Unlock()
	s.logf("socket ack %s after %s", a.Envelope.ID, a.Latency)
}

// SlashCommand types a slash command as userID in channelID and returns
// the bot's ack. A payload in the ack (text or blocks) is shown to the
// user as Slack does: ephemeral, or in the channel for
// response_type "in_channel".
func (s *Server) SlashCommand(
	ctx context.Context,
	userID, channelID, command, text string,
) (Ack, error) {
	s.mu.Lock()
	u, known := s.users[userID]
	if !known {
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slash command by %s: user %w", userID, ErrNotFound)
	}
	payload := map[string]any{
		"token": verificationToken, "team_id": s.opts.TeamID,
		"team_domain": s.opts.TeamDomain, "channel_id": channelID,
		"channel_name": s.channelNameLocked(channelID), "user_id": userID,
		"user_name": u.Name, "command": command, "text": text,
		"api_app_id": s.opts.AppID, "is_enterprise_install": "false",
		"response_url": s.responseURL("commands"),
		"trigger_id":   s.issueTriggerLocked(userID),
	}
	s.mu.Unlock()

	env := newEnvelope("slash_commands", payload, true)
	ack, err := s.Deliver(ctx, env)
	if err == nil {
		s.showCommandResponse(userID, channelID, ack.Payload)
	}
	return ack, err
}

func newEnvelope(typ string, payload any, acceptsResponse bool) Envelope {
	raw, _ := json.Marshal(payload)
	return Envelope{
		ID: newEnvelopeID(), Type: typ, Payload: raw,
		AcceptsResponsePayload: acceptsResponse,
	}
}

// channelNameLocked returns the name Slack reports for a channel.
func (s *Server) channelNameLocked(id string) string {
	if c, known := s.channels[id]; known {
		return c.Name
	}
	if _, isIM := s.imUsers[id]; isIM {
		return "directmessage"
	}
	return ""
}

// responseURL returns a response_url on this server. The emulator does not
// serve it.
func (s *Server) responseURL(kind string) string {
	return fmt.Sprintf("%s/%s/%s/%s", s.http.URL, kind, s.opts.TeamID, randomHex(12))
}

// showCommandResponse records what a command's ack payload shows.
func (s *Server) showCommandResponse(userID, channelID string, payload json.RawMessage) {
	var r struct {
		ResponseType string          `json:"response_type"`
		Text         string          `json:"text"`
		Blocks       json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(payload, &r) != nil || (r.Text == "" && len(r.Blocks) == 0) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.nextTSLocked()
	if r.ResponseType == "in_channel" {
		m := &Message{Channel: channelID, TS: ts, Text: r.Text, Blocks: r.Blocks,
			User: s.opts.BotUserID}
		s.messages[channelID] = append(s.messages[channelID], m)
		s.emitLocked(s.messageEvent(EventMessage, m))
		return
	}
	e := Ephemeral{Channel: channelID, User: userID, TS: ts, Text: r.Text, Blocks: r.Blocks}
	s.ephems = append(s.ephems, e)
	s.emitLocked(Event{Kind: EventEphemeral, Channel: channelID, User: userID,
		TS: ts, Text: r.Text, Blocks: renderBlocks(r.Blocks)})
}

// Click presses a button on a posted message as userID and returns the
// bot's ack. The button is found by action id (and value, when value is
// not empty) among the message's current blocks; a button that is not
// there cannot be clicked and yields ErrNoSuchAction.
func (s *Server) Click(
	ctx context.Context,
	userID string,
	msg MessageRef,
	actionID, value string,
) (Ack, error) {
	payload, err := s.clickPayload(userID, msg, actionID, value)
	if err != nil {
		return Ack{}, err
	}
	return s.Deliver(ctx, newEnvelope("interactive", payload, false))
}

func (s *Server) clickPayload(userID string, ref MessageRef, actionID, value string) (
	map[string]any, error,
) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, known := s.users[userID]
	if !known {
		return nil, fmt.Errorf("click by %s: user %w", userID, ErrNotFound)
	}
	m := s.findMessageLocked(ref.Channel, ref.TS)
	if m == nil {
		return nil, fmt.Errorf("click on message %s in %s: %w", ref.TS, ref.Channel, ErrNotFound)
	}
	action, err := findAction(m.Blocks, actionID, value)
	if err != nil {
		return nil, fmt.Errorf("click %s on message %s: %w", actionID, ref.TS, err)
	}
	action["action_ts"] = s.nextTSLocked()
	return map[string]any{
		"type":       "block_actions",
		"user":       s.userRef(u),
		"api_app_id": s.opts.AppID,
		"token":      verificationToken,
		"container": map[string]any{
			"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": false,
		},
		"trigger_id":   s.issueTriggerLocked(userID),
		"team":         map[string]any{"id": s.opts.TeamID, "domain": s.opts.TeamDomain},
		"channel":      map[string]any{"id": m.Channel, "name": s.channelNameLocked(m.Channel)},
		"message":      m.object(s),
		"state":        map[string]any{"values": map[string]any{}},
		"response_url": s.responseURL("actions"),
		"actions":      []any{action},
	}, nil
}

// findAction returns the action payload for the first interactive element
// with actionID (and value, if given) in blocks.
func findAction(blocks json.RawMessage, actionID, value string) (map[string]any, error) {
	var bs []map[string]any
	_ = json.Unmarshal(blocks, &bs)
	for _, b := range bs {
		var els []any
		if list, isList := b["elements"].([]any); isList && b["type"] == "actions" {
			els = list
		}
		if acc, isObj := b["accessory"].(map[string]any); isObj {
			els = append(els, acc)
		}
		for _, e := range els {
			el, _ := e.(map[string]any)
			v, _ := el["value"].(string)
			if el["action_id"] != actionID || (value != "" && v != value) {
				continue
			}
			a := map[string]any{"action_id": actionID, "block_id": b["block_id"], "type": el["type"]}
			for _, k := range []string{"text", "value", "style"} {
				if x, set := el[k]; set {
					a[k] = x
				}
			}
			return a, nil
		}
	}
	return nil, ErrNoSuchAction
}

// SubmitView submits an open modal as userID with the given input values
// (block id -> action id -> value; for selects the option value, for
// multi-selects and checkboxes comma-separated values) and returns the
// bot's ack. The ack decides what the user sees, as in Slack: a
// response_action "errors" keeps the modal open, "update" replaces it,
// "clear" closes all the user's modals, and anything else closes it.
func (s *Server) SubmitView(
	ctx context.Context,
	userID, viewID string,
	values map[string]map[string]string,
) (Ack, error) {
	payload, err := s.submitPayload(userID, viewID, values)
	if err != nil {
		return Ack{}, err
	}
	ack, err := s.Deliver(ctx, newEnvelope("interactive", payload, true))
	if err == nil {
		s.applyViewAck(userID, viewID, ack.Payload)
	}
	return ack, err
}

func (s *Server) submitPayload(userID, viewID string, values map[string]map[string]string) (
	map[string]any, error,
) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, found := s.views[viewID]
	if !found || !v.Open || v.User != userID {
		return nil, fmt.Errorf("submit view %s by %s: open view %w", viewID, userID, ErrNotFound)
	}
	u := s.users[userID]
	state, err := viewState(v.Blocks, values)
	if err != nil {
		return nil, fmt.Errorf("submit view %s: %w", viewID, err)
	}
	var view map[string]any
	_ = json.Unmarshal(v.Raw, &view)
	view["state"] = map[string]any{"values": state}
	return map[string]any{
		"type":          "view_submission",
		"team":          map[string]any{"id": s.opts.TeamID, "domain": s.opts.TeamDomain},
		"user":          s.userRef(u),
		"api_app_id":    s.opts.AppID,
		"token":         verificationToken,
		"trigger_id":    s.issueTriggerLocked(userID),
		"view":          view,
		"response_urls": []any{},
	}, nil
}

// applyViewAck changes the modal the way Slack does for a submission ack.
func (s *Server) applyViewAck(userID, viewID string, payload json.RawMessage) {
	var r struct {
		ResponseAction string          `json:"response_action"`
		View           json.RawMessage `json:"view"`
	}
	_ = json.Unmarshal(payload, &r)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.views[viewID]
	switch r.ResponseAction {
	case "errors":
		return
	case "update":
		nv, bad := parseView(string(r.View))
		if bad != nil {
			s.logf("view %s update from ack refused: %v", viewID, bad["error"])
			return
		}
		s.setViewLocked(v, nv)
		v.Updated++
		s.emitLocked(viewEvent(EventModalUpdate, v))
	case "clear":
		for _, other := range s.views {
			if other.User == userID && other.Open {
				other.Open = false
				s.emitLocked(viewEvent(EventModalClose, other))
			}
		}
	default:
		v.Open = false
		s.emitLocked(viewEvent(EventModalClose, v))
	}
}

// errRequired means a required modal input was left empty.
var errRequired = errors.New("required input is empty")

// viewState builds a view's state.values from what the user entered,
// refusing values for inputs the view does not have.
func viewState(blocks json.RawMessage, values map[string]map[string]string) (
	map[string]any, error,
) {
	var bs []map[string]any
	_ = json.Unmarshal(blocks, &bs)
	state := map[string]any{}
	used := 0
	for _, b := range bs {
		el, _ := b["element"].(map[string]any)
		blockID, _ := b["block_id"].(string)
		actionID, _ := el["action_id"].(string)
		if b["type"] != "input" || el == nil {
			continue
		}
		val, given := values[blockID][actionID]
		if given {
			used++
		}
		if optional, _ := b["optional"].(bool); !optional && val == "" {
			return nil, fmt.Errorf("input %s/%s: %w", blockID, actionID, errRequired)
		}
		entry, err := elementState(el, val)
		if err != nil {
			return nil, fmt.Errorf("input %s/%s: %w", blockID, actionID, err)
		}
		state[blockID] = map[string]any{actionID: entry}
	}
	total := 0
	for _, acts := range values {
		total += len(acts)
	}
	if used != total {
		return nil, fmt.Errorf("values for inputs the view lacks: %w", ErrNoSuchAction)
	}
	return state, nil
}

// elementState renders one input's entry in state.values.
func elementState(el map[string]any, val string) (map[string]any, error) {
	typ, _ := el["type"].(string)
	entry := map[string]any{"type": typ}
	var list []string
	if val != "" {
		list = strings.Split(val, ",")
	}
	switch typ {
	case "static_select", "radio_buttons":
		entry["selected_option"] = nil
		if val != "" {
			opt, err := findOption(el, val)
			if err != nil {
				return nil, err
			}
			entry["selected_option"] = opt
		}
	case "multi_static_select", "checkboxes":
		opts := []any{}
		for _, v := range list {
			opt, err := findOption(el, v)
			if err != nil {
				return nil, err
			}
			opts = append(opts, opt)
		}
		entry["selected_options"] = opts
	case "users_select", "conversations_select", "channels_select":
		key := "selected_" + strings.TrimSuffix(typ, "s_select")
		entry[key] = nullIfEmpty(val)
	case "multi_users_select":
		entry["selected_users"] = append([]string{}, list...)
	case "datepicker":
		entry["selected_date"] = nullIfEmpty(val)
	case "timepicker":
		entry["selected_time"] = nullIfEmpty(val)
	default:
		entry["value"] = nullIfEmpty(val)
	}
	return entry, nil
}

func nullIfEmpty(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// findOption returns the option with a value from a select's options or
// option groups.
func findOption(el map[string]any, value string) (map[string]any, error) {
	opts, _ := el["options"].([]any)
	groups, _ := el["option_groups"].([]any)
	for _, g := range groups {
		gm, _ := g.(map[string]any)
		more, _ := gm["options"].([]any)
		opts = append(opts, more...)
	}
	for _, o := range opts {
		om, _ := o.(map[string]any)
		if om["value"] == value {
			return map[string]any{"text": om["text"], "value": value}, nil
		}
	}
	return nil, fmt.Errorf("option %q: %w", value, ErrNoSuchAction)
}

// userRef is the user object interaction payloads carry.
func (s *Server) userRef(u User) map[string]any {
	return map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": s.opts.TeamID}
}
