package access_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/store"
)

// An admin who breaks the glass cannot review their own emergency access;
// another admin must, and only that acknowledgement is recorded.
func TestAdminCannotAcknowledgeOwnBreakGlass(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	_, err := h.svc.Submit(ctx, access.SubmitInput{User: "UADMIN", Resource: "prod-db",
		Role: "admin", Duration: 20 * time.Minute, Reason: "INC-9 primary is down",
		BreakGlass: true})
	if err != nil {
		t.Fatal(err)
	}
	g := h.await(t, access.NoticeGranted).Grant

	got, err := h.svc.Acknowledge(ctx, g.ID, "UADMIN")
	if !errors.Is(err, access.ErrOwnGrant) {
		t.Fatalf("ack by the holder = %v, want ErrOwnGrant", err)
	}
	if got.AckedBy != "" || slices.Contains(h.events(t), store.EvBreakGlassAcked) {
		t.Fatalf("the holder's own ack was recorded: %+v", got)
	}

	acked, err := h.svc.Acknowledge(ctx, g.ID, "UADMIN2")
	if err != nil || acked.AckedBy != "UADMIN2" {
		t.Fatalf("ack by another admin: %v %+v", err, acked)
	}
	if n := h.await(t, access.NoticeBreakGlassAck); n.Grant.AckedBy != "UADMIN2" {
		t.Fatalf("ack notice names %q", n.Grant.AckedBy)
	}
}
