package access_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// warningEnded is what warner records when the core withdraws the buttons
// of an expiry warning.
const warningEnded access.NoticeKind = "test_warning_ended"

// warner is a Notifier that says where each expiry warning went, as the
// Slack bot does. onWarn, when set, runs before Warn returns.
type warner struct {
	notices chan access.Notice
	onWarn  func(access.Notice)
}

func (w *warner) PostApproval(context.Context, store.Request, policy.Rules) (
	store.MessageRef, error,
) {
	return store.MessageRef{Channel: "CAPPROVE", TS: "1.0001"}, nil
}

func (w *warner) UpdateApproval(context.Context, store.Request, policy.Rules) error {
	return nil
}

func (w *warner) Notify(_ context.Context, n access.Notice) error {
	w.notices <- n
	return nil
}

func (w *warner) Warn(ctx context.Context, n access.Notice) (store.MessageRef, error) {
	_ = w.Notify(ctx, n)
	if w.onWarn != nil {
		w.onWarn(n)
	}
	return warningRef(n.Grant.ID), nil
}

func (w *warner) EndWarning(_ context.Context, g store.Grant) error {
	w.notices <- access.Notice{Kind: warningEnded, Grant: g}
	return nil
}

func warningRef(grantID string) store.MessageRef {
	return store.MessageRef{Channel: "DREQ", TS: "9." + grantID}
}

type warnHarness struct {
	svc   *access.Service
	db    *store.DB
	mem   *memProvider
	clock *clockwork.FakeClock
	notes *warner
}

func newWarnHarness(t *testing.T, onWarn func(*warnHarness, access.Notice)) *warnHarness {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	h := &warnHarness{
		db:    db,
		mem:   newMem(),
		clock: clockwork.NewFakeClockAt(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)),
		notes: &warner{notices: make(chan access.Notice, 100)},
	}
	if onWarn != nil {
		h.notes.onWarn = func(n access.Notice) { onWarn(h, n) }
	}
	h.svc, err = access.New(access.Config{
		Store:  db,
		Policy: func() *policy.Policy { return pol },
		Directory: directory{emails: map[string]string{
			"UREQ": "dave@example.com", "UAPP1": "a1@example.com",
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
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = db.Close()
	})
	return h
}

// granted has UREQ's request for an hour of readonly approved and returns
// the active grant.
func (h *warnHarness) granted(t *testing.T) store.Grant {
	t.Helper()
	r, err := h.svc.Submit(context.Background(), access.SubmitInput{
		User: "UREQ", Resource: "prod-db", Role: "readonly", Duration: time.Hour,
		Reason: "INC-42 outage",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	return h.await(t, access.NoticeGranted).Grant
}

// await returns the next notice of kind, skipping others.
func (h *warnHarness) await(t *testing.T, kind access.NoticeKind) access.Notice {
	t.Helper()
	n, _ := h.awaitAfter(t, kind)
	return n
}

// awaitAfter returns the next notice of kind and the kinds it skipped.
func (h *warnHarness) awaitAfter(
	t *testing.T,
	kind access.NoticeKind,
) (access.Notice, []access.NoticeKind) {
	t.Helper()
	var skipped []access.NoticeKind
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-h.notes.notices:
			if n.Kind == kind {
				return n, skipped
			}
			skipped = append(skipped, n.Kind)
		case <-timeout:
			t.Fatalf("no %s notice; saw %v", kind, skipped)
		}
	}
}

func (h *warnHarness) stored(t *testing.T, id string) store.Grant {
	t.Helper()
	var g store.Grant
	err := h.db.View(func(tx *store.Tx) error {
		var err error
		g, err = tx.Grant(id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestExpiryWarningIsWithdrawnWhenTheGrantEnds(t *testing.T) {
	h := newWarnHarness(t, nil)
	g := h.granted(t)

	h.clock.Advance(50 * time.Minute)
	h.await(t, access.NoticeExpiringSoon)
	// The reference is stored after the warning goes out; wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for !h.stored(t, g.ID).Warning.Posted() {
		if time.Now().After(deadline) {
			t.Fatal("where the warning went was never stored")
		}
		time.Sleep(5 * time.Millisecond)
	}

	h.clock.Advance(10 * time.Minute)
	ended, skipped := h.awaitAfter(t, warningEnded)
	if ended.Grant.State != store.GrantRevoked || ended.Grant.Warning != warningRef(g.ID) ||
		ended.Grant.EndReason != store.EndExpired {
		t.Fatalf("warning withdrawn for %s grant (%s) at %+v", ended.Grant.State,
			ended.Grant.EndReason, ended.Grant.Warning)
	}
	for _, k := range skipped {
		if k == access.NoticeRevokeRecovered {
			t.Fatal("a revoke that never failed announced a recovery")
		}
	}
}

func TestWarningOfAGrantEndedMeanwhileIsWithdrawnAtOnce(t *testing.T) {
	// The holder releases the grant while the warning is on its way.
	h := newWarnHarness(t, func(h *warnHarness, n access.Notice) {
		if _, err := h.svc.Release(context.Background(), n.Grant.ID, "UREQ"); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	g := h.granted(t)

	h.clock.Advance(50 * time.Minute)
	ended := h.await(t, warningEnded)
	if ended.Grant.Warning != warningRef(g.ID) || ended.Grant.EndReason != store.EndReleased {
		t.Fatalf("withdrawn warning %+v of a grant ended by %s", ended.Grant.Warning,
			ended.Grant.EndReason)
	}
	if h.stored(t, g.ID).State != store.GrantRevoked || h.mem.holds("dave/app_readonly") {
		t.Fatal("the released grant is not revoked")
	}
}

func TestRecoveredRevokeResolvesTheAlert(t *testing.T) {
	h := newWarnHarness(t, nil)
	g := h.granted(t)
	h.mem.setFailing(errors.New("connection refused"))
	if _, err := h.svc.Release(context.Background(), g.ID, "UREQ"); err == nil {
		t.Fatal("release reported success while the provider fails")
	}
	h.await(t, access.NoticeRevokeFailed)

	h.mem.setFailing(nil)
	h.clock.Advance(time.Minute)
	revoked := h.await(t, access.NoticeRevoked)
	recovered := h.await(t, access.NoticeRevokeRecovered)
	if recovered.Grant.ID != g.ID || recovered.Grant.Attempts != 1 ||
		recovered.Grant.State != store.GrantRevoked || recovered.Request.ID == "" {
		t.Fatalf("recovery notice: %+v", recovered.Grant)
	}
	if revoked.Grant.State != store.GrantRevoked || h.mem.holds("dave/app_readonly") {
		t.Fatal("access held after the recovered revoke")
	}
}
