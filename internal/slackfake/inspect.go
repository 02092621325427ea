package slackfake

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// EventKind says what an Event reports.
type EventKind string

// The kinds of Event, in the words a transcript uses.
const (
	EventMessage     EventKind = "message"   // chat.postMessage in a channel
	EventDM          EventKind = "dm"        // chat.postMessage in an IM
	EventUpdate      EventKind = "update"    // chat.update
	EventEphemeral   EventKind = "ephemeral" // chat.postEphemeral or a command ack
	EventModalOpen   EventKind = "modal"     // views.open
	EventModalUpdate EventKind = "modal_update"
	EventModalClose  EventKind = "modal_close"
	EventEnvelope    EventKind = "envelope" // an envelope sent to the bot
	EventFile        EventKind = "file"     // files.completeUploadExternal sharing a file
)

// Event is one thing a person in the workspace would have seen happen.
type Event struct {
	Seq      int
	Kind     EventKind
	Time     time.Time // from the server's clock
	Channel  string
	User     string // the IM or ephemeral recipient, the modal's or actor's user
	TS       string
	ThreadTS string
	Text     string // message text, modal title, or an envelope summary
	Blocks   string // readable flattening of the blocks, a line or more per block
}

// String renders the event for a transcript: a headline, then the blocks
// indented.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", e.Kind)
	for _, f := range []struct{ k, v string }{
		{"channel", e.Channel}, {"user", e.User}, {"ts", e.TS}, {"thread", e.ThreadTS},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": %s", e.Text)
	}
	for line := range strings.SplitSeq(e.Blocks, "\n") {
		if line != "" {
			fmt.Fprintf(&b, "\n    %s", line)
		}
	}
	return b.String()
}

// emitLocked records an event and wakes waiters. The caller holds s.mu.
func (s *Server) emitLocked(e Event) {
	e.Seq = len(s.events) + 1
	e.Time = s.clock.Now()
	s.events = append(s.events, e)
	s.pending = append(s.pending, e)
	s.notifyLocked()
	if s.closed {
		return // the event goroutine has been told to finish
	}
	select {
	case s.eventWake <- struct{}{}:
	default:
	}
}

// runEvents hands events to OnEvent in order until Close.
func (s *Server) runEvents() {
	defer close(s.eventDone)
	for {
		_, open := <-s.eventWake
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		if s.opts.OnEvent != nil {
			for _, e := range batch {
				s.opts.OnEvent(e)
			}
		}
		if !open {
			return
		}
	}
}

func (s *Server) messageEvent(kind EventKind, m *Message) Event {
	e := Event{
		Kind: kind, Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS,
		Text: m.Text, Blocks: renderBlocks(m.Blocks),
	}
	if user, isIM := s.imUsers[m.Channel]; isIM {
		e.User = user
		if kind == EventMessage {
			e.Kind = EventDM
		}
	}
	return e
}

func viewEvent(kind EventKind, v *View) Event {
	return Event{Kind: kind, User: v.User, Text: v.Title, Blocks: renderBlocks(v.Blocks)}
}

// Events returns every event so far, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// Transcript returns every event so far rendered as text, one event per
// paragraph line group.
func (s *Server) Transcript() string {
	var b strings.Builder
	for _, e := range s.Events() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Calls returns every Web API call so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Params = maps.Clone(c.Params)
		out[i] = c
	}
	return out
}

// CallsTo returns the calls of one method, oldest first.
func (s *Server) CallsTo(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns a channel's top-level messages as they stand, oldest
// first.
func (s *Server) Messages(channel string) []Message {
	return s.selectMessages(channel, func(m *Message) bool {
		return m.ThreadTS == "" || m.ThreadTS == m.TS
	})
}

// Replies returns the replies in a thread, oldest first, without the
// parent message.
func (s *Server) Replies(channel, threadTS string) []Message {
	return s.selectMessages(channel, func(m *Message) bool {
		return m.ThreadTS == threadTS && m.TS != threadTS
	})
}

// DMs returns every message in the IM channel with a user, replies
// included, oldest first.
func (s *Server) DMs(user string) []Message {
	s.mu.Lock()
	ch, open := s.ims[user]
	s.mu.Unlock()
	if !open {
		return nil
	}
	return s.selectMessages(ch, func(*Message) bool { return true })
}

// FindMessage returns the message with a timestamp in a channel.
func (s *Server) FindMessage(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findMessageLocked(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return *m, true
}

// IMChannel returns the id of the IM channel with a user, if it is open.
func (s *Server) IMChannel(user string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, open := s.ims[user]
	return id, open
}

func (s *Server) selectMessages(channel string, keep func(*Message) bool) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if keep(m) {
			out = append(out, *m)
		}
	}
	return out
}

