package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chainTag opens every hashed encoding; a future layout gets a new tag.
const chainTag = "jitbot.audit.v1\n"

// ChainHash returns the hex SHA-256 of the event's canonical encoding: the
// tag "jitbot.audit.v1\n", Seq as 8 bytes big endian, then Time (UTC,
// RFC 3339 with nanoseconds), Type, Actor, RequestID, GrantID, Resource,
// Role, the number of details followed by each key and value in key order,
// and PrevHash. Each string is preceded by its length as a uvarint. Hash
// itself is not part of the encoding.
func (e Event) ChainHash() string {
	buf := make([]byte, 0, 512)
	buf = append(buf, chainTag...)
	buf = binary.BigEndian.AppendUint64(buf, e.Seq)
	fields := []string{e.Time.UTC().Format(time.RFC3339Nano), string(e.Type),
		e.Actor, e.RequestID, e.GrantID, e.Resource, e.Role}
	for _, f := range fields {
		buf = appendString(buf, f)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Details)))
	for _, k := range slices.Sorted(maps.Keys(e.Details)) {
		buf = appendString(buf, k)
		buf = appendString(buf, e.Details[k])
	}
	buf = appendString(buf, e.PrevHash)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// Append adds e to the audit trail and returns it as stored: Seq is one more
// than the newest event's, PrevHash is that event's Hash (empty for the
// first), Time is in UTC and Hash is e.ChainHash(). The caller sets Time,
// which must not be zero, and Type. The event is kept only if the
// transaction commits.
func (tx *Tx) Append(e Event) (Event, error) {
	if e.Type == "" || e.Time.IsZero() {
		return Event{}, fmt.Errorf("append %q event: type and time are required", e.Type)
	}
	b, err := tx.bucket(bucketEvents)
	if err != nil {
		return Event{}, fmt.Errorf("append %s event: %w", e.Type, err)
	}
	prev, err := tx.lastEvent(b)
	if err != nil {
		return Event{}, fmt.Errorf("append %s event: %w", e.Type, err)
	}

	e.Seq = prev.Seq + 1
	e.PrevHash = prev.Hash
	e.Time = e.Time.UTC()
	e.Details = maps.Clone(e.Details)
	e.Hash = e.ChainHash()
	raw, err := json.Marshal(e)
	if err != nil {
		return Event{}, fmt.Errorf("append %s event %d: encode: %w", e.Type, e.Seq, err)
	}
	if err := b.Put(seqKey(e.Seq), raw); err != nil {
		return Event{}, fmt.Errorf("append %s event %d: %w", e.Type, e.Seq, err)
	}

	tx.last = &e
	tx.appended = append(tx.appended, e)
	out := e
	out.Details = maps.Clone(e.Details)
	return out, nil
}

// lastEvent returns the newest event, or the zero Event for an empty trail.
func (tx *Tx) lastEvent(b *bolt.Bucket) (Event, error) {
	if tx.last != nil {
		return *tx.last, nil
	}
	var e Event
	k, v := b.Cursor().Last()
	if k == nil {
		return e, nil
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return Event{}, fmt.Errorf("decode event %x: %w", k, err)
	}
	tx.last = &e
	return e, nil
}

// LastEvent returns the newest event of the trail, or ErrNotFound when it
// is empty.
func (db *DB) LastEvent() (Event, error) {
	var e Event
	err := db.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEvents)
		if err != nil {
			return err
		}
		if e, err = tx.lastEvent(b); err != nil {
			return err
		}
		if e.Seq == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return Event{}, fmt.Errorf("read last event: %w", err)
	}
	return e, nil
}

// Event returns the event with sequence number seq, or ErrNotFound. Use it
// to compare a kept anchor hash with the trail.
func (db *DB) Event(seq uint64) (Event, error) {
	var e Event
	err := db.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEvents)
		if err != nil {
			return err
		}
		raw := b.Get(seqKey(seq))
		if raw == nil {
			return ErrNotFound
		}
		return json.Unmarshal(raw, &e)
	})
	if err != nil {
		return Event{}, fmt.Errorf("read event %d: %w", seq, err)
	}
	return e, nil
}

// eventBatch is how many stored events one read transaction of Events scans;
// it bounds memory and how long a reader holds the file.
const eventBatch = 512

// Events calls fn for each event whose Time is in [from, to), in sequence
// order. A zero from or to leaves that side unbounded. Events are read in
// short transactions of a few hundred at a time and fn runs outside them, so
// memory stays constant and fn may use the DB; events appended meanwhile are
// included. It stops at and returns fn's first error.
func (db *DB) Events(from, to time.Time, fn func(Event) error) error {
	next := uint64(1)
	for {
		batch, after, err := db.readEvents(next, from, to)
		if err != nil {
			return fmt.Errorf("read events from %d: %w", next, err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if after == 0 {
			return nil
		}
		next = after
	}
}

// readEvents scans up to eventBatch events from seq start and returns those
// in range, plus the seq to continue from (0 when the trail ended).
func (db *DB) readEvents(start uint64, from, to time.Time) ([]Event, uint64, error) {
	var out []Event
	var after uint64
	err := db.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEvents)
		if err != nil {
			return err
		}
		c := b.Cursor()
		scanned := 0
		for k, v := c.Seek(seqKey(start)); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("stray key %x in the trail", k)
			}
			if scanned == eventBatch {
				after = binary.BigEndian.Uint64(k)
				return nil
			}
			scanned++
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode event %x: %w", k, err)
			}
			if inRange(e.Time, from, to) {
				out = append(out, e)
			}
		}
		return nil
	})
	return out, after, err
}

