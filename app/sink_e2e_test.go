package app_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// readSink decodes the audit sink's JSON lines.
func readSink(t *testing.T, path string) []store.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []store.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e store.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("sink line %d is not an event: %v", len(out)+1, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func storedEvents(t *testing.T, path string) []store.Event {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []store.Event
	err = db.Events(time.Time{}, time.Time{}, func(e store.Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAuditSinkCopiesEveryCommittedEvent(t *testing.T) {
	sink := filepath.Join(t.TempDir(), "audit.jsonl")
	e := newE2EWith(t, strings.Replace(e2eConfig, "digest:\n",
		"audit:\n  sink: "+sink+"\ndigest:\n", 1))
	msg := e.request("1h")
	e.click(bob, msg, "jit_approve")
	e.wait("the grant", e.replyWith(msg, "Granted"))
	e.stop()

	// A restart appends to the same file; the expiry adds its events.
	e.start()
	e.clock.Advance(time.Hour)
	e.wait("the revocation", e.replyWith(msg, "revoked"))
	e.stop()

	lines, stored := readSink(t, sink), storedEvents(t, e.cfg.Store.Path)
	if len(stored) < 4 {
		t.Fatalf("only %d events stored for a request, approval, grant and revoke", len(stored))
	}
	if len(lines) != len(stored) {
		t.Fatalf("sink has %d lines, store %d events", len(lines), len(stored))
	}
	for i, want := range stored {
		got := lines[i]
		if got.Seq != want.Seq || got.Hash != want.Hash || got.Type != want.Type {
			t.Fatalf("sink line %d = seq %d %s %s, store has seq %d %s %s", i+1,
				got.Seq, got.Type, got.Hash, want.Seq, want.Type, want.Hash)
		}
		// A line carries everything needed to check it against the chain.
		if got.ChainHash() != got.Hash {
			t.Fatalf("sink line %d does not hash to its own hash", i+1)
		}
	}
	info, err := os.Stat(sink)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("sink file mode %v, want 0600: it holds users' reasons", perm)
	}
}
