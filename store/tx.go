package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

var errTxClosed = errors.New("store transaction used outside its closure")

// Tx is one store transaction, valid only inside the Update or View closure
// that received it. Values it returns are copies the caller may keep. A Tx
// is not safe for concurrent use.
type Tx struct {
	btx      *bolt.Tx
	appended []Event
	// last caches the newest event, once read, for Append.
	last *Event
}

func (tx *Tx) close() { tx.btx = nil }

func (tx *Tx) bucket(name []byte) (*bolt.Bucket, error) {
	if tx.btx == nil {
		return nil, errTxClosed
	}
	b := tx.btx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("bucket %s is missing", name)
	}
	return b, nil
}

// getJSON decodes the record under key into v, or returns ErrNotFound.
func (tx *Tx) getJSON(name []byte, key string, v any) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	raw := b.Get([]byte(key))
	if raw == nil {
		return ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

// Request returns the request with the given id, or ErrNotFound.
func (tx *Tx) Request(id string) (Request, error) {
	var r Request
	if err := tx.getJSON(bucketRequests, id, &r); err != nil {
		return Request{}, fmt.Errorf("get request %s: %w", id, err)
	}
	return r, nil
}

// CreateRequest stores a new request. It returns ErrConflict if a request
// with the same id exists.
func (tx *Tx) CreateRequest(r Request) error {
	if err := tx.putRequest(r, true); err != nil {
		return fmt.Errorf("create request %s: %w", r.ID, err)
	}
	return nil
}

// PutRequest replaces a stored request and moves it between the pending and
// per-user indexes as its state or requester changed. It returns ErrNotFound
// if no request has that id.
func (tx *Tx) PutRequest(r Request) error {
	if err := tx.putRequest(r, false); err != nil {
		return fmt.Errorf("put request %s: %w", r.ID, err)
	}
	return nil
}

func (tx *Tx) putRequest(r Request, create bool) error {
	old, existed, err := putRecord(tx, bucketRequests, r.ID, r, create)
	if err != nil {
		return err
	}
	err = tx.reindexUser(bucketUserReqs, r.ID, existed, old.Requester, r.Requester,
		string(r.State))
	if err != nil {
		return err
	}
	return tx.setIndex(bucketPending, []byte(r.ID), r.State == RequestPending)
}

// Grant returns the grant with the given id, or ErrNotFound.
func (tx *Tx) Grant(id string) (Grant, error) {
	var g Grant
	if err := tx.getJSON(bucketGrants, id, &g); err != nil {
		return Grant{}, fmt.Errorf("get grant %s: %w", id, err)
	}
	return g, nil
}

// CreateGrant stores a new grant. It returns ErrConflict if a grant with the
// same id exists.
func (tx *Tx) CreateGrant(g Grant) error {
	if err := tx.putGrant(g, true); err != nil {
		return fmt.Errorf("create grant %s: %w", g.ID, err)
	}
	return nil
}

// PutGrant replaces a stored grant and moves it between the live and
// per-user indexes as its state or user changed. It returns ErrNotFound if
// no grant has that id.
func (tx *Tx) PutGrant(g Grant) error {
	if err := tx.putGrant(g, false); err != nil {
		return fmt.Errorf("put grant %s: %w", g.ID, err)
	}
	return nil
}

func (tx *Tx) putGrant(g Grant, create bool) error {
	old, existed, err := putRecord(tx, bucketGrants, g.ID, g, create)
	if err != nil {
		return err
	}
	err = tx.reindexUser(bucketUserGrant, g.ID, existed, old.User, g.User,
		string(g.State))
	if err != nil {
		return err
	}
	return tx.setIndex(bucketLive, []byte(g.ID), g.State.Live())
}

// putRecord writes v under id in bucket: as a new record when create is
// set (ErrConflict if one exists), else over the stored one (ErrNotFound if
// none). It returns the record it replaced, for reindexing.
func putRecord[T any](tx *Tx, bucket []byte, id string, v T, create bool) (
	old T, existed bool, err error,
) {
	if id == "" {
		return old, false, errors.New("empty id")
	}
	err = tx.getJSON(bucket, id, &old)
	existed = err == nil
	switch {
	case err != nil && !errors.Is(err, ErrNotFound):
		return old, false, err
	case create && existed:
		return old, true, ErrConflict
	case !create && !existed:
		return old, false, ErrNotFound
	}
	return old, existed, tx.putJSON(bucket, id, v)
}

func (tx *Tx) putJSON(name []byte, key string, v any) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put([]byte(key), raw)
}

