package store

import (
	"fmt"
	"testing"
	"time"
)

func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		name   string
		perTx  int
		noSync bool
	}{
		{"1_per_update_fsync", 1, false},
		{"1_per_update_nosync", 1, true},
		{"100_per_update_nosync", 100, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			db, _ := openTest(b, Options{NoSync: c.noSync})
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				err := db.Update(func(tx *Tx) error {
					for range c.perTx {
						i++
						if _, err := tx.Append(newEvent(i)); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/event")
		})
	}
}

// BenchmarkLiveGrants measures the start-up load: 100,000 live grants among
// 200,000 ended ones.
func BenchmarkLiveGrants(b *testing.B) {
	const live, ended = 100_000, 200_000
	db, _ := openTest(b, Options{NoSync: true})
	fillGrants(b, db, live, ended)
	b.ReportAllocs()
	for b.Loop() {
		err := db.View(func(tx *Tx) error {
			gs, err := tx.LiveGrants()
			if err == nil && len(gs) != live {
				err = fmt.Errorf("loaded %d live grants, want %d", len(gs), live)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func fillGrants(b *testing.B, db *DB, live, ended int) {
	b.Helper()
	const batch = 1_000
	for start := 0; start < live+ended; start += batch {
		update(b, db, func(tx *Tx) error {
			for i := start; i < min(start+batch, live+ended); i++ {
				state := GrantRevoked
				if i%3 == 0 && i/3 < live {
					state = GrantActive
				}
				g := newGrant(fmt.Sprintf("g_%08d", i), fmt.Sprintf("U%04d", i%5000),
					state, t0.Add(time.Duration(i)*time.Second))
				if err := tx.CreateGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// BenchmarkVerify walks a trail of 100,000 events.
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	db, _ := openTest(b, Options{NoSync: true})
	for start := 0; start < n; start += 5_000 {
		update(b, db, func(tx *Tx) error {
			for i := start; i < start+5_000; i++ {
				if _, err := tx.Append(newEvent(i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := db.Verify()
		if err != nil || !rep.OK || rep.Checked != n {
			b.Fatalf("verify = %+v, %v", rep, err)
		}
	}
}
