package store

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestAppendChainsEvents(t *testing.T) {
	db, _ := openTest(t, Options{})
	details := map[string]string{"reason": "deploy"}
	var got []Event
	update(t, db, func(tx *Tx) error {
		for i := range 3 {
			e := newEvent(i)
			e.Details = details
			e.Time = e.Time.In(time.FixedZone("CET", 3600))
			stored, err := tx.Append(e)
			if err != nil {
				return err
			}
			got = append(got, stored)
		}
		return nil
	})
	details["reason"] = "changed after append"

	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d: seq %d", i, e.Seq)
		}
		if i > 0 && e.PrevHash != got[i-1].Hash {
			t.Errorf("event %d: prev hash %q, want %q", e.Seq, e.PrevHash, got[i-1].Hash)
		}
		if e.Hash != e.ChainHash() || len(e.Hash) != 64 {
			t.Errorf("event %d: hash %q does not match its content", e.Seq, e.Hash)
		}
		if e.Time.Location() != time.UTC {
			t.Errorf("event %d: time %v not in UTC", e.Seq, e.Time)
		}
	}
	if got[0].PrevHash != "" {
		t.Errorf("first event prev hash = %q, want empty", got[0].PrevHash)
	}
	last, err := db.LastEvent()
	if err != nil {
		t.Fatal(err)
	}
	if last.Details["reason"] != "deploy" || last.Hash != got[2].Hash {
		t.Errorf("stored last event = %+v; caller's map edit leaked or hash differs", last)
	}
	if rep, err := db.Verify(); err != nil || !rep.OK || rep.Checked != 3 {
		t.Errorf("verify = %+v, %v; want OK with 3 checked", rep, err)
	}
}

func TestAppendRejectsIncompleteEvents(t *testing.T) {
	db, _ := openTest(t, Options{})
	tests := []struct {
		name string
		e    Event
	}{
		{"zero time", Event{Type: EvGrantCreated}},
		{"no type", Event{Time: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.Update(func(tx *Tx) error {
				_, err := tx.Append(tt.e)
				return err
			})
			if err == nil {
				t.Fatal("want an error")
			}
		})
	}
	if _, err := db.LastEvent(); !errors.Is(err, ErrNotFound) {
		t.Errorf("rejected events were stored: %v", err)
	}
}

func TestChainHashCoversEveryField(t *testing.T) {
	base := newEvent(1)
	base.Seq, base.GrantID, base.PrevHash = 7, "g1", "abc"
	edits := map[string]func(*Event){
		"seq":      func(e *Event) { e.Seq++ },
		"time":     func(e *Event) { e.Time = e.Time.Add(time.Nanosecond) },
		"type":     func(e *Event) { e.Type = EvRequestDenied },
		"actor":    func(e *Event) { e.Actor = "U2" },
		"request":  func(e *Event) { e.RequestID = "r9" },
		"grant":    func(e *Event) { e.GrantID = "g9" },
		"resource": func(e *Event) { e.Resource = "other" },
		"role":     func(e *Event) { e.Role = "admin" },
		"detail":   func(e *Event) { e.Details = map[string]string{"reason": "n=2"} },
		"new key":  func(e *Event) { e.Details = map[string]string{"reason": "n=1", "x": ""} },
		"prev":     func(e *Event) { e.PrevHash = "abd" },
		// Moving a byte between adjacent fields must change the hash too.
		"boundary": func(e *Event) { e.Resource, e.Role = "prod-dbr", "ead" },
	}
	want := base.ChainHash()
	for name, edit := range edits {
		e := base
		edit(&e)
		if e.ChainHash() == want {
			t.Errorf("editing %s kept the hash", name)
		}
	}
	e := base
	e.Hash = "anything"
	e.Time = e.Time.In(time.FixedZone("X", -7200))
	if e.ChainHash() != want {
		t.Error("hash depends on the Hash field or the time zone")
	}
}

