package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// batchCall is one caller's part of a group commit.
type batchCall struct {
	fn       func(*Tx) error
	appended []Event
	err      error
	done     chan struct{}
}

// Batch runs fn like Update, but lets concurrent callers share one
// transaction and so one flush to disk: calls that arrive while a commit is
// under way wait for it and are then committed together. Under a burst of
// writers this multiplies throughput; a lone caller pays nothing extra.
//
// fn may run more than once: when another call of its group fails, the
// group is rolled back and run again without that call. fn must therefore
// decide from what it reads in tx, never from what an earlier run did. A
// panic in fn is returned to its caller as an error. Errors and OnAppend
// behave as for Update.
func (db *DB) Batch(fn func(*Tx) error) error {
	c := &batchCall{fn: fn, done: make(chan struct{})}
	db.batchMu.Lock()
	db.batchQ = append(db.batchQ, c)
	db.batchMu.Unlock()

	db.writeMu.Lock()
	db.batchMu.Lock()
	calls := db.batchQ
	db.batchQ = nil
	db.batchMu.Unlock()
	if len(calls) == 0 {
		// An earlier caller committed this call with its own group.
		db.writeMu.Unlock()
	} else {
		db.commitBatch(calls)
	}
	<-c.done
	return c.err
}

// commitBatch commits calls in one transaction, dropping any call that
// fails and retrying the rest. It is called with writeMu held and releases
// it.
func (db *DB) commitBatch(calls []*batchCall) {
	for len(calls) > 0 {
		failed, err := db.runBatch(calls)
		if failed >= 0 {
			finish(calls[failed], err)
			calls = append(calls[:failed:failed], calls[failed+1:]...)
			continue
		}
		if err != nil {
			db.writeMu.Unlock()
			for _, c := range calls {
				finish(c, fmt.Errorf("store update: %w", err))
			}
			return
		}
		break
	}

	// As in Update: hold notifyMu before letting the next writer in, so
	// OnAppend sees events in commit order.
	db.notifyMu.Lock()
	db.writeMu.Unlock()
	defer db.notifyMu.Unlock()
	for _, c := range calls {
		if db.onAppend != nil {
			for _, e := range c.appended {
				db.onAppend(e)
			}
		}
		finish(c, nil)
	}
}

// runBatch runs every call in one read-write transaction. It returns the
// index of the call that failed (and its error), or -1 and the commit's
// error.
func (db *DB) runBatch(calls []*batchCall) (int, error) {
	failed := -1
	var failErr error
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		for i, c := range calls {
			appended, err := runCall(btx, c.fn)
			if err != nil {
				failed, failErr = i, err
				return err
			}
			c.appended = appended
		}
		return nil
	})
	if failed >= 0 {
		return failed, failErr
	}
	return -1, err
}

// runCall runs one call's fn on its own Tx view of the shared transaction.
func runCall(btx *bolt.Tx, fn func(*Tx) error) (appended []Event, err error) {
	tx := &Tx{btx: btx}
	defer tx.close()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store batch: panic: %v", p)
		}
	}()
	if err := fn(tx); err != nil {
		return nil, err
	}
	return tx.appended, nil
}

func finish(c *batchCall, err error) {
	c.err = err
	close(c.done)
}
