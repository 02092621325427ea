package access_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// earlyClick is a Notifier on which an approver decides while the approval
// message is still being posted, before jitbot has stored where it went.
type earlyClick struct {
	*notifier
	decide func(requestID string)
}

func (n *earlyClick) PostApproval(
	ctx context.Context, r store.Request, rules policy.Rules,
) (store.MessageRef, error) {
	n.decide(r.ID)
	return n.notifier.PostApproval(ctx, r, rules)
}

func TestDecisionBeforeTheMessageIsStoredStillShows(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "jitbot.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	notes := &earlyClick{notifier: &notifier{notices: make(chan access.Notice, 100)}}
	svc, err := access.New(access.Config{
		Store:     db,
		Policy:    func() *policy.Policy { return pol },
		Directory: directory{emails: map[string]string{"UREQ": "dave@example.com"}},
		Notifier:  notes,
		Providers: map[string]grants.Provider{"mem": newMem()},
		Log:       zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	notes.decide = func(id string) {
		if _, err := svc.Decide(ctx, id, "UAPP1", true); err != nil {
			t.Errorf("decide: %v", err)
		}
	}

	_, err = svc.Submit(ctx, access.SubmitInput{User: "UREQ", Resource: "prod-db",
		Role: "admin", Duration: 30 * time.Minute, Reason: "INC-42 outage"})
	if err != nil {
		t.Fatal(err)
	}
	notes.mu.Lock()
	defer notes.mu.Unlock()
	if len(notes.updated) != 1 {
		t.Fatalf("approval message updated %d times, want once", len(notes.updated))
	}
	if got := notes.updated[0]; !got.Message.Posted() || len(got.Approvals()) != 1 {
		t.Fatalf("update shows %d approvals at %+v, want 1 at the posted message",
			len(got.Approvals()), got.Message)
	}
}
