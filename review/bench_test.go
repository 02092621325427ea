package review

import (
	"runtime"
	"testing"
)

// BenchmarkAnalyzeMillion analyzes about a million generated events held
// in memory. peak-heap-MB is the heap the analysis added, garbage included,
// read as it returns (an upper bound of its live peak); report-heap-MB is
// what stays live with the report after a collection.
func BenchmarkAnalyzeMillion(b *testing.B) {
	m, p := generated(b, GenOptions{Seed: 1, PerDay: 2800})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	var peak, retained uint64
	for b.Loop() {
		r, err := Analyze(m, p.Policy, p.Start, p.End)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		peak = max(peak, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained = max(retained, after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))
		runtime.KeepAlive(r)
		b.StartTimer()
	}
	b.ReportMetric(float64(retained)/(1<<20), "report-heap-MB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(len(m)), "events")
}
