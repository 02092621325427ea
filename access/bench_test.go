package access_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

const (
	// benchGrants is how many active grants the scale benchmarks hold.
	benchGrants = 100_000
	// benchUsers share the grants, ten each, every one on its own target so
	// no grant covers another and each expiry reaches the provider.
	benchUsers = benchGrants / 10
)

// benchEpoch is when the stored grants of the expiry benchmark fall due,
// as the shifted clock of the service sees it.
var benchEpoch = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)

// revokeLead is how long after Run starts the first grant falls due: longer
// than recovering 100,000 grants takes, so lateness measures the timers and
// the revokes, not the restart (BenchmarkRestart100k measures that).
const revokeLead = 10 * time.Second

// revokeWindow is how long the due grants' expiries are spread over.
const revokeWindow = 3 * time.Second

// revokeCase is one run of the expiry benchmarks: due of the 100,000 active
// grants fall due over revokeWindow, the rest a day later.
type revokeCase struct {
	name   string
	due    int
	noSync bool
}

// BenchmarkRevokeLateness holds 100,000 active grants, some of which fall
// due within three seconds, and measures how late the provider's Revoke is
// called for each: p50, p99 and max lateness, and the revoke rate the core
// sustained. Three hundred due grants stay within what the core keeps up
// with; ten thousand measure its throughput. Each revoke commits twice; the
// fsync cases pay for a disk flush per commit, the nosync one shows what the
// core does without it.
func BenchmarkRevokeLateness(b *testing.B) {
	benchRevokes(b, []revokeCase{
		{"fsync_300_due", 300, false},
		{"fsync_10k_due", 10_000, false},
		{"nosync_10k_due", 10_000, true},
	})
}

// BenchmarkRevokeBurst100k lets all 100,000 active grants fall due within
// three seconds, without fsync: with it the burst takes several minutes.
func BenchmarkRevokeBurst100k(b *testing.B) {
	benchRevokes(b, []revokeCase{{"nosync_100k_due", benchGrants, true}})
}

func benchRevokes(b *testing.B, cases []revokeCase) {
	templates := map[int]string{}
	for _, c := range cases {
		if templates[c.due] == "" {
			templates[c.due] = dueTemplate(b, c.due, revokeWindow)
		}
		b.Run(c.name, func(b *testing.B) {
			var late []time.Duration
			var took, recovered time.Duration
			for b.Loop() {
				b.StopTimer()
				path := copyFile(b, templates[c.due])
				b.StartTimer()
				r := expireDue(b, path, c.due, c.noSync)
				late, took = append(late, r.late...), took+r.took
				recovered = max(recovered, r.recovered)
				b.StartTimer()
			}
			reportDurations(b, late, "late")
			b.ReportMetric(float64(len(late))/took.Seconds(), "revokes/s")
			b.ReportMetric(float64(recovered.Milliseconds()), "recover-ms")
		})
	}
}

// dueTemplate writes a store whose first due grants expire over window from
// benchEpoch, warned long before, and whose others expire a day later.
func dueTemplate(b *testing.B, due int, window time.Duration) string {
	path := filepath.Join(b.TempDir(), "template.db")
	fillActiveGrants(b, path, func(i int) (time.Time, time.Time) {
		if i >= due {
			return benchEpoch.Add(24*time.Hour + time.Duration(i)*time.Millisecond), time.Time{}
		}
		expires := benchEpoch.Add(window * time.Duration(i) / time.Duration(due))
		return expires, expires.Add(-10 * time.Minute)
	})
	return path
}

// revokeRun is what one expiry run measured: each due grant's lateness,
// the time from the first expiry to the last revoke, and how long the core
// took to recover before its timers ran.
type revokeRun struct {
	late      []time.Duration
	took      time.Duration
	recovered time.Duration
}

