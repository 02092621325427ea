package access_test

import (
	"context"
	"errors"
	"path/filepath"
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

const testPolicy = `
admins: [UADMIN, UADMIN2]
groups:
  dba: [UAPP1, UAPP2, carol@example.com]
defaults:
  max_duration: 4h
  default_duration: 1h
  approval_timeout: 30m
  approvals: 1
  warn_before: 10m
  reason: {min_length: 5}
resources:
  prod-db:
    provider: mem
    principal: "{{ .EmailLocal }}"
    roles:
      readonly:
        target: app_readonly
        channel: CAPPROVE
        approvers: [group:dba]
      admin:
        target: app_admin
        channel: CAPPROVE
        approvers: [group:dba]
        approvals: 2
        max_duration: 1h
        break_glass: {enabled: true, max_duration: 30m, channel: CSEC}
      quick:
        target: app_quick
        channel: CAPPROVE
        approvers: [group:dba]
        auto_approve:
          - name: always-short
            requesters: [UREQ]
            max_duration: 30m
`

// memProvider is an in-memory backend: who holds which target.
type memProvider struct {
	mu      sync.Mutex
	held    map[string]bool
	grants  int
	revokes int
	failing error // returned by the next calls while set
}

func newMem() *memProvider { return &memProvider{held: map[string]bool{}} }

func (m *memProvider) Grant(_ context.Context, g grants.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.grants++
	if m.failing != nil {
		return m.failing
	}
	m.held[g.Principal+"/"+g.Target] = true
	return nil
}

func (m *memProvider) Revoke(_ context.Context, g grants.Grant) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokes++
	if m.failing != nil {
		return m.failing
	}
	delete(m.held, g.Principal+"/"+g.Target)
	return nil
}

func (m *memProvider) holds(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held[key]
}

func (m *memProvider) setFailing(err error) {
	m.mu.Lock()
	m.failing = err
	m.mu.Unlock()
}

func (m *memProvider) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.grants, m.revokes
}

type directory struct{ emails map[string]string }

func (d directory) GroupMembers(context.Context, string) ([]string, error) { return nil, nil }
func (d directory) Email(_ context.Context, u string) (string, error)      { return d.emails[u], nil }

// notifier records notices and hands each to a channel tests wait on.
type notifier struct {
	mu      sync.Mutex
	posted  []store.Request
	updated []store.Request
	notices chan access.Notice
}

func (n *notifier) PostApproval(_ context.Context, r store.Request, _ policy.Rules) (store.MessageRef, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.posted = append(n.posted, r)
	return store.MessageRef{Channel: "CAPPROVE", TS: "1.000" + r.ID}, nil
}

func (n *notifier) UpdateApproval(_ context.Context, r store.Request, _ policy.Rules) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.updated = append(n.updated, r)
	return nil
}

func (n *notifier) Notify(_ context.Context, x access.Notice) error {
	n.notices <- x
	return nil
}

type harness struct {
	svc    *access.Service
	db     *store.DB
	mem    *memProvider
	clock  *clockwork.FakeClock
	notes  *notifier
	cancel context.CancelFunc
	done   chan error
	path   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		mem:   newMem(),
		clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)),
		notes: &notifier{notices: make(chan access.Notice, 100)},
		path:  filepath.Join(t.TempDir(), "jitbot.db"),
	}
	h.start(t)
	return h
}

