package access_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// earlyClick is a Notifier on which an approver clicks while the approval
// message is still being posted: the decision is stored before jitbot has
// stored where the message went.
type earlyClick struct {
	*notifier
	decide  func(requestID string)
	decided chan struct{}
}

func (n *earlyClick) PostApproval(
	ctx context.Context, r store.Request, rules policy.Rules,
) (store.MessageRef, error) {
	go n.decide(r.ID)
	select {
	case <-n.decided:
	case <-time.After(10 * time.Second):
		return store.MessageRef{}, context.DeadlineExceeded
	}
	return n.notifier.PostApproval(ctx, r, rules)
}

func TestDecisionBeforeTheMessageIsStoredStillShows(t *testing.T) {
	for _, role := range []string{"admin", "readonly"} {
		t.Run(role, func(t *testing.T) { earlyDecision(t, role) })
	}
}

// earlyDecision approves a request of role (two approvals for admin, one
// for readonly) between the post of its message and the storing of where
// it went; the message and the grant's notices must still find it.
func earlyDecision(t *testing.T, role string) {
	decided := make(chan struct{})
	var once sync.Once
	db, err := store.Open(filepath.Join(t.TempDir(), "jitbot.db"), store.Options{
		OnAppend: func(e store.Event) {
			if e.Type == store.EvRequestApproval || e.Type == store.EvRequestApproved {
				once.Do(func() { close(decided) })
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	notes := &earlyClick{notifier: &notifier{notices: make(chan access.Notice, 100)},
		decided: decided}
	svc, err := access.New(access.Config{
		Store:  db,
		Policy: func() *policy.Policy { return pol },
		Directory: directory{emails: map[string]string{
			"UREQ": "dave@example.com", "UAPP1": "a1@example.com"}},
		Notifier:  notes,
		Providers: map[string]grants.Provider{"mem": newMem()},
		Log:       zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan struct{})
	notes.decide = func(id string) {
		defer close(done)
		if _, err := svc.Decide(ctx, id, "UAPP1", true); err != nil {
			t.Errorf("decide: %v", err)
		}
	}

	_, err = svc.Submit(ctx, access.SubmitInput{User: "UREQ", Resource: "prod-db",
		Role: role, Duration: 30 * time.Minute, Reason: "INC-42 outage"})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	notes.mu.Lock()
	updated := append([]store.Request(nil), notes.updated...)
	notes.mu.Unlock()
	if len(updated) == 0 {
		t.Fatal("approval message never updated after the early decision")
	}
	for _, got := range updated {
		if !got.Message.Posted() || len(got.Approvals()) != 1 {
			t.Fatalf("update shows %d approvals at %+v, want 1 at the posted message",
				len(got.Approvals()), got.Message)
		}
	}
	if role == "readonly" {
		for {
			n := <-notes.notices
			if n.Kind == access.NoticeGranted {
				if !n.Grant.Thread.Posted() {
					t.Fatal("granted notice has no thread to reply in")
				}
				return
			}
		}
	}
}