// expireDue runs the core on the store at path until due grants reached
// the provider. It stops the timer once the last revoke was called.
func expireDue(b *testing.B, path string, due int, noSync bool) revokeRun {
	db, err := store.Open(path, store.Options{Timeout: time.Second, NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// The grants expire at benchEpoch; the clock is moved so that this is
	// revokeLead from now. Timers still wait real durations.
	clock := shiftedClock{Clock: clockwork.NewRealClock(),
		shift: benchEpoch.Sub(time.Now().Add(revokeLead))}
	rec := newRevokeRecorder(clock, due)
	svc := newBenchService(b, db, clock, rec)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	select {
	case <-rec.all:
	case <-time.After(revokeLead + 100*time.Second):
		b.Errorf("only %d of %d grants revoked in 100 s", rec.count(), due)
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if n := liveGrants(b, db); n != benchGrants-due {
		b.Fatalf("%d grants live after %d of %d were revoked", n, due, benchGrants)
	}
	recovered, _ := svc.Recovered()
	if recovered > revokeLead {
		b.Logf("recovery took %s, past the first expiry; lateness includes it", recovered)
	}
	return revokeRun{late: rec.late, took: rec.last.Sub(benchEpoch), recovered: recovered}
}

// BenchmarkRestart100k measures a restart with 100,000 active grants that
// expire in a day and were not warned yet: opening the store and running
// the core until it has loaded the grants and armed their expiry and warning
// timers. It reports that time, the peak resident memory of the process
// during the restart and the heap in use once recovered.
func BenchmarkRestart100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "jitbot.db")
	now := time.Now()
	fillActiveGrants(b, path, func(i int) (time.Time, time.Time) {
		return now.Add(24*time.Hour + time.Duration(i)*time.Millisecond), time.Time{}
	})
	// The setup's garbage and peak are no part of what a restart costs.
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS(b)

	var mem restartMem
	var recovered time.Duration
	for b.Loop() {
		d, m := restartOnce(b, path)
		recovered += d
		mem = mem.max(m)
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "restart-ms")
	b.ReportMetric(float64(recovered.Milliseconds())/float64(b.N), "recover-ms")
	const mb = 1 << 20
	b.ReportMetric(float64(procStatus(b, "VmHWM"))/mb, "peak-rss-MB")
	b.ReportMetric(float64(mem.rssAnon)/mb, "rss-anon-MB")
	b.ReportMetric(float64(mem.rssFile)/mb, "rss-file-MB")
	b.ReportMetric(float64(mem.heapInuse)/mb, "heap-inuse-MB")
	b.ReportMetric(float64(mem.liveHeap)/mb, "live-heap-MB")
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/mb, "store-MB")
	}
}

// restartMem is the memory of the process once the core has recovered.
type restartMem struct {
	rssAnon, rssFile    int64
	heapInuse, liveHeap uint64
}

func (m restartMem) max(o restartMem) restartMem {
	return restartMem{
		rssAnon: max(m.rssAnon, o.rssAnon), rssFile: max(m.rssFile, o.rssFile),
		heapInuse: max(m.heapInuse, o.heapInuse), liveHeap: max(m.liveHeap, o.liveHeap),
	}
}