func (h *harness) start(t *testing.T) {
	t.Helper()
	db, err := store.Open(h.path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := access.New(access.Config{
		Store:  db,
		Policy: func() *policy.Policy { return pol },
		Directory: directory{emails: map[string]string{
			"UREQ": "dave@example.com", "UAPP1": "a1@example.com",
			"UAPP2": "a2@example.com", "UADMIN": "boss@example.com",
			"UOTHER": "other@example.com",
		}},
		Notifier:  h.notes,
		Providers: map[string]grants.Provider{"mem": h.mem},
		Clock:     h.clock,
		Log:       zerolog.Nop(),
		RetryMin:  time.Minute,
		RetryMax:  10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.svc, h.db, h.cancel, h.done = svc, db, cancel, make(chan error, 1)
	go func() { h.done <- svc.Run(ctx) }()
	t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
	_ = h.db.Close()
}

// await returns the next notice of the given kind, skipping others.
func (h *harness) await(t *testing.T, kind access.NoticeKind) access.Notice {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-h.notes.notices:
			if n.Kind == kind {
				return n
			}
		case <-timeout:
			t.Fatalf("no %s notice", kind)
		}
	}
}

func (h *harness) submit(t *testing.T, role string, d time.Duration) store.Request {
	t.Helper()
	r, err := h.svc.Submit(context.Background(), access.SubmitInput{
		User: "UREQ", Resource: "prod-db", Role: role, Duration: d, Reason: "INC-42 outage",
	})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func (h *harness) events(t *testing.T) []store.EventType {
	t.Helper()
	var out []store.EventType
	err := h.db.Events(time.Time{}, time.Time{}, func(e store.Event) error {
		out = append(out, e.Type)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestApproveGrantExpireRevoke(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", 2*time.Hour)
	if r.State != store.RequestPending {
		t.Fatalf("state = %s, want pending", r.State)
	}
	h.await(t, access.NoticeSubmitted)
	if h.mem.holds("dave/app_readonly") {
		t.Fatal("access held before approval")
	}

	r, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true)
	if err != nil || r.State != store.RequestApproved {
		t.Fatalf("decide: %v, state %s", err, r.State)
	}
	granted := h.await(t, access.NoticeGranted)
	if !h.mem.holds("dave/app_readonly") {
		t.Fatal("access not held after approval")
	}
	if want := h.clock.Now().Add(2 * time.Hour); !granted.Grant.ExpiresAt.Equal(want) {
		t.Fatalf("expires_at = %v, want %v", granted.Grant.ExpiresAt, want)
	}

	h.clock.Advance(111 * time.Minute)
	h.await(t, access.NoticeExpiringSoon)
	h.clock.Advance(10 * time.Minute)
	rev := h.await(t, access.NoticeRevoked)
	if h.mem.holds("dave/app_readonly") {
		t.Fatal("access still held after expiry")
	}
	if rev.Grant.State != store.GrantRevoked || rev.Grant.EndReason != store.EndExpired {
		t.Fatalf("grant after expiry: %s %s", rev.Grant.State, rev.Grant.EndReason)
	}
	want := []store.EventType{store.EvRequestCreated, store.EvRequestApproved,
		store.EvGrantCreated, store.EvGrantWarned, store.EvGrantRevoked}
	if got := h.events(t); !equalTypes(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}

func equalTypes(a, b []store.EventType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecisionsRefusedChangeNothing(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	tests := []struct {
		name  string
		actor string
		want  error
	}{
		{"requester approves own request", "UREQ", access.ErrSelfApproval},
		{"someone who is not an approver", "UOTHER", access.ErrNotApprover},
		{"unknown request id", "UAPP1", access.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := r.ID
			if tc.want == access.ErrNotFound {
				id = "r_nosuch"
			}
			_, err := h.svc.Decide(context.Background(), id, tc.actor, true)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	pending, _, err := h.svc.Mine(context.Background(), "UREQ")
	if err != nil || len(pending) != 1 || len(pending[0].Decisions) != 0 {
		t.Fatalf("request changed: %+v %v", pending, err)
	}
	if g, _ := h.mem.counts(); g != 0 {
		t.Fatalf("provider called %d times", g)
	}
}

func TestConcurrentApprovalsGrantOnce(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor := []string{"UAPP1", "UAPP2"}[i%2]
			if _, err := h.svc.Decide(context.Background(), r.ID, actor, true); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, access.ErrAlreadyDecided) {
				t.Errorf("decide: %v", err)
			}
		}()
	}
	wg.Wait()
	h.await(t, access.NoticeGranted)
	if g, _ := h.mem.counts(); wins != 1 || g != 1 {
		t.Fatalf("wins = %d, provider grants = %d; want 1 and 1", wins, g)
	}
}

func TestTwoApprovalsNeedTwoPeople(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "admin", time.Hour)
	r, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true)
	if err != nil || r.State != store.RequestPending || len(r.Approvals()) != 1 {
		t.Fatalf("first approval: %v %s", err, r.State)
	}
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); !errors.Is(err, access.ErrAlreadyVoted) {
		t.Fatalf("second click of the same approver: %v", err)
	}
	r, err = h.svc.Decide(context.Background(), r.ID, "UAPP2", true)
	if err != nil || r.State != store.RequestApproved {
		t.Fatalf("second approver: %v %s", err, r.State)
	}
	h.await(t, access.NoticeGranted)
}

func TestDenyGrantsNothing(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	r, err := h.svc.Decide(context.Background(), r.ID, "UAPP2", false)
	if err != nil || r.State != store.RequestDenied || r.DecidedBy != "UAPP2" {
		t.Fatalf("deny: %v %s by %s", err, r.State, r.DecidedBy)
	}
	h.await(t, access.NoticeDenied)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); !errors.Is(err, access.ErrAlreadyDecided) {
		t.Fatalf("approve after deny: %v", err)
	}
	if g, _ := h.mem.counts(); g != 0 {
		t.Fatalf("provider called %d times", g)
	}
}

func TestProviderFailureIsNotActive(t *testing.T) {
	h := newHarness(t)
	h.mem.setFailing(&grants.Error{Op: "grant", Provider: "mem", Permanent: true,
		Detail: "ERROR: role does not exist", Err: errors.New("boom")})
	r := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	n := h.await(t, access.NoticeGrantFailed)
	if n.Grant.State != store.GrantFailed {
		t.Fatalf("grant state = %s", n.Grant.State)
	}
	if n.Text == "" || n.Text == "ERROR: role does not exist" {
		t.Fatalf("user text %q must be a fixed phrase", n.Text)
	}
	_, live, _ := h.svc.Mine(context.Background(), "UREQ")
	if len(live) != 0 {
		t.Fatalf("failed grant listed as live: %+v", live)
	}
}

func TestFailedRevokeIsRetried(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	h.await(t, access.NoticeGranted)
	h.mem.setFailing(errors.New("connection refused"))
	h.clock.Advance(time.Hour)
	failed := h.await(t, access.NoticeRevokeFailed)
	if failed.Grant.State != store.GrantRevoking || failed.Grant.Attempts != 1 {
		t.Fatalf("after failure: %s attempts %d", failed.Grant.State, failed.Grant.Attempts)
	}
	h.mem.setFailing(nil)
	h.clock.Advance(time.Minute)
	h.await(t, access.NoticeRevoked)
	if h.mem.holds("dave/app_readonly") {
		t.Fatal("access held after the retried revoke")
	}
}

func TestRestartRevokesOverdueGrant(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	h.await(t, access.NoticeGranted)
	h.stop()

	// jitbot is down while the grant runs out.
	h.clock.Advance(3 * time.Hour)
	h.start(t)
	n := h.await(t, access.NoticeRevoked)
	if n.Grant.EndReason != store.EndExpired || h.mem.holds("dave/app_readonly") {
		t.Fatalf("overdue grant not revoked at start: %+v", n.Grant)
	}
}

func TestPendingRequestTimesOut(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	h.clock.Advance(31 * time.Minute)
	n := h.await(t, access.NoticeRequestExpired)
	if n.Request.ID != r.ID || n.Request.State != store.RequestExpired {
		t.Fatalf("expired notice: %+v", n.Request)
	}
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); !errors.Is(err, access.ErrAlreadyDecided) {
		t.Fatalf("approve after timeout: %v", err)
	}
}