func TestOnAppendAfterCommitInOrder(t *testing.T) {
	var (
		mu   sync.Mutex
		seqs []uint64
		db   *DB
	)
	db, _ = openTest(t, Options{OnAppend: func(e Event) {
		// The event must be readable by others: the commit happened.
		if _, err := db.Event(e.Seq); err != nil {
			t.Errorf("OnAppend(%d) before commit: %v", e.Seq, err)
		}
		mu.Lock()
		seqs = append(seqs, e.Seq)
		mu.Unlock()
	}})

	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				err := db.Update(func(tx *Tx) error {
					if _, err := tx.Append(newEvent(w*perWriter + i)); err != nil {
						return err
					}
					_, err := tx.Append(newEvent(w*perWriter + i))
					return err
				})
				if err != nil {
					t.Errorf("append: %v", err)
				}
			}
		})
	}
	wg.Wait()

	if len(seqs) != 2*writers*perWriter {
		t.Fatalf("OnAppend saw %d events, want %d", len(seqs), 2*writers*perWriter)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("OnAppend order broken at %d: got seq %d", i, s)
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, b *bolt.Bucket)
		firstBad uint64
		problem  string
	}{
		{
			name: "edited details",
			tamper: func(t *testing.T, b *bolt.Bucket) {
				rewrite(t, b, 4, func(e *Event) { e.Details["reason"] = "innocent" })
			},
			firstBad: 4, problem: "event 4 was changed",
		},
		{
			name:     "deleted event",
			tamper:   func(t *testing.T, b *bolt.Bucket) { mustDo(t, b.Delete(seqKey(5))) },
			firstBad: 5, problem: "event 5 is missing (4 is followed by 6)",
		},
		{
			name:     "deleted first event",
			tamper:   func(t *testing.T, b *bolt.Bucket) { mustDo(t, b.Delete(seqKey(1))) },
			firstBad: 1, problem: "event 1 is missing (the trail starts at 2)",
		},
		{
			name: "swapped events",
			tamper: func(t *testing.T, b *bolt.Bucket) {
				three := bytes.Clone(b.Get(seqKey(3)))
				mustDo(t, b.Put(seqKey(3), bytes.Clone(b.Get(seqKey(4)))))
				mustDo(t, b.Put(seqKey(4), three))
			},
			firstBad: 3, problem: "events out of order at 3",
		},
		{
			name: "rewritten with recomputed own hash",
			tamper: func(t *testing.T, b *bolt.Bucket) {
				rewrite(t, b, 6, func(e *Event) {
					e.Actor = "U_SOMEONE_ELSE"
					e.Hash = e.ChainHash()
				})
			},
			firstBad: 7, problem: "event 7 does not follow event 6",
		},
		{
			name: "forged tail",
			tamper: func(t *testing.T, b *bolt.Bucket) {
				forged := newEvent(99)
				forged.Seq, forged.PrevHash = 11, strings.Repeat("0", 64)
				forged.Hash = forged.ChainHash()
				putEvent(t, b, forged)
			},
			firstBad: 11, problem: "event 11 does not follow event 10",
		},
		{
			name: "forged tail after a gap",
			tamper: func(t *testing.T, b *bolt.Bucket) {
				forged := newEvent(99)
				forged.Seq = 13
				forged.Hash = forged.ChainHash()
				putEvent(t, b, forged)
			},
			firstBad: 11, problem: "event 11 is missing (10 is followed by 13)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "jitbot.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			appendEvents(t, db, 10)
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			tamper(t, path, func(btx *bolt.Tx) error {
				tt.tamper(t, btx.Bucket(bucketEvents))
				return nil
			})

			db = openAt(t, path, Options{})
			rep, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBad != tt.firstBad ||
				!strings.Contains(rep.Problem, tt.problem) {
				t.Errorf("verify = %+v, want first bad %d with %q",
					rep, tt.firstBad, tt.problem)
			}
			if rep.Checked != tt.firstBad-1 {
				t.Errorf("checked = %d, want %d", rep.Checked, tt.firstBad-1)
			}
		})
	}
}

func rewrite(t *testing.T, b *bolt.Bucket, seq uint64, edit func(*Event)) {
	t.Helper()
	var e Event
	mustDo(t, json.Unmarshal(b.Get(seqKey(seq)), &e))
	edit(&e)
	putEvent(t, b, e)
}

func putEvent(t *testing.T, b *bolt.Bucket, e Event) {
	t.Helper()
	raw, err := json.Marshal(e)
	mustDo(t, err)
	mustDo(t, b.Put(seqKey(e.Seq), raw))
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyEmptyTrail(t *testing.T) {
	db, _ := openTest(t, Options{})
	rep, err := db.Verify()
	if err != nil || !rep.OK || rep.Checked != 0 {
		t.Errorf("verify empty = %+v, %v; want OK", rep, err)
	}
}

func TestEventsTimeRange(t *testing.T) {
	db, _ := openTest(t, Options{})
	const n = 2*eventBatch + 37 // crosses read batches
	update(t, db, func(tx *Tx) error {
		for i := range n {
			if _, err := tx.Append(newEvent(i)); err != nil {
				return err
			}
		}
		return nil
	})
	minute := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }

	tests := []struct {
		name        string
		from, to    time.Time
		first, last uint64
	}{
		{"unbounded", time.Time{}, time.Time{}, 1, n},
		{"from only", minute(600), time.Time{}, 601, n},
		{"to only, exclusive", time.Time{}, minute(10), 1, 10},
		{"window across batches", minute(500), minute(530), 501, 530},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.first
			err := db.Events(tt.from, tt.to, func(e Event) error {
				if e.Seq != want {
					t.Fatalf("got seq %d, want %d", e.Seq, want)
				}
				want++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want != tt.last+1 {
				t.Errorf("stopped before seq %d, want through %d", want, tt.last)
			}
		})
	}

	stop := errors.New("stop")
	calls := 0
	err := db.Events(time.Time{}, time.Time{}, func(Event) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want stop after 1", err, calls)
	}
}

