package access_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/review"
	"github.com/jitbot/jitbot/store"
)

// TestGrantEventsNameTheHolder has a revoke fail once and succeed late, and
// checks that every grant event names the holder, so that a review reading
// only the end of the trail still knows whose grant it was.
func TestGrantEventsNameTheHolder(t *testing.T) {
	h := newHarness(t)
	r := h.submit(t, "readonly", time.Hour)
	if _, err := h.svc.Decide(context.Background(), r.ID, "UAPP1", true); err != nil {
		t.Fatal(err)
	}
	h.await(t, access.NoticeGranted)
	start := h.clock.Now()
	h.mem.setFailing(errors.New("connection refused"))
	h.clock.Advance(time.Hour)
	h.await(t, access.NoticeRevokeFailed)
	h.mem.setFailing(nil)
	h.clock.Advance(2 * time.Minute)
	h.await(t, access.NoticeRevoked)

	seen := map[store.EventType]string{}
	err := h.db.Events(time.Time{}, time.Time{}, func(e store.Event) error {
		if e.GrantID != "" && e.Type != store.EvRequestApproved {
			seen[e.Type] = e.Details["user"]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []store.EventType{store.EvGrantCreated,
		store.EvGrantRevokeFailed, store.EvGrantRevoked} {
		if _, ok := seen[typ]; !ok {
			t.Errorf("no %s in the trail: %v", typ, seen)
		}
	}
	for typ, user := range seen {
		if user != "UREQ" {
			t.Errorf("%s names holder %q, want UREQ", typ, user)
		}
	}

	// A review from half an hour into the grant, reading a minute back,
	// sees neither the request nor the grant's creation.
	from := start.Add(30 * time.Minute)
	rep, err := review.AnalyzeWith(h.db, nil, from, h.clock.Now().Add(time.Second),
		review.Options{Lookback: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.FailedRevokes) != 1 || rep.FailedRevokes[0].User != "UREQ" ||
		len(rep.LateRevocations) != 1 || rep.LateRevocations[0].User != "UREQ" {
		t.Errorf("review names failed %+v and late %+v, want UREQ's grant",
			rep.FailedRevokes, rep.LateRevocations)
	}
}