func TestOverlappingGrantsKeepAccess(t *testing.T) {
	h := newHarness(t)
	first := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), first.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	h.await(t, access.NoticeGranted)
	h.clock.Advance(30 * time.Minute)
	second := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), second.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	h.await(t, access.NoticeGranted)

	h.clock.Advance(30 * time.Minute) // the first grant ends
	h.await(t, access.NoticeRevoked)
	if !h.mem.holds("dave/app_readonly") {
		t.Fatal("first expiry took away access the second grant covers")
	}
	h.clock.Advance(30 * time.Minute) // the second ends
	h.await(t, access.NoticeRevoked)
	if h.mem.holds("dave/app_readonly") {
		t.Fatal("access held after the last covering grant ended")
	}
}

func TestReleaseByHolderAndRefusedToOthers(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	g := h.await(t, access.NoticeGranted).Grant
	if _, err := h.svc.Release(context.Background(), g.ID, "UOTHER"); !errors.Is(err, access.ErrNotAllowed) {
		t.Fatalf("release by a stranger: %v", err)
	}
	got, err := h.svc.Release(context.Background(), g.ID, "UREQ")
	if err != nil || got.State != store.GrantRevoked || got.EndReason != store.EndReleased {
		t.Fatalf("release: %v %+v", err, got)
	}
	if h.mem.holds("dave/app_readonly") {
		t.Fatal("access held after release")
	}
}

