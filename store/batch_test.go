package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestBatchCommitsEveryCallOnce has many writers batch at once, one of them
// failing and one panicking, and checks that every other call is kept
// exactly once, the chain is whole and OnAppend saw it in order.
func TestBatchCommitsEveryCallOnce(t *testing.T) {
	var mu sync.Mutex
	var seen []uint64
	db, _ := openTest(t, Options{OnAppend: func(e Event) {
		mu.Lock()
		seen = append(seen, e.Seq)
		mu.Unlock()
	}})
	const n = 64
	errBoom := errors.New("boom")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Batch(func(tx *Tx) error {
				id := fmt.Sprintf("r_%03d", i)
				if err := tx.CreateRequest(newRequest(id, "U1", RequestPending, t0)); err != nil {
					return err
				}
				if _, err := tx.Append(Event{Time: t0, Type: EvRequestCreated, RequestID: id}); err != nil {
					return err
				}
				switch i {
				case 7:
					return errBoom
				case 9:
					panic("bad call")
				}
				return nil
			})
		}()
	}
	wg.Wait()

	for i, err := range errs {
		switch {
		case i == 7 && !errors.Is(err, errBoom):
			t.Errorf("call 7: err = %v, want its own error", err)
		case i == 9 && (err == nil || errors.Is(err, errBoom)):
			t.Errorf("call 9: err = %v, want the panic as an error", err)
		case i != 7 && i != 9 && err != nil:
			t.Errorf("call %d: %v", i, err)
		}
	}
	var kept int
	view(t, db, func(tx *Tx) error {
		for i := range n {
			_, err := tx.Request(fmt.Sprintf("r_%03d", i))
			if (err == nil) != (i != 7 && i != 9) {
				t.Errorf("request %d kept = %v", i, err == nil)
			}
			if err == nil {
				kept++
			}
		}
		return nil
	})
	rep, err := db.Verify()
	if err != nil || !rep.OK || rep.Checked != uint64(kept) {
		t.Fatalf("verify: %+v %v, want %d intact events", rep, err, kept)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range seen {
		if seq != uint64(i+1) {
			t.Fatalf("OnAppend order %v", seen)
		}
	}
	if len(seen) != kept {
		t.Fatalf("OnAppend saw %d events, want %d", len(seen), kept)
	}
}

// BenchmarkBatchParallel compares Batch with Update when many goroutines
// each commit one small change with fsync, as revocations do in a burst.
func BenchmarkBatchParallel(b *testing.B) {
	for _, mode := range []string{"update", "batch"} {
		b.Run(mode, func(b *testing.B) {
			db, _ := openTest(b, Options{})
			write := db.Update
			if mode == "batch" {
				write = db.Batch
			}
			var seq sync.Mutex
			next := 0
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					seq.Lock()
					next++
					id := fmt.Sprintf("r_%07d", next)
					seq.Unlock()
					err := write(func(tx *Tx) error {
						return tx.CreateRequest(newRequest(id, "U1", RequestPending, t0))
					})
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
