package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestRequestCreateGetPut(t *testing.T) {
	db, _ := openTest(t, Options{})
	r := newRequest("r1", "U1", RequestPending, t0)
	r.Rules = json.RawMessage(`{"approvers":["U9"]}`)
	r.Decisions = []Decision{{User: "U9", Approve: true, At: t0}}

	update(t, db, func(tx *Tx) error { return tx.CreateRequest(r) })

	err := db.Update(func(tx *Tx) error { return tx.CreateRequest(r) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: got %v, want ErrConflict", err)
	}
	absent := newRequest("r2", "U1", RequestPending, t0)
	err = db.Update(func(tx *Tx) error { return tx.PutRequest(absent) })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("put absent: got %v, want ErrNotFound", err)
	}

	r.State, r.DecidedBy = RequestApproved, "U9"
	update(t, db, func(tx *Tx) error { return tx.PutRequest(r) })
	view(t, db, func(tx *Tx) error {
		got, err := tx.Request("r1")
		if err != nil {
			return err
		}
		if got.State != RequestApproved || got.DecidedBy != "U9" ||
			string(got.Rules) != string(r.Rules) || len(got.Decisions) != 1 {
			t.Errorf("request after put = %+v", got)
		}
		if _, err := tx.Request("r2"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get absent: got %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestGrantCreateGetPut(t *testing.T) {
	db, _ := openTest(t, Options{})
	g := newGrant("g1", "U1", GrantGranting, t0)
	update(t, db, func(tx *Tx) error { return tx.CreateGrant(g) })

	err := db.Update(func(tx *Tx) error { return tx.CreateGrant(g) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: got %v, want ErrConflict", err)
	}
	err = db.Update(func(tx *Tx) error {
		return tx.PutGrant(newGrant("g2", "U1", GrantActive, t0))
	})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("put absent: got %v, want ErrNotFound", err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.CreateGrant(Grant{}) }); err == nil {
		t.Fatal("create grant with empty id: want an error")
	}

	g.State, g.GrantedAt = GrantActive, t0.Add(time.Second)
	update(t, db, func(tx *Tx) error { return tx.PutGrant(g) })
	view(t, db, func(tx *Tx) error {
		got, err := tx.Grant("g1")
		if err != nil {
			return err
		}
		if got.State != GrantActive || !got.GrantedAt.Equal(g.GrantedAt) {
			t.Errorf("grant after put = %+v", got)
		}
		_, err = tx.Grant("nope")
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("get absent: got %v, want ErrNotFound naming the id", err)
		}
		return nil
	})
}

func TestRequestIndexesFollowState(t *testing.T) {
	db, _ := openTest(t, Options{})
	update(t, db, func(tx *Tx) error {
		for _, r := range []Request{
			newRequest("r3", "U1", RequestPending, t0.Add(2*time.Minute)),
			newRequest("r1", "U1", RequestPending, t0.Add(time.Minute)),
			newRequest("r2", "U2", RequestPending, t0),
			newRequest("r4", "U1", RequestDenied, t0),
		} {
			if err := tx.CreateRequest(r); err != nil {
				return err
			}
		}
		return nil
	})

	steps := []struct {
		name        string
		change      func(*Request)
		id          string
		pending     []string
		u1Pending   []string
		u1All       []string
		u2Requested []string
	}{
		{"initial", nil, "", []string{"r2", "r1", "r3"}, []string{"r1", "r3"},
			[]string{"r4", "r1", "r3"}, []string{"r2"}},
		{"approve r1", func(r *Request) { r.State = RequestApproved }, "r1",
			[]string{"r2", "r3"}, []string{"r3"}, []string{"r4", "r1", "r3"},
			[]string{"r2"}},
		{"reason edit keeps r3 pending", func(r *Request) { r.Reason = "x" }, "r3",
			[]string{"r2", "r3"}, []string{"r3"}, []string{"r4", "r1", "r3"},
			[]string{"r2"}},
		{"expire r2", func(r *Request) { r.State = RequestExpired }, "r2",
			[]string{"r3"}, []string{"r3"}, []string{"r4", "r1", "r3"}, []string{"r2"}},
		{"r3 moves to U2", func(r *Request) { r.Requester = "U2" }, "r3",
			[]string{"r3"}, nil, []string{"r4", "r1"}, []string{"r2", "r3"}},
	}
	for _, st := range steps {
		if st.change != nil {
			update(t, db, func(tx *Tx) error {
				r, err := tx.Request(st.id)
				if err != nil {
					return err
				}
				st.change(&r)
				return tx.PutRequest(r)
			})
		}
		view(t, db, func(tx *Tx) error {
			pending, err := tx.PendingRequests()
			if err != nil {
				return err
			}
			u1p, err := tx.UserRequests("U1", RequestPending)
			if err != nil {
				return err
			}
			u1, err := tx.UserRequests("U1")
			if err != nil {
				return err
			}
			u2, err := tx.UserRequests("U2")
			if err != nil {
				return err
			}
			checkIDs(t, st.name+": pending", requestIDs(pending), st.pending)
			checkIDs(t, st.name+": U1 pending", requestIDs(u1p), st.u1Pending)
			checkIDs(t, st.name+": U1 all", requestIDs(u1), st.u1All)
			checkIDs(t, st.name+": U2 all", requestIDs(u2), st.u2Requested)
			return nil
		})
	}
}

func TestGrantIndexesFollowState(t *testing.T) {
	db, _ := openTest(t, Options{})
	update(t, db, func(tx *Tx) error {
		for _, g := range []Grant{
			newGrant("g1", "U1", GrantGranting, t0),
			newGrant("g2", "U1", GrantActive, t0.Add(time.Minute)),
			newGrant("g3", "U2", GrantActive, t0),
			newGrant("g4", "U1", GrantRevoked, t0.Add(-time.Hour)),
		} {
			if err := tx.CreateGrant(g); err != nil {
				return err
			}
		}
		return nil
	})

	steps := []struct {
		name    string
		id      string
		state   GrantState
		live    []string
		u1Live  []string
		u1All   []string
		u2Grant []string
	}{
		{"initial", "", "", []string{"g1", "g2", "g3"}, []string{"g1", "g2"},
			[]string{"g4", "g1", "g2"}, []string{"g3"}},
		{"g1 active", "g1", GrantActive, []string{"g1", "g2", "g3"},
			[]string{"g1", "g2"}, []string{"g4", "g1", "g2"}, []string{"g3"}},
		{"g1 revoking stays live", "g1", GrantRevoking, []string{"g1", "g2", "g3"},
			[]string{"g1", "g2"}, []string{"g4", "g1", "g2"}, []string{"g3"}},
		{"g1 revoked", "g1", GrantRevoked, []string{"g2", "g3"}, []string{"g2"},
			[]string{"g4", "g1", "g2"}, []string{"g3"}},
		{"g3 failed", "g3", GrantFailed, []string{"g2"}, []string{"g2"},
			[]string{"g4", "g1", "g2"}, []string{"g3"}},
	}
	for _, st := range steps {
		if st.id != "" {
			update(t, db, func(tx *Tx) error {
				g, err := tx.Grant(st.id)
				if err != nil {
					return err
				}
				g.State = st.state
				return tx.PutGrant(g)
			})
		}
		view(t, db, func(tx *Tx) error {
			live, err := tx.LiveGrants()
			if err != nil {
				return err
			}
			u1l, err := tx.UserGrants("U1", true)
			if err != nil {
				return err
			}
			u1, err := tx.UserGrants("U1", false)
			if err != nil {
				return err
			}
			u2, err := tx.UserGrants("U2", false)
			if err != nil {
				return err
			}
			checkIDs(t, st.name+": live", grantIDs(live), st.live)
			checkIDs(t, st.name+": U1 live", grantIDs(u1l), st.u1Live)
			checkIDs(t, st.name+": U1 all", grantIDs(u1), st.u1All)
			checkIDs(t, st.name+": U2 all", grantIDs(u2), st.u2Grant)
			return nil
		})
	}
}

func checkIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// A user whose name is a prefix of another's must not see the other's
// records.
func TestUserIndexKeepsUsersApart(t *testing.T) {
	db, _ := openTest(t, Options{})
	update(t, db, func(tx *Tx) error {
		if err := tx.CreateRequest(newRequest("bc", "a", RequestPending, t0)); err != nil {
			return err
		}
		return tx.CreateRequest(newRequest("c", "ab", RequestPending, t0))
	})
	view(t, db, func(tx *Tx) error {
		a, err := tx.UserRequests("a")
		if err != nil {
			return err
		}
		ab, err := tx.UserRequests("ab")
		if err != nil {
			return err
		}
		none, err := tx.UserRequests("")
		if err != nil {
			return err
		}
		checkIDs(t, "user a", requestIDs(a), []string{"bc"})
		checkIDs(t, "user ab", requestIDs(ab), []string{"c"})
		checkIDs(t, "empty user", requestIDs(none), nil)
		return nil
	})
}

func TestForEach(t *testing.T) {
	db, _ := openTest(t, Options{})
	update(t, db, func(tx *Tx) error {
		for _, id := range []string{"b", "a", "c"} {
			if err := tx.CreateRequest(newRequest(id, "U1", RequestDenied, t0)); err != nil {
				return err
			}
			if err := tx.CreateGrant(newGrant(id, "U1", GrantRevoked, t0)); err != nil {
				return err
			}
		}
		return nil
	})
	stop := errors.New("stop")
	view(t, db, func(tx *Tx) error {
		var reqs, grants []string
		err := tx.ForEachRequest(func(r Request) error {
			reqs = append(reqs, r.ID)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.ForEachGrant(func(g Grant) error {
			grants = append(grants, g.ID)
			if g.ID == "b" {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Errorf("ForEachGrant error = %v, want the callback's", err)
		}
		checkIDs(t, "requests", reqs, []string{"a", "b", "c"})
		checkIDs(t, "grants until stop", grants, []string{"a", "b"})
		return nil
	})
}

func TestMeta(t *testing.T) {
	db, _ := openTest(t, Options{})
	update(t, db, func(tx *Tx) error {
		got, err := tx.Meta("policy_hash")
		if got != nil || err != nil {
			t.Errorf("absent meta = %q, %v; want nil, nil", got, err)
		}
		val := []byte("abc")
		if err := tx.PutMeta("policy_hash", val); err != nil {
			return err
		}
		val[0] = 'X' // the store must have kept its own copy
		if err := tx.PutMeta(schemaKey, []byte("9")); err == nil {
			t.Error("PutMeta on the schema version: want an error")
		}
		return nil
	})
	view(t, db, func(tx *Tx) error {
		got, err := tx.Meta("policy_hash")
		if string(got) != "abc" || err != nil {
			t.Errorf("meta = %q, %v; want abc", got, err)
		}
		v, _ := tx.Meta(schemaKey)
		if string(v) != "1" {
			t.Errorf("schema version = %q, want 1", v)
		}
		return nil
	})
}

func TestTxMisuse(t *testing.T) {
	db, _ := openTest(t, Options{})
	var kept *Tx
	update(t, db, func(tx *Tx) error { kept = tx; return nil })
	if _, err := kept.Request("r1"); !errors.Is(err, errTxClosed) {
		t.Errorf("tx used after its closure: got %v, want errTxClosed", err)
	}
	err := db.View(func(tx *Tx) error {
		return tx.CreateRequest(newRequest("r1", "U1", RequestPending, t0))
	})
	if !errors.Is(err, bolt.ErrTxNotWritable) {
		t.Errorf("write in View: got %v, want ErrTxNotWritable", err)
	}
}

func TestUpdateRollsBackOnError(t *testing.T) {
	var seen []uint64
	db, _ := openTest(t, Options{OnAppend: func(e Event) { seen = append(seen, e.Seq) }})
	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		if err := tx.CreateRequest(newRequest("r1", "U1", RequestPending, t0)); err != nil {
			return err
		}
		if err := tx.CreateGrant(newGrant("g1", "U1", GrantActive, t0)); err != nil {
			return err
		}
		if err := tx.PutMeta("k", []byte("v")); err != nil {
			return err
		}
		if _, err := tx.Append(newEvent(1)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update error = %v, want the closure's", err)
	}
	if len(seen) != 0 {
		t.Errorf("OnAppend saw %v for a rolled-back update", seen)
	}
	if _, err := db.LastEvent(); !errors.Is(err, ErrNotFound) {
		t.Errorf("last event after rollback: got %v, want ErrNotFound", err)
	}
	view(t, db, func(tx *Tx) error {
		pending, _ := tx.PendingRequests()
		live, _ := tx.LiveGrants()
		mine, _ := tx.UserGrants("U1", false)
		meta, _ := tx.Meta("k")
		_, errReq := tx.Request("r1")
		if len(pending)+len(live)+len(mine) != 0 || meta != nil ||
			!errors.Is(errReq, ErrNotFound) {
			t.Errorf("rollback left pending=%d live=%d user=%d meta=%q get=%v",
				len(pending), len(live), len(mine), meta, errReq)
		}
		return nil
	})

	// The chain starts at 1 as if the rolled-back event never was.
	got := appendEvents(t, db, 1)
	if got[0].Seq != 1 || got[0].PrevHash != "" {
		t.Errorf("first event after rollback = seq %d prev %q", got[0].Seq, got[0].PrevHash)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, path, func(btx *bolt.Tx) error {
		return btx.Bucket(bucketMeta).Put([]byte(schemaKey), []byte("2"))
	})

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrNewerSchema) ||
		!strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("open newer schema: got %v, want ErrNewerSchema naming version 2", err)
	}
}

func TestOpenTimesOutWhileLocked(t *testing.T) {
	_, path := openTest(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, bolt.ErrTimeout) {
		t.Fatalf("second open: got %v, want a timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("second open took %v despite a 50ms timeout", time.Since(start))
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error {
		if err := tx.CreateRequest(newRequest("r1", "U1", RequestPending, t0)); err != nil {
			return err
		}
		if err := tx.CreateGrant(newGrant("g1", "U1", GrantActive, t0)); err != nil {
			return err
		}
		return tx.PutMeta("policy_version", []byte("v7"))
	})
	first := appendEvents(t, db, 3)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openAt(t, path, Options{})
	view(t, db, func(tx *Tx) error {
		pending, err := tx.PendingRequests()
		if err != nil {
			return err
		}
		live, err := tx.LiveGrants()
		if err != nil {
			return err
		}
		meta, err := tx.Meta("policy_version")
		if err != nil {
			return err
		}
		checkIDs(t, "pending after reopen", requestIDs(pending), []string{"r1"})
		checkIDs(t, "live after reopen", grantIDs(live), []string{"g1"})
		if string(meta) != "v7" {
			t.Errorf("meta after reopen = %q", meta)
		}
		return nil
	})
	next := appendEvents(t, db, 1)[0]
	if next.Seq != 4 || next.PrevHash != first[2].Hash {
		t.Errorf("append after reopen: seq %d prev %q, want 4 and %q",
			next.Seq, next.PrevHash, first[2].Hash)
	}
	if rep, err := db.Verify(); err != nil || !rep.OK || rep.Checked != 4 {
		t.Errorf("verify after reopen = %+v, %v", rep, err)
	}
}

// tamper edits a closed store file directly, as an attacker with write
// access to the file could.
func tamper(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open raw file: %v", err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// Long lists are decoded in parallel; order and content must not suffer.
func TestLiveGrantsManyInIDOrder(t *testing.T) {
	db, _ := openTest(t, Options{NoSync: true})
	const total = 3 * parallelDecodeMin
	for start := 0; start < total; start += 1000 {
		update(t, db, func(tx *Tx) error {
			for i := start; i < min(start+1000, total); i++ {
				state := GrantRevoked
				if i%3 != 0 {
					state = GrantActive
				}
				g := newGrant(fmt.Sprintf("g%06d", i), fmt.Sprintf("U%d", i%7), state, t0)
				if err := tx.CreateGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
	}
	view(t, db, func(tx *Tx) error {
		live, err := tx.LiveGrants()
		if err != nil {
			return err
		}
		if len(live) != total*2/3 {
			t.Fatalf("live grants = %d, want %d", len(live), total*2/3)
		}
		for j, g := range live {
			i := j/2*3 + j%2 + 1 // the ids not divisible by 3, in order
			want := fmt.Sprintf("g%06d", i)
			if g.ID != want || g.User != fmt.Sprintf("U%d", i%7) || g.State != GrantActive {
				t.Fatalf("live[%d] = %s %s %s, want %s", j, g.ID, g.User, g.State, want)
			}
		}
		return nil
	})
}

// A grant the index names but the records lack is reported, not skipped.
func TestLiveGrantsReportsBrokenIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *Tx) error {
		return tx.CreateGrant(newGrant("g1", "U1", GrantActive, t0))
	})
	mustClose(t, db)
	tamper(t, path, func(btx *bolt.Tx) error {
		return btx.Bucket(bucketGrants).Delete([]byte("g1"))
	})
	db = openAt(t, path, Options{})
	err = db.View(func(tx *Tx) error { _, err := tx.LiveGrants(); return err })
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "g1") {
		t.Errorf("live grants with a dangling index entry: got %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "jitbot.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, db)
	mustClose(t, db)
}

func mustClose(t *testing.T, db *DB) {
	t.Helper()
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// A panicking closure keeps nothing and leaves the store usable.
func TestUpdatePanicRollsBack(t *testing.T) {
	db, _ := openTest(t, Options{})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic did not propagate")
			}
		}()
		_ = db.Update(func(tx *Tx) error {
			if err := tx.CreateRequest(newRequest("r1", "U1", RequestPending, t0)); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	update(t, db, func(tx *Tx) error {
		if _, err := tx.Request("r1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("request after panic: got %v, want ErrNotFound", err)
		}
		return nil
	})
}