// restartOnce opens the store and runs the core until it has recovered. It
// returns the recovery time the core reports and the memory at that moment,
// with the heap still reachable after a collection.
func restartOnce(b *testing.B, path string) (time.Duration, restartMem) {
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	clock := clockwork.NewRealClock()
	svc := newBenchService(b, db, clock, newRevokeRecorder(clock, 0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	d, armed := svc.Recovered()
	for ; d == 0; d, armed = svc.Recovered() {
		select {
		case <-tick.C:
		case err := <-done:
			b.Fatalf("run ended before recovering: %v", err)
		}
	}
	b.StopTimer()
	defer b.StartTimer()
	if armed != benchGrants {
		b.Fatalf("recovered %d grants, want %d", armed, benchGrants)
	}
	m := restartMem{rssAnon: procStatus(b, "RssAnon"), rssFile: procStatus(b, "RssFile")}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.heapInuse = ms.HeapInuse
	runtime.GC()
	runtime.ReadMemStats(&ms)
	m.liveHeap = ms.HeapAlloc
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return d, m
}

func newBenchService(
	b *testing.B,
	db *store.DB,
	clock clockwork.Clock,
	p grants.Provider,
) *access.Service {
	b.Helper()
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := access.New(access.Config{
		Store:     db,
		Policy:    func() *policy.Policy { return pol },
		Directory: directory{},
		Notifier:  quietNotifier{},
		Providers: map[string]grants.Provider{"mem": p},
		Clock:     clock,
		Log:       zerolog.Nop(),
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// fillActiveGrants writes benchGrants active grants to a new store at path,
// each with the approved request it came from, as the core stores them.
// times gives grant i's expiry and when it was warned (zero: not yet).
func fillActiveGrants(b *testing.B, path string, times func(int) (time.Time, time.Time)) {
	b.Helper()
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		b.Fatal(err)
	}
	rules, _ := pol.Rules("prod-db", "readonly")
	snapshot, err := rules.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(path, store.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const batch = 1_000
	for start := 0; start < benchGrants; start += batch {
		err := db.Update(func(tx *store.Tx) error {
			for i := start; i < min(start+batch, benchGrants); i++ {
				expires, warned := times(i)
				req, g := activeGrant(i, snapshot, expires, warned)
				if err := tx.CreateRequest(req); err != nil {
					return err
				}
				if err := tx.CreateGrant(g); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// activeGrant returns grant i, granted an hour before it expires, and its
// approved request.
func activeGrant(
	i int,
	rules []byte,
	expires, warned time.Time,
) (store.Request, store.Grant) {
	user := fmt.Sprintf("U%06d", i%benchUsers)
	email := strings.ToLower(user) + "@example.com"
	granted := expires.Add(-time.Hour)
	created := granted.Add(-time.Minute)
	thread := store.MessageRef{Channel: "CAPPROVE", TS: fmt.Sprintf("1700000000.%06d", i)}
	req := store.Request{
		ID: fmt.Sprintf("r_%07d", i), Requester: user, RequesterEmail: email,
		Resource: "prod-db", Role: "readonly", Duration: time.Hour,
		Reason: "INC-42 nightly load", State: store.RequestApproved,
		CreatedAt: created, ExpiresAt: created.Add(30 * time.Minute),
		DecidedAt: granted, DecidedBy: "UAPP1",
		Decisions:         []store.Decision{{User: "UAPP1", Approve: true, At: granted}},
		ApprovalsRequired: 1, Rules: rules, Message: thread,
		GrantID: fmt.Sprintf("g_%07d", i),
	}
	g := store.Grant{
		ID: req.GrantID, RequestID: req.ID, User: user, Email: email,
		Principal: strings.ToLower(user), Resource: "prod-db", Role: "readonly",
		Provider: "mem", Target: "app_t" + strconv.Itoa(i/benchUsers),
		State: store.GrantActive, CreatedAt: created, GrantedAt: granted,
		ExpiresAt: expires, WarnAt: expires.Add(-10 * time.Minute), WarnedAt: warned,
		Thread: thread,
	}
	return req, g
}

func liveGrants(b *testing.B, db *store.DB) int {
	var n int
	err := db.View(func(tx *store.Tx) error {
		gs, err := tx.LiveGrants()
		n = len(gs)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

func copyFile(b *testing.B, src string) string {
	b.Helper()
	dst := filepath.Join(b.TempDir(), "jitbot.db")
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}

// shiftedClock is the real clock read with an offset: timers wait real
// durations while Now lands where the stored data needs it.
type shiftedClock struct {
	clockwork.Clock
	shift time.Duration
}

func (c shiftedClock) Now() time.Time                  { return c.Clock.Now().Add(c.shift) }
func (c shiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c shiftedClock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// revokeRecorder is a provider that notes how late each revoke came. all is
// closed when want revokes have been recorded.
type revokeRecorder struct {
	clock clockwork.Clock
	want  int
	all   chan struct{}

	mu   sync.Mutex
	late []time.Duration
	last time.Time
}

var _ grants.Provider = (*revokeRecorder)(nil)

func newRevokeRecorder(c clockwork.Clock, want int) *revokeRecorder {
	return &revokeRecorder{clock: c, want: want, all: make(chan struct{}),
		late: make([]time.Duration, 0, want)}
}

func (r *revokeRecorder) Grant(context.Context, grants.Grant) error { return nil }

func (r *revokeRecorder) Revoke(_ context.Context, g grants.Grant) error {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.late = append(r.late, now.Sub(g.ExpiresAt))
	r.last = now
	if len(r.late) == r.want {
		close(r.all)
	}
	return nil
}

func (r *revokeRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.late)
}

// quietNotifier drops every notice; the benchmarks measure the core.
type quietNotifier struct{}

func (quietNotifier) PostApproval(context.Context, store.Request, policy.Rules) (
	store.MessageRef, error,
) {
	return store.MessageRef{}, nil
}

func (quietNotifier) UpdateApproval(context.Context, store.Request, policy.Rules) error {
	return nil
}

func (quietNotifier) Notify(context.Context, access.Notice) error { return nil }

// reportDurations reports the p50, p99 and max of ds in milliseconds.
func reportDurations(b *testing.B, ds []time.Duration, name string) {
	if len(ds) == 0 {
		b.Fatalf("no %s samples", name)
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := max(int(q*float64(len(ds))+0.5)-1, 0)
		return float64(ds[min(i, len(ds)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), name+"-p50-ms")
	b.ReportMetric(at(0.99), name+"-p99-ms")
	b.ReportMetric(at(1), name+"-max-ms")
}

// resetPeakRSS clears the process's resident-memory high-water mark.
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("peak RSS not reset, it includes the setup: %v", err)
	}
}

// procStatus returns a memory figure of /proc/self/status in bytes:
// VmHWM is the peak resident set, RssAnon and RssFile the resident heap and
// stacks and the resident pages of mapped files (the store) now.
func procStatus(b *testing.B, key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", key)
	return 0
}
