package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/store"
)

func TestApprovedByNamesEveryApprover(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	vote := func(user string, approve bool) store.Decision {
		return store.Decision{User: user, Approve: approve, At: at}
	}
	tests := []struct {
		name      string
		decisions []store.Decision
		decidedBy string
		want      string
	}{
		{"one approver", []store.Decision{vote("U2", true)}, "U2", "<@U2>"},
		{"two approvers", []store.Decision{vote("U2", true), vote("U3", true)}, "U3",
			"<@U2> and <@U3>"},
		{"three approvers", []store.Decision{vote("U2", true), vote("U3", true),
			vote("U4", true)}, "U4", "<@U2>, <@U3> and <@U4>"},
		{"votes not stored", nil, "U3", "<@U3>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := sampleRequest()
			req.State, req.DecidedBy, req.DecidedAt = store.RequestApproved, tc.decidedBy, at
			req.Decisions = tc.decisions
			status := approvalStatus(req)
			if !strings.HasPrefix(status, "✅ Approved by "+tc.want+" at ") {
				t.Fatalf("status %q does not name %s", status, tc.want)
			}
		})
	}
}

func TestGrantFailureDMSaysWhoWasTold(t *testing.T) {
	n := access.Notice{Kind: access.NoticeGrantFailed, Request: sampleRequest(),
		Grant: store.Grant{ID: "g_1"}, Text: "the provider call failed"}
	if got := grantFailedDM(n, true).Text; !strings.Contains(got, "operators have been told") {
		t.Errorf("with an admin channel: %q", got)
	}
	if got := grantFailedDM(n, false).Text; !strings.Contains(got, "approvers have been told") ||
		strings.Contains(got, "operator") {
		t.Errorf("without an admin channel: %q", got)
	}
}

func TestEndedWarningDropsButtons(t *testing.T) {
	ended := time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC)
	g := store.Grant{ID: "g_7", User: "U1", Resource: "orders-db", Role: "read",
		ExpiresAt: ended, EndedAt: ended, EndReason: store.EndReleased, EndedBy: "U1"}
	tests := []struct {
		name  string
		state store.GrantState
		want  string
	}{
		{"revoked", store.GrantRevoked, "This access has ended (released by <@U1>) at"},
		{"revoke under way", store.GrantRevoking, "This access is being taken back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.State = tc.state
			m := endedWarning(g)
			raw := checkBlocks(t, m.Blocks, maxMsgBlocks)
			for _, gone := range []string{actRelease, actExtend} {
				if strings.Contains(raw, gone) {
					t.Errorf("ended warning still offers %s:\n%s", gone, raw)
				}
			}
			if !strings.Contains(raw, tc.want) || !strings.Contains(raw, "`g_7`") {
				t.Errorf("ended warning lacks %q or the grant id:\n%s", tc.want, raw)
			}
		})
	}
}
