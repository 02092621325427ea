package app_test

import (
	"regexp"
	"strings"
	"testing"
)

var requestID = regexp.MustCompile("`(r_[a-z0-9]+)`")

func TestCancelOwnRequestOnly(t *testing.T) {
	e := newE2E(t)
	msg := e.request("1h")
	e.wait("alice told her request was submitted", func() bool { return len(e.srv.DMs(alice)) > 0 })
	m := requestID.FindStringSubmatch(readable(msg.Text, msg.Blocks))
	if m == nil {
		t.Fatalf("approval message shows no request id: %s", msg.Blocks)
	}
	id := m[1]

	e.slash(mallory, "cancel "+id)
	e.wait("mallory refused", func() bool { return len(e.srv.Ephemerals(mallory)) > 0 })
	if cur := e.message(msg); !hasButtons(cur) {
		t.Fatal("someone else's cancel closed the request")
	}

	e.slash(alice, "cancel "+id)
	e.wait("the message to say it was cancelled", func() bool {
		cur := e.message(msg)
		return !hasButtons(cur) &&
			strings.Contains(strings.ToLower(readable(cur.Text, cur.Blocks)), "cancel")
	})
	e.slash(alice, "cancel "+id)
	e.wait("a second cancel answered", e.ephemeralWith(alice, "already"))
	if e.mem.grantCalls() != 0 {
		t.Fatal("a cancelled request reached the provider")
	}
}

func TestRequesterWithoutEmailCannotRequest(t *testing.T) {
	e := newE2E(t)
	e.slash(dave, "request prod-db readonly 1h INC-42 orders are failing")
	e.wait("dave's answer", e.ephemeralWith(dave, "email"))
	if n := len(e.srv.Messages(approval)); n != 0 {
		t.Fatalf("%d approval messages for a requester without an email", n)
	}
}
