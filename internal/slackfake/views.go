package slackfake

import (
	"encoding/json"
	"fmt"
	"time"
)

// maxViewBytes is the size above which views.open answers view_too_large.
const maxViewBytes = 250 * 1024

// View is a modal as it stands, after any updates.
type View struct {
	ID              string
	User            string // who the modal was opened for
	CallbackID      string
	PrivateMetadata string
	ExternalID      string
	Hash            string
	Title           string
	Blocks          json.RawMessage
	Open            bool            // false once submitted (and not kept open) or cleared
	Updated         int             // how many times views.update or an ack replaced it
	Raw             json.RawMessage // the view object as Slack returns it
}

// trigger is a trigger_id the server issued with an interaction.
type trigger struct {
	user   string
	issued time.Time
	used   bool
}

// issueTriggerLocked returns a fresh trigger_id for a user. The caller
// holds s.mu.
func (s *Server) issueTriggerLocked(user string) string {
	now := s.clock.Now()
	id := fmt.Sprintf("%d.%d.%s", len(s.triggers)+1, now.Unix(), randomHex(16))
	s.triggers[id] = &trigger{user: user, issued: now}
	return id
}

// checkTriggerLocked returns a usable trigger, or the Slack error for
// it. The caller holds s.mu.
func (s *Server) checkTriggerLocked(id string) (*trigger, reply) {
	t, known := s.triggers[id]
	switch {
	case !known:
		return nil, apiError("invalid_arguments", "invalid `trigger_id`")
	case t.used:
		return nil, apiError("exchanged_trigger_id")
	case s.clock.Since(t.issued) > s.opts.TriggerTTL:
		return nil, apiError("expired_trigger_id")
	}
	return t, nil
}

// parseView validates a view argument and decodes it.
func parseView(raw string) (map[string]any, reply) {
	if len(raw) > maxViewBytes {
		return nil, apiError("view_too_large")
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(raw), &v); err != nil || v == nil {
		return nil, apiError("invalid_arguments", "[ERROR] view must be a JSON object")
	}
	if msgs := checkView(v); len(msgs) > 0 {
		return nil, apiError("invalid_arguments", msgs...)
	}
	return v, nil
}

func (s *Server) viewsOpen(p params) reply {
	v, bad := parseView(p["view"])
	if bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, bad := s.checkTriggerLocked(p["trigger_id"])
	if bad != nil {
		return bad
	}
	t.used = true
	s.viewSeq++
	view := &View{ID: fmt.Sprintf("V%08d", s.viewSeq), User: t.user, Open: true}
	s.setViewLocked(view, v)
	s.views[view.ID] = view
	s.emitLocked(viewEvent(EventModalOpen, view))
	return ok(reply{"view": view.Raw})
}

func (s *Server) viewsUpdate(p params) reply {
	v, bad := parseView(p["view"])
	if bad != nil {
		return bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	view := s.findViewLocked(p["view_id"], p["external_id"])
	if view == nil {
		return apiError("not_found")
	}
	if p["hash"] != "" && p["hash"] != view.Hash {
		return apiError("hash_conflict")
	}
	s.setViewLocked(view, v)
	view.Updated++
	s.emitLocked(viewEvent(EventModalUpdate, view))
	return ok(reply{"view": view.Raw})
}

func (s *Server) findViewLocked(id, externalID string) *View {
	if v, found := s.views[id]; found {
		return v
	}
	for _, v := range s.views {
		if externalID != "" && v.ExternalID == externalID {
			return v
		}
	}
	return nil
}

// setViewLocked stores new view content under an existing id, completing
// it with the fields Slack adds. The caller holds s.mu.
func (s *Server) setViewLocked(view *View, v map[string]any) {
	str := func(k string) string { x, _ := v[k].(string); return x }
	view.CallbackID = str("callback_id")
	view.PrivateMetadata = str("private_metadata")
	view.ExternalID = str("external_id")
	view.Hash = fmt.Sprintf("%d.%s", s.clock.Now().Unix(), randomHex(4))
	view.Title = textOf(v["title"])
	view.Blocks, _ = json.Marshal(v["blocks"])

	full := map[string]any{}
	for k, x := range v {
		full[k] = x
	}
	full["id"] = view.ID
	full["team_id"] = s.opts.TeamID
	full["state"] = map[string]any{"values": map[string]any{}}
	full["hash"] = view.Hash
	full["root_view_id"] = view.ID
	full["previous_view_id"] = nil
	full["app_id"] = s.opts.AppID
	full["bot_id"] = s.opts.BotID
	full["app_installed_team_id"] = s.opts.TeamID
	for _, k := range []string{"private_metadata", "callback_id", "external_id"} {
		full[k] = str(k)
	}
	for _, k := range []string{"clear_on_close", "notify_on_close"} {
		if _, set := full[k]; !set {
			full[k] = false
		}
	}
	view.Raw, _ = json.Marshal(full)
}
