package app

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

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

// writeEvent copies one committed audit event to the sink. A sink that
// fails is logged; the event is safe in the store either way.
func (a *App) writeEvent(e store.Event) {
	a.sinkMu.Lock()
	defer a.sinkMu.Unlock()
	if a.sink == nil {
		return
	}
	b, err := json.Marshal(e)
	if err == nil {
		_, err = a.sink.Write(append(b, '\n'))
	}
	if err != nil {
		a.log.Error().Err(err).Uint64("seq", e.Seq).Msg("audit sink write failed")
	}
}