// Ephemerals returns the ephemeral messages a user saw, oldest first.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephems {
		if e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// Views returns the modals opened for a user, open or not, oldest first.
func (s *Server) Views(user string) []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []View
	for _, v := range s.views {
		if v.User == user {
			out = append(out, *v)
		}
	}
	slices.SortFunc(out, func(a, b View) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AckLatencies returns how long the bot took to ack each envelope it
// acked, in delivery order.
func (s *Server) AckLatencies() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.latency)
}

// WaitFor blocks until cond returns true or ctx ends. cond is evaluated
// after every state change (an API call, a message, a connection, an
// ack); it may call Server methods.
func (s *Server) WaitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("wait for condition: %w", ctx.Err())
		}
	}
}

// renderBlocks flattens Block Kit JSON into readable lines: buttons show
// as [Label], headers as "# Title", inputs as "Label: <type>", and each
// section field takes a line.
func renderBlocks(raw json.RawMessage) string {
	var blocks []map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &blocks) != nil {
		return ""
	}
	var lines []string
	for _, b := range blocks {
		if line := renderBlock(b); line != "" {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}

func renderBlock(b map[string]any) string {
	switch b["type"] {
	case "header":
		return "# " + textOf(b["text"])
	case "divider":
		return "---"
	case "section":
		return renderSection(b)
	case "actions", "context":
		els, _ := b["elements"].([]any)
		var parts []string
		for _, e := range els {
			m, _ := e.(map[string]any)
			parts = append(parts, renderElement(m))
		}
		return strings.Join(nonEmpty(parts), " ")
	case "input":
		el, _ := b["element"].(map[string]any)
		return textOf(b["label"]) + ": " + renderElement(el)
	}
	return fmt.Sprintf("(%v)", b["type"])
}

// renderSection puts the text and its accessory on one line, then each
// field on a line of its own. A field that opens with a bold label line, as
// "*Requester*\n<@U1>", reads "*Requester*: <@U1>".
func renderSection(b map[string]any) string {
	first := []string{textOf(b["text"])}
	if acc, _ := b["accessory"].(map[string]any); acc != nil {
		first = append(first, renderElement(acc))
	}
	lines := []string{strings.Join(nonEmpty(first), " | ")}
	fields, _ := b["fields"].([]any)
	for _, f := range fields {
		lines = append(lines, renderField(textOf(f)))
	}
	return strings.Join(nonEmpty(lines), "\n")
}

func renderField(text string) string {
	label, value, multiline := strings.Cut(text, "\n")
	if !multiline {
		return text
	}
	value = strings.ReplaceAll(value, "\n", " ")
	if len(label) > 2 && strings.HasPrefix(label, "*") && strings.HasSuffix(label, "*") {
		return label + ": " + value
	}
	return label + " " + value
}

func renderElement(e map[string]any) string {
	switch e["type"] {
	case "button":
		return "[" + textOf(e["text"]) + "]"
	case "plain_text", "mrkdwn":
		s, _ := e["text"].(string)
		return s
	case "image":
		return ""
	}
	if p := textOf(e["placeholder"]); p != "" {
		return fmt.Sprintf("<%v: %s>", e["type"], p)
	}
	return fmt.Sprintf("<%v>", e["type"])
}

func nonEmpty(parts []string) []string {
	return slices.DeleteFunc(parts, func(p string) bool { return p == "" })
}
