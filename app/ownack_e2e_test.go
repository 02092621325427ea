package app_test

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/store"
)

// Both carol and bob are admins; carol breaks the glass herself.
const ownAckPolicy = `
admins: [U0CAROL, U0BOB]
defaults:
  approval_timeout: 2h
  min_duration: 5m
  reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
resources:
  prod-db:
    provider: mem
    roles:
      admin:
        target: app_admin
        channel: C0APPROVE
        approvers: [U0BOB]
        max_duration: 1h
        break_glass: {enabled: true, max_duration: 30m, channel: C0ROOM}
`

func TestAdminCannotAcknowledgeOwnBreakGlass(t *testing.T) {
	e, trail := newPolicyE2E(t, ownAckPolicy)
	e.slash(carol, "breakglass prod-db admin 2m INC-1 primary database refuses writes")
	e.wait("carol told the duration is too short",
		e.ephemeralWith(carol, "2m is shorter than the minimum of 5m"))

	e.slash(carol, "breakglass prod-db admin 20m INC-1 primary database refuses writes")
	e.wait("the grant without approval", func() bool { return e.mem.holds("carol/app_admin") })
	e.wait("the security alert", polMessageWith(e, room, "Break-glass:"))
	alert, _ := polFind(e.srv.Messages(room), "Break-glass:")
	used := trail.ofType(store.EvBreakGlassUsed)
	if len(used) != 1 || used[0].GrantID == "" {
		t.Fatalf("audit break-glass events %+v, want one with its grant", used)
	}

	const phrase = "Another admin must acknowledge your own break-glass grant."
	e.click(carol, alert, "jit_ack")
	e.wait("carol refused on the button", e.ephemeralWith(carol, phrase))
	e.slash(carol, "ack "+used[0].GrantID)
	e.wait("carol refused on the command", func() bool {
		n := 0
		for _, m := range e.srv.Ephemerals(carol) {
			n += strings.Count(m.Text, phrase)
		}
		return n == 2
	})
	if a := e.message(alert); a.Updated != 0 || len(trail.ofType(store.EvBreakGlassAcked)) != 0 {
		t.Fatalf("carol acknowledged her own grant: %s", polText(a))
	}

	e.click(bob, alert, "jit_ack")
	e.wait("the alert to say bob acknowledged", func() bool {
		return strings.Contains(polText(e.message(alert)), "Acknowledged by <@"+bob+">")
	})
	if acks := trail.ofType(store.EvBreakGlassAcked); len(acks) != 1 || acks[0].Actor != bob {
		t.Fatalf("audit acknowledgements %+v, want one by bob", acks)
	}
}
