package slackfake

import (
	"encoding/json"
	"unicode/utf8"
)

// Message is a message as it stands in a channel, after any updates.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // empty for a top-level message
	Text     string
	Blocks   json.RawMessage // nil when posted without blocks
	User     string          // the bot user that posted it
	Updated  int             // how many times chat.update changed it
}

// Ephemeral is a message only one user saw.
type Ephemeral struct {
	Channel  string
	User     string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
}

func (m *Message) object(s *Server) map[string]any {
	o := map[string]any{
		"type": "message", "text": m.Text, "user": m.User, "ts": m.TS,
		"bot_id": s.opts.BotID, "app_id": s.opts.AppID, "team": s.opts.TeamID,
	}
	if m.ThreadTS != "" {
		o["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != nil {
		o["blocks"] = m.Blocks
	}
	return o
}

// checkContent validates text and blocks the way chat methods do and
// returns the Slack error, or nil.
func checkContent(text, blocks string, maxText int) reply {
	if text == "" && blocks == "" {
		return apiError("no_text")
	}
	if maxText > 0 && utf8.RuneCountInString(text) > maxText {
		return apiError("msg_too_long")
	}
	if code, msgs := checkMessageBlocks(blocks); code != "" {
		return apiError(code, msgs...)
	}
	return nil
}

func rawOrNil(blocks string) json.RawMessage {
	if blocks == "" {
		return nil
	}
	return json.RawMessage(blocks)
}

func (s *Server) chatPostMessage(p params) reply {
	if r := checkContent(p["text"], p["blocks"], 0); r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.resolveChannelLocked(p["channel"])
	if err != nil {
		return apiError(err.Error())
	}
	m := &Message{
		Channel:  ch,
		TS:       s.nextTSLocked(),
		ThreadTS: p["thread_ts"],
		Text:     truncateRunes(p["text"], maxMessageText),
		Blocks:   rawOrNil(p["blocks"]),
		User:     s.opts.BotUserID,
	}
	s.messages[ch] = append(s.messages[ch], m)
	s.emitLocked(s.messageEvent(EventMessage, m))
	return ok(reply{"channel": ch, "ts": m.TS, "message": m.object(s)})
}

func (s *Server) chatUpdate(p params) reply {
	text, hasText := p["text"]
	if r := checkContent(text, p["blocks"], maxUpdateText); r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.resolveChannelLocked(p["channel"]); err != nil {
		return apiError(err.Error())
	}
	m := s.findMessageLocked(p["channel"], p["ts"])
	if m == nil {
		return apiError("message_not_found")
	}
	if hasText {
		m.Text = text
	}
	if _, hasBlocks := p["blocks"]; hasBlocks {
		m.Blocks = rawOrNil(p["blocks"])
	}
	m.Updated++
	s.emitLocked(s.messageEvent(EventUpdate, m))
	return ok(reply{"channel": m.Channel, "ts": m.TS, "text": m.Text, "message": m.object(s)})
}

func (s *Server) chatPostEphemeral(p params) reply {
	if r := checkContent(p["text"], p["blocks"], maxMessageText); r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.resolveChannelLocked(p["channel"])
	if err != nil {
		return apiError(err.Error())
	}
	if _, known := s.users[p["user"]]; !known {
		return apiError("user_not_in_channel")
	}
	e := Ephemeral{
		Channel: ch, User: p["user"], TS: s.nextTSLocked(),
		ThreadTS: p["thread_ts"], Text: p["text"], Blocks: rawOrNil(p["blocks"]),
	}
	s.ephems = append(s.ephems, e)
	s.emitLocked(Event{
		Kind: EventEphemeral, Channel: ch, User: e.User, TS: e.TS,
		ThreadTS: e.ThreadTS, Text: e.Text, Blocks: renderBlocks(e.Blocks),
	})
	return ok(reply{"message_ts": e.TS})
}

// findMessageLocked returns the stored message, or nil. The caller holds
// s.mu.
func (s *Server) findMessageLocked(channel, ts string) *Message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

func truncateRunes(text string, limit int) string {
	if utf8.RuneCountInString(text) <= limit {
		return text
	}
	return string([]rune(text)[:limit])
}
