package store

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNewerSchema means the file was written by a newer jitbot; Open refuses
// it rather than misread it.
var ErrNewerSchema = errors.New("store schema is newer than this build supports")

// Bucket names. Index buckets map a key to a small value and never hold
// records themselves.
var (
	bucketMeta      = []byte("meta")
	bucketRequests  = []byte("requests")
	bucketGrants    = []byte("grants")
	bucketEvents    = []byte("events")
	bucketPending   = []byte("idx_pending_requests")
	bucketLive      = []byte("idx_live_grants")
	bucketUserReqs  = []byte("idx_user_requests")
	bucketUserGrant = []byte("idx_user_grants")
)

// schemaKey is the meta key holding the schema version as decimal text.
const schemaKey = "schema_version"

// migration moves a file to schema version to.
type migration struct {
	to  int
	run func(*bolt.Tx) error
}

// migrations run in order; the last one's version is the current schema.
var migrations = []migration{
	{to: 1, run: createBuckets},
}

func currentSchema() int { return migrations[len(migrations)-1].to }

func createBuckets(btx *bolt.Tx) error {
	names := [][]byte{bucketRequests, bucketGrants, bucketEvents,
		bucketPending, bucketLive, bucketUserReqs, bucketUserGrant}
	for _, name := range names {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means one second.
	Timeout time.Duration
	// NoSync skips fsync on commit. It risks losing commits on a crash and
	// exists for benchmarks only.
	NoSync bool
	// OnAppend, if set, is called with each event appended by an Update,
	// after that Update commits, in sequence order across all writers. It
	// runs on the goroutine that called Update; it must return quickly and
	// must not call Update on the same DB (that deadlocks). Events of a
	// rolled-back Update are never passed.
	OnAppend func(Event)
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	bolt     *bolt.DB
	onAppend func(Event)

	// writeMu serializes writers so that notifyMu can be taken before the
	// next writer starts: OnAppend then sees events in sequence order.
	writeMu  sync.Mutex
	notifyMu sync.Mutex

	// batchQ holds Batch calls waiting for the next group commit.
	batchMu sync.Mutex
	batchQ  []*batchCall
}

// Open opens or creates the store at path, creates missing buckets and runs
// pending migrations. It fails with ErrNewerSchema for a file written by a
// newer schema, and with a timeout error when another process holds the
// file. The caller closes the DB.
func Open(path string, opts Options) (*DB, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		NoSync:       opts.NoSync,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := bdb.Update(migrate); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &DB{bolt: bdb, onAppend: opts.OnAppend}, nil
}

func migrate(btx *bolt.Tx) error {
	meta, err := btx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", bucketMeta, err)
	}
	version := 0
	if raw := meta.Get([]byte(schemaKey)); raw != nil {
		if version, err = strconv.Atoi(string(raw)); err != nil {
			return fmt.Errorf("read schema version %q: %w", raw, err)
		}
	}
	if version > currentSchema() {
		return fmt.Errorf("schema version %d, this build knows up to %d: %w",
			version, currentSchema(), ErrNewerSchema)
	}
	for _, m := range migrations {
		if m.to <= version {
			continue
		}
		if err := m.run(btx); err != nil {
			return fmt.Errorf("migrate to schema %d: %w", m.to, err)
		}
		version = m.to
	}
	return meta.Put([]byte(schemaKey), []byte(strconv.Itoa(version)))
}

// Close releases the file. Calling it twice returns nil the second time.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Update runs fn in one read-write transaction. If fn returns an error or
// panics, nothing fn wrote is kept and fn's error is returned unchanged;
// otherwise the transaction commits and OnAppend sees the appended events.
func (db *DB) Update(fn func(*Tx) error) error {
	db.writeMu.Lock()
	writing := true
	defer func() {
		if writing {
			db.writeMu.Unlock()
		}
	}()

	var appended []Event
	var fnErr error
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx}
		defer tx.close()
		if fnErr = fn(tx); fnErr != nil {
			return fnErr
		}
		appended = tx.appended
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store update: %w", err)
	}
	if db.onAppend == nil || len(appended) == 0 {
		return nil
	}

	// Take the notify lock before letting the next writer in, so callbacks
	// run in commit order.
	db.notifyMu.Lock()
	defer db.notifyMu.Unlock()
	writing = false
	db.writeMu.Unlock()
	for _, e := range appended {
		db.onAppend(e)
	}
	return nil
}

// View runs fn in one read-only transaction and returns fn's error. Write
// methods called on its Tx fail.
func (db *DB) View(fn func(*Tx) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		tx := &Tx{btx: btx}
		defer tx.close()
		return fn(tx)
	})
}
