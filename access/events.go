package access

import (
	"maps"
	"time"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

func requestEvent(
	t store.EventType,
	r store.Request,
	actor string,
	at time.Time,
	details map[string]string,
) store.Event {
	return store.Event{
		Time:      at,
		Type:      t,
		Actor:     actor,
		RequestID: r.ID,
		GrantID:   r.GrantID,
		Resource:  r.Resource,
		Role:      r.Role,
		Details:   details,
	}
}

// grantEvent records something that happened to g. Its details always name
// the holder ("user"), since the actor is often jitbot or an admin: a reader
// of the trail learns whose access it was from the event alone.
func grantEvent(
	t store.EventType,
	g store.Grant,
	actor string,
	at time.Time,
	details map[string]string,
) store.Event {
	d := make(map[string]string, len(details)+1)
	maps.Copy(d, details)
	d["user"] = g.User
	return store.Event{
		Time:      at,
		Type:      t,
		Actor:     actor,
		RequestID: g.RequestID,
		GrantID:   g.ID,
		Resource:  g.Resource,
		Role:      g.Role,
		Details:   d,
	}
}

func appendEvents(tx *store.Tx, evs ...store.Event) error {
	for _, e := range evs {
		if _, err := tx.Append(e); err != nil {
			return err
		}
	}
	return nil
}

// newGrant builds the grant an approved request leads to. Its expiry is set
// again when the provider confirms, so the holder gets the full duration.
func newGrant(r store.Request, rules policy.Rules, now time.Time) store.Grant {
	return store.Grant{
		ID:           newID("g"),
		RequestID:    r.ID,
		User:         r.Requester,
		Email:        r.RequesterEmail,
		Resource:     r.Resource,
		Role:         r.Role,
		Provider:     rules.Provider,
		Target:       rules.Target,
		State:        store.GrantGranting,
		CreatedAt:    now,
		ExpiresAt:    now.Add(r.Duration),
		AutoApproved: r.AutoApproved,
		BreakGlass:   r.BreakGlass,
		Thread:       r.Message,
	}
}
