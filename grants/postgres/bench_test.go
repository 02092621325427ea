package postgres_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkGrantRevoke measures grant+revoke pairs per second through a
// pool of 4 connections: four workers, each cycling its own login through
// one shared role, with session termination and verification on.
func BenchmarkGrantRevoke(b *testing.B) {
	const workers = 4
	be := newBackend(b)
	target := be.role(b, "reader", "")
	p := be.provider(b, map[string]any{"max_conns": workers})
	logins := make([]string, workers)
	for i := range logins {
		logins[i] = be.role(b, "bench", "pw")
	}

	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, login := range logins {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				g := grantOf(login, target, time.Now().Add(time.Hour))
				if err := p.Grant(b.Context(), g); err != nil {
					b.Error(err)
					return
				}
				if err := p.Revoke(b.Context(), g); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pairs/s")
}