// The callback may write to the store: Events holds no transaction while it
// runs.
func TestEventsCallbackMayWrite(t *testing.T) {
	db, _ := openTest(t, Options{})
	appendEvents(t, db, 3)
	done := make(chan error, 1)
	go func() {
		done <- db.Events(time.Time{}, time.Time{}, func(e Event) error {
			return db.Update(func(tx *Tx) error {
				return tx.PutMeta("last_seen", []byte(strconv.FormatUint(e.Seq, 10)))
			})
		})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events deadlocked with a writing callback")
	}
}

func TestExportRoundTrip(t *testing.T) {
	db, _ := openTest(t, Options{})
	want := appendEvents(t, db, 5)
	update(t, db, func(tx *Tx) error { // no details, awkward text
		e, err := tx.Append(Event{Time: t0.Add(time.Hour), Type: EvPolicyChanged,
			Actor: "ops, \"night\"\nshift"})
		want = append(want, e)
		return err
	})

	for _, format := range []string{FormatJSONL, FormatCSV} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := db.Export(&buf, time.Time{}, time.Time{}, format)
			if err != nil {
				t.Fatal(err)
			}
			got := parseExport(t, format, buf.Bytes())
			if n != len(want) || !reflect.DeepEqual(got, want) {
				t.Fatalf("export wrote %d\n got  %+v\n want %+v", n, got, want)
			}
			for _, e := range got {
				if e.ChainHash() != e.Hash {
					t.Errorf("exported event %d no longer verifies", e.Seq)
				}
			}
		})
	}

	var buf bytes.Buffer
	n, err := db.Export(&buf, t0.Add(2*time.Minute), t0.Add(4*time.Minute), FormatJSONL)
	if err != nil || n != 2 || strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("ranged export wrote %d events (%v):\n%s", n, err, buf.String())
	}
}

func TestExportUnknownFormat(t *testing.T) {
	db, _ := openTest(t, Options{})
	appendEvents(t, db, 1)
	var buf bytes.Buffer
	_, err := db.Export(&buf, time.Time{}, time.Time{}, "xml")
	if err == nil || !strings.Contains(err.Error(), "jsonl") ||
		!strings.Contains(err.Error(), "csv") || buf.Len() != 0 {
		t.Errorf("export xml: err %v, wrote %q; want an error naming jsonl and csv",
			err, buf.String())
	}
}

func parseExport(t *testing.T, format string, data []byte) []Event {
	t.Helper()
	if format == FormatJSONL {
		var out []Event
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var e Event
			mustDo(t, json.Unmarshal(sc.Bytes(), &e))
			out = append(out, e)
		}
		return out
	}
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	mustDo(t, err)
	if !reflect.DeepEqual(rows[0], CSVHeader) {
		t.Fatalf("csv header = %v", rows[0])
	}
	out := make([]Event, 0, len(rows)-1)
	for _, row := range rows[1:] {
		out = append(out, eventFromCSV(t, row))
	}
	return out
}

func eventFromCSV(t *testing.T, row []string) Event {
	t.Helper()
	seq, err := strconv.ParseUint(row[0], 10, 64)
	mustDo(t, err)
	at, err := time.Parse(time.RFC3339Nano, row[1])
	mustDo(t, err)
	e := Event{Seq: seq, Time: at, Type: EventType(row[2]), Actor: row[3],
		RequestID: row[4], GrantID: row[5], Resource: row[6], Role: row[7],
		PrevHash: row[9], Hash: row[10]}
	if row[8] != "" {
		mustDo(t, json.Unmarshal([]byte(row[8]), &e.Details))
	}
	return e
}

// Rewriting the trail from some event onward, recomputing every hash after
// it, passes Verify; only a hash kept elsewhere (an anchor) reveals it.
func TestAnchorCatchesRewrittenHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jitbot.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	anchor := appendEvents(t, db, 10)[9]
	mustClose(t, db)

	tamper(t, path, func(btx *bolt.Tx) error {
		b := btx.Bucket(bucketEvents)
		var prev Event
		mustDo(t, json.Unmarshal(b.Get(seqKey(4)), &prev))
		for seq := uint64(5); seq <= 10; seq++ {
			rewrite(t, b, seq, func(e *Event) {
				if seq == 5 {
					e.Actor = "U_SOMEONE_ELSE"
				}
				e.PrevHash = prev.Hash
				e.Hash = e.ChainHash()
				prev = *e
			})
		}
		return nil
	})

	db = openAt(t, path, Options{})
	if rep, err := db.Verify(); err != nil || !rep.OK {
		t.Fatalf("verify = %+v, %v; a fully recomputed chain verifies", rep, err)
	}
	got, err := db.Event(anchor.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash == anchor.Hash {
		t.Error("rewritten history still matches the anchor")
	}
	if _, err := db.Event(11); !errors.Is(err, ErrNotFound) {
		t.Errorf("event past the end: got %v, want ErrNotFound", err)
	}
}