func TestAutoApprovalAndBreakGlass(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "quick", 20*time.Minute)
	if !r.AutoApproved || r.State != store.RequestApproved {
		t.Fatalf("auto approval: %+v", r)
	}
	h.await(t, access.NoticeGranted)

	bg, err := h.svc.Submit(context.Background(), access.SubmitInput{User: "UREQ",
		Resource: "prod-db", Role: "admin", Duration: 4 * time.Hour,
		Reason: "INC-7 database down", BreakGlass: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bg.BreakGlass || bg.Duration != 30*time.Minute {
		t.Fatalf("break-glass request: %+v", bg)
	}
	h.await(t, access.NoticeBreakGlass)
	g := h.await(t, access.NoticeGranted).Grant
	if _, err := h.svc.Acknowledge(context.Background(), g.ID, "UREQ"); !errors.Is(err, access.ErrNotAllowed) {
		t.Fatalf("ack by the holder: %v", err)
	}
	acked, err := h.svc.Acknowledge(context.Background(), g.ID, "UADMIN")
	if err != nil || acked.AckedBy != "UADMIN" {
		t.Fatalf("ack: %v %+v", err, acked)
	}
}

func TestInvalidRequestStoresNothing(t *testing.T) {
	h := newHarness(t)
	_, err := h.svc.Submit(context.Background(), access.SubmitInput{User: "UREQ",
		Resource: "prod-db", Role: "readonly", Duration: 9 * time.Hour, Reason: "INC-1 x"})
	var inv *access.InvalidError
	if !errors.As(err, &inv) || inv.Problems[0].Field != "duration" {
		t.Fatalf("err = %v, want a duration problem", err)
	}
	if got := h.events(t); len(got) != 0 {
		t.Fatalf("audit has %v after a refused request", got)
	}
}

func TestMineListsOldestRequestFirst(t *testing.T) {
	h := newHarness(t)
	var want []string
	for range 6 {
		want = append(want, h.submit(t, "readonly", time.Hour).ID)
		h.clock.Advance(time.Minute)
	}
	pending, _, err := h.svc.Mine(context.Background(), "UREQ")
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range pending {
		if r.ID != want[i] {
			t.Fatalf("pending[%d] = %s, want %s (oldest first)", i, r.ID, want[i])
		}
	}
}

func TestPendingRequestsAreCapped(t *testing.T) {
	h := newHarness(t)
	for range access.MaxPending {
		h.submit(t, "readonly", time.Hour)
	}
	_, err := h.svc.Submit(context.Background(), access.SubmitInput{User: "UREQ",
		Resource: "prod-db", Role: "readonly", Duration: time.Hour, Reason: "INC-42 outage"})
	var inv *access.InvalidError
	if !errors.As(err, &inv) || inv.Problems[0].Field != "requester" {
		t.Fatalf("request past the cap: err = %v, want a requester problem", err)
	}
	// Break-glass does not wait for anyone, so the cap does not apply.
	_, err = h.svc.Submit(context.Background(), access.SubmitInput{User: "UREQ",
		Resource: "prod-db", Role: "admin", Duration: time.Hour, Reason: "INC-43 outage",
		BreakGlass: true})
	if err != nil {
		t.Fatalf("break-glass past the cap: %v", err)
	}
	pending, _, _ := h.svc.Mine(context.Background(), "UREQ")
	if len(pending) != access.MaxPending {
		t.Fatalf("%d pending requests, want %d", len(pending), access.MaxPending)
	}
}