func inRange(t, from, to time.Time) bool {
	if !from.IsZero() && t.Before(from) {
		return false
	}
	return to.IsZero() || t.Before(to)
}

// VerifyReport is the outcome of DB.Verify.
type VerifyReport struct {
	// Checked counts the events found intact, up to the first problem.
	Checked uint64
	// OK is true when the whole trail is intact.
	OK bool
	// FirstBad is the sequence number where the trail first fails, zero if
	// OK.
	FirstBad uint64
	// Problem says what is wrong at FirstBad, in words for an operator.
	Problem string
}

// Verify walks the whole audit trail and checks that sequence numbers run
// 1, 2, 3 without gaps, that each event sits under its own number, that its
// Hash matches its content and that its PrevHash is the previous Hash. It
// stops at the first problem. An error means the trail could not be read; a
// broken trail is a report with OK false. An empty trail is OK.
func (db *DB) Verify() (VerifyReport, error) {
	var rep VerifyReport
	err := db.View(func(tx *Tx) error {
		b, err := tx.bucket(bucketEvents)
		if err != nil {
			return err
		}
		var prev Event
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, bad, problem := checkEvent(prev, k, v)
			if bad != 0 {
				rep.FirstBad, rep.Problem = bad, problem
				return nil
			}
			prev = e
			rep.Checked++
		}
		rep.OK = true
		return nil
	})
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify audit trail: %w", err)
	}
	return rep, nil
}

// checkEvent checks the event stored under key k with value v against the
// event before it. It returns the decoded event, or the failing seq and the
// problem.
func checkEvent(prev Event, k, v []byte) (e Event, bad uint64, problem string) {
	want := prev.Seq + 1
	if len(k) != 8 {
		return e, want, fmt.Sprintf("event %d: stray key %x in the trail", want, k)
	}
	key := binary.BigEndian.Uint64(k)
	if key != want {
		if prev.Seq == 0 {
			return e, want, fmt.Sprintf("event 1 is missing (the trail starts at %d)", key)
		}
		return e, want, fmt.Sprintf("event %d is missing (%d is followed by %d)",
			want, prev.Seq, key)
	}
	if err := json.Unmarshal(v, &e); err != nil {
		return e, key, fmt.Sprintf("event %d cannot be read: %v", key, err)
	}
	switch {
	case e.Seq != key:
		return e, key, fmt.Sprintf("events out of order at %d (it holds event %d)",
			key, e.Seq)
	case e.ChainHash() != e.Hash:
		return e, key, fmt.Sprintf("event %d was changed", key)
	case e.PrevHash != prev.Hash:
		return e, key, fmt.Sprintf("event %d does not follow event %d "+
			"(the chain is broken: one of them was rewritten)", key, prev.Seq)
	}
	return e, 0, ""
}

// Export formats.
const (
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
)

// CSVHeader is the first row of a CSV export; Details is a JSON object.
var CSVHeader = []string{"seq", "time", "type", "actor", "request_id", "grant_id",
	"resource", "role", "details", "prev_hash", "hash"}

// Export writes the events whose Time is in [from, to) to w, in sequence
// order, as "jsonl" (one JSON object per line) or "csv" (CSVHeader, then one
// row per event). It returns the number of events written. An unknown format
// is an error naming the accepted ones, and nothing is written. Values are
// written verbatim so that exported events still verify; text a user typed
// (a reason, say) may begin with "=", so spreadsheets should import the CSV
// as text rather than evaluate it.
func (db *DB) Export(w io.Writer, from, to time.Time, format string) (int, error) {
	var write func(Event) error
	var flush func() error
	switch format {
	case FormatJSONL:
		enc := json.NewEncoder(w)
		write = func(e Event) error { return enc.Encode(e) }
		flush = func() error { return nil }
	case FormatCSV:
		cw := csv.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, fmt.Errorf("export audit as csv: %w", err)
		}
		write = func(e Event) error { return writeCSV(cw, e) }
		flush = func() error { cw.Flush(); return cw.Error() }
	default:
		return 0, fmt.Errorf("export audit: unknown format %q (accepted: %s, %s)",
			format, FormatJSONL, FormatCSV)
	}

	n := 0
	err := db.Events(from, to, func(e Event) error {
		if err := write(e); err != nil {
			return err
		}
		n++
		return nil
	})
	err = errors.Join(err, flush())
	if err != nil {
		return n, fmt.Errorf("export audit as %s: %w", format, err)
	}
	return n, nil
}

func writeCSV(cw *csv.Writer, e Event) error {
	details := ""
	if len(e.Details) > 0 {
		raw, err := json.Marshal(e.Details)
		if err != nil {
			return err
		}
		details = string(raw)
	}
	return cw.Write([]string{strconv.FormatUint(e.Seq, 10),
		e.Time.UTC().Format(time.RFC3339Nano), string(e.Type), e.Actor,
		e.RequestID, e.GrantID, e.Resource, e.Role, details, e.PrevHash, e.Hash})
}
