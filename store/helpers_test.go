package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// openTest opens a store in a fresh directory. On cleanup it runs bbolt's
// consistency check and closes the file.
func openTest(t testing.TB, opts Options) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jitbot.db")
	return openAt(t, path, opts), path
}

func openAt(t testing.TB, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() {
		checkFile(t, db)
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}

func checkFile(t testing.TB, db *DB) {
	t.Helper()
	err := db.bolt.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil && err != bolt.ErrDatabaseNotOpen {
		t.Errorf("bbolt check: %v", err)
	}
}

// update runs fn in a transaction and fails the test on error.
func update(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

func view(t testing.TB, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func newRequest(id, user string, state RequestState, created time.Time) Request {
	return Request{
		ID: id, Requester: user, Resource: "prod-db", Role: "read",
		Duration: time.Hour, Reason: "incident 42", State: state,
		CreatedAt: created, ExpiresAt: created.Add(time.Hour),
		ApprovalsRequired: 1,
	}
}

func newGrant(id, user string, state GrantState, created time.Time) Grant {
	return Grant{
		ID: id, RequestID: "r" + id, User: user, Principal: user + "_login",
		Resource: "prod-db", Role: "read", Provider: "postgres",
		Target: "jit_read", State: state, CreatedAt: created,
		ExpiresAt: created.Add(time.Hour),
	}
}

func newEvent(i int) Event {
	return Event{
		Time: t0.Add(time.Duration(i) * time.Minute), Type: EvRequestCreated,
		Actor: "U1", RequestID: fmt.Sprintf("r%d", i), Resource: "prod-db",
		Role: "read", Details: map[string]string{"reason": fmt.Sprintf("n=%d", i)},
	}
}

// appendEvents appends n events, one transaction each.
func appendEvents(t testing.TB, db *DB, n int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	for i := range n {
		update(t, db, func(tx *Tx) error {
			e, err := tx.Append(newEvent(i))
			out = append(out, e)
			return err
		})
	}
	return out
}

func requestIDs(rs []Request) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

func grantIDs(gs []Grant) []string {
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return ids
}
