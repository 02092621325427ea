package app

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/store"
)

// nopCloser keeps Close from closing standard output.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// openSink opens where audit events are copied as JSON lines: nowhere (""),
// standard output ("-"), or a file that is appended to.
func openSink(path string) (io.WriteCloser, error) {
	switch path {
	case "":
		return nil, nil
	case "-":
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit sink: %w", err)
	}
	return f, nil
}

// writeEvent copies one committed audit event to the sink.
func (a *App) writeEvent(e store.Event) {
	a.sinkMu.Lock()
	defer a.sinkMu.Unlock()
	writeLine(a.sink, e, a.log)
}

// writeLine writes e to w as one JSON line; a nil w writes nothing. A
// write that fails is logged: the event is safe in the store either way.
func writeLine(w io.Writer, e store.Event, log zerolog.Logger) {
	if w == nil {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		_, err = w.Write(append(b, '\n'))
	}
	if err != nil {
		log.Error().Err(err).Uint64("seq", e.Seq).Msg("audit sink write failed")
	}
}

// Sink copies committed audit events to the configured audit.sink in the
// running bot's format, one JSON line each. Processes other than the bot
// that append to the store (the operator commands) pass Append as the
// store's OnAppend, so the sink misses no event. A Sink is safe for
// concurrent use.
type Sink struct {
	mu  sync.Mutex
	w   io.WriteCloser
	log zerolog.Logger
}

// OpenSink opens the sink at path: nowhere (""), standard output ("-"), or
// a file that is appended to and created when missing. Failed writes are
// logged to log. The caller closes the Sink.
func OpenSink(path string, log zerolog.Logger) (*Sink, error) {
	w, err := openSink(path)
	if err != nil {
		return nil, err
	}
	return &Sink{w: w, log: log}, nil
}

// Append writes e as one line. After Close it writes nothing.
func (s *Sink) Append(e store.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	writeLine(s.w, e, s.log)
}

// Close closes the file, if any. It is safe to call more than once.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return nil
	}
	err := s.w.Close()
	s.w = nil
	return err
}