func (tx *Tx) putIndex(name, key []byte, val string) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	return b.Put(key, []byte(val))
}

func (tx *Tx) delIndex(name, key []byte) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	return b.Delete(key)
}

// reindexUser points a per-user index at user for record id, with the
// record's state as the value, dropping the old user's entry if it existed.
func (tx *Tx) reindexUser(
	name []byte, id string, existed bool, oldUser, user, state string,
) error {
	if existed {
		if err := tx.delIndex(name, userKey(oldUser, id)); err != nil {
			return err
		}
	}
	return tx.putIndex(name, userKey(user, id), state)
}

// setIndex puts key in the index when in is true and removes it otherwise.
func (tx *Tx) setIndex(name, key []byte, in bool) error {
	if in {
		return tx.putIndex(name, key, "")
	}
	return tx.delIndex(name, key)
}

// userKey is the per-user index key: the user's length (2 bytes, big
// endian), the user, then the record id. The length prefix keeps one user's
// keys from running into another's whatever bytes the names hold.
func userKey(user, id string) []byte {
	k := userPrefix(user)
	return append(k, id...)
}

func userPrefix(user string) []byte {
	n := min(len(user), 0xffff)
	k := make([]byte, 2, 2+n+32)
	binary.BigEndian.PutUint16(k, uint16(n))
	return append(k, user[:n]...)
}

// PendingRequests returns every request in state pending, oldest first
// (ties by id). It reads the pending index, not the whole history.
func (tx *Tx) PendingRequests() ([]Request, error) {
	var out []Request
	err := tx.eachIndexed(bucketPending, nil, func(id, _ []byte) error {
		r, err := tx.Request(string(id))
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pending requests: %w", err)
	}
	sortByCreated(out, func(r Request) (int64, string) {
		return r.CreatedAt.UnixNano(), r.ID
	})
	return out, nil
}

// LiveGrants returns every grant in state granting, active or revoking, in
// id order. It reads the live-grant index, not the whole history, and decodes
// large lists on all CPUs: at start-up it may hold many thousands of grants.
func (tx *Tx) LiveGrants() ([]Grant, error) {
	keys, raws, err := tx.liveGrantRecords()
	if err != nil {
		return nil, fmt.Errorf("list live grants: %w", err)
	}
	out := make([]Grant, len(raws))
	if err := decodeAll(keys, raws, out); err != nil {
		return nil, fmt.Errorf("list live grants: %w", err)
	}
	return out, nil
}

// liveGrantRecords returns the id and stored bytes of each live grant. Both
// point into the file's memory map and are valid only until tx ends.
func (tx *Tx) liveGrantRecords() (keys, raws [][]byte, err error) {
	idx, err := tx.bucket(bucketLive)
	if err != nil {
		return nil, nil, err
	}
	grants, err := tx.bucket(bucketGrants)
	if err != nil {
		return nil, nil, err
	}
	c := idx.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		raw := grants.Get(k)
		if raw == nil {
			return nil, nil, fmt.Errorf("indexed grant %s: %w", k, ErrNotFound)
		}
		keys, raws = append(keys, k), append(raws, raw)
	}
	return keys, raws, nil
}

// parallelDecodeMin is the list length from which decodeAll uses more than
// one goroutine; below it the start-up cost outweighs the gain.
const parallelDecodeMin = 1024

// decodeAll decodes raws[i], stored under keys[i], into out[i], splitting
// long lists across GOMAXPROCS goroutines. It returns each worker's first
// decoding error.
func decodeAll[T any](keys, raws [][]byte, out []T) error {
	workers := min(runtime.GOMAXPROCS(0), len(raws)/parallelDecodeMin+1)
	errs := make([]error, workers)
	chunk := (len(raws) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(raws))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				if err := json.Unmarshal(raws[i], &out[i]); err != nil {
					errs[w] = fmt.Errorf("decode %s: %w", keys[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// UserRequests returns the requests made by user, oldest first. With states
// given, only requests in one of them are returned.
func (tx *Tx) UserRequests(user string, states ...RequestState) ([]Request, error) {
	var out []Request
	err := tx.eachIndexed(bucketUserReqs, userPrefix(user), func(k, state []byte) error {
		if len(states) > 0 && !slices.Contains(states, RequestState(state)) {
			return nil
		}
		r, err := tx.Request(idFromUserKey(k))
		if err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list requests of user %s: %w", user, err)
	}
	sortByCreated(out, func(r Request) (int64, string) {
		return r.CreatedAt.UnixNano(), r.ID
	})
	return out, nil
}

// UserGrants returns the grants held or once held by user, oldest first.
// With live true, only grants in a live state are returned.
func (tx *Tx) UserGrants(user string, live bool) ([]Grant, error) {
	var out []Grant
	err := tx.eachIndexed(bucketUserGrant, userPrefix(user), func(k, state []byte) error {
		if live && !GrantState(state).Live() {
			return nil
		}
		g, err := tx.Grant(idFromUserKey(k))
		if err != nil {
			return err
		}
		out = append(out, g)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list grants of user %s: %w", user, err)
	}
	sortByCreated(out, func(g Grant) (int64, string) {
		return g.CreatedAt.UnixNano(), g.ID
	})
	return out, nil
}

// idFromUserKey strips the length-prefixed user from a per-user index key.
func idFromUserKey(k []byte) string {
	n := int(binary.BigEndian.Uint16(k))
	return string(k[2+n:])
}

// eachIndexed calls fn for each key of an index bucket that starts with
// prefix (all keys when prefix is nil).
func (tx *Tx) eachIndexed(name, prefix []byte, fn func(k, v []byte) error) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func sortByCreated[T any](s []T, key func(T) (int64, string)) {
	slices.SortFunc(s, func(a, b T) int {
		at, aid := key(a)
		bt, bid := key(b)
		if at != bt {
			if at < bt {
				return -1
			}
			return 1
		}
		return strings.Compare(aid, bid)
	})
}

// ForEachRequest calls fn for every stored request in id order, stopping at
// and returning fn's first error.
func (tx *Tx) ForEachRequest(fn func(Request) error) error {
	return tx.forEach(bucketRequests, func(raw []byte) error {
		var r Request
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("decode request: %w", err)
		}
		return fn(r)
	})
}

// ForEachGrant calls fn for every stored grant in id order, stopping at and
// returning fn's first error.
func (tx *Tx) ForEachGrant(fn func(Grant) error) error {
	return tx.forEach(bucketGrants, func(raw []byte) error {
		var g Grant
		if err := json.Unmarshal(raw, &g); err != nil {
			return fmt.Errorf("decode grant: %w", err)
		}
		return fn(g)
	})
}

func (tx *Tx) forEach(name []byte, fn func(raw []byte) error) error {
	b, err := tx.bucket(name)
	if err != nil {
		return err
	}
	return b.ForEach(func(_, v []byte) error { return fn(v) })
}

// Meta returns a copy of the value stored under key in the meta bucket, or
// nil and no error when the key is absent.
func (tx *Tx) Meta(key string) ([]byte, error) {
	b, err := tx.bucket(bucketMeta)
	if err != nil {
		return nil, fmt.Errorf("get meta %s: %w", key, err)
	}
	return bytes.Clone(b.Get([]byte(key))), nil
}

// PutMeta stores val under key in the meta bucket. The key "schema_version"
// belongs to the store and is refused.
func (tx *Tx) PutMeta(key string, val []byte) error {
	if key == schemaKey || key == "" {
		return fmt.Errorf("put meta %q: key is reserved or empty", key)
	}
	b, err := tx.bucket(bucketMeta)
	if err != nil {
		return fmt.Errorf("put meta %s: %w", key, err)
	}
	if err := b.Put([]byte(key), bytes.Clone(val)); err != nil {
		return fmt.Errorf("put meta %s: %w", key, err)
	}
	return nil
}
