// Package grantstest holds the contract every grants.Provider must meet,
// written once and run by each provider's own tests against a real or
// emulated backend.
package grantstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jitbot/jitbot/grants"
)

// Harness is one provider under test together with its backend.
type Harness struct {
	// Provider is the provider under test.
	Provider grants.Provider
	// Held reports, from the backend itself, whether g's access is held.
	Held func(g grants.Grant) bool
	// Grant returns a fresh valid grant, never granted before.
	Grant func() grants.Grant
	// Slow, when set, makes the backend hang (on) or answer again (off),
	// for the deadline test. Nil skips that test.
	Slow func(on bool)
}

// Prompt bounds how long a call with a cancelled or expired context may
// take to return.
const Prompt = 5 * time.Second

// deadline is the context deadline used against a slow backend.
const deadline = 300 * time.Millisecond

// Contract runs the provider contract as subtests. newProvider is called
// once per subtest and should register its own cleanup with t.Cleanup.
func Contract(t *testing.T, newProvider func(t *testing.T) Harness) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, h Harness)
	}{
		{"grant then held", grantThenHeld},
		{"grant twice is idempotent", grantTwice},
		{"revoke then not held", revokeThenNotHeld},
		{"revoke twice is idempotent", revokeTwice},
		{"revoke never granted succeeds", revokeNeverGranted},
		{"grants are independent", independent},
		{"cancelled context changes nothing", cancelled},
		{"deadline passes while backend is slow", slowDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newProvider(t))
		})
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// expectHeld checks the backend's ground truth and, when the provider can
// tell, that the provider agrees with it.
func expectHeld(t *testing.T, h Harness, g grants.Grant, want bool) {
	t.Helper()
	if got := h.Held(g); got != want {
		t.Fatalf("backend says held=%v for grant %s, want %v", got, g.ID, want)
	}
	checker, ok := h.Provider.(grants.Checker)
	if !ok {
		return
	}
	got, err := checker.Held(testCtx(t), g)
	if err != nil {
		t.Fatalf("Held(%s) = %v", g.ID, err)
	}
	if got != want {
		t.Fatalf("provider says held=%v for grant %s, want %v", got, g.ID, want)
	}
}

func mustGrant(t *testing.T, h Harness, g grants.Grant) {
	t.Helper()
	if err := h.Provider.Grant(testCtx(t), g); err != nil {
		t.Fatalf("Grant(%s) = %v", g.ID, err)
	}
}

func mustRevoke(t *testing.T, h Harness, g grants.Grant) {
	t.Helper()
	if err := h.Provider.Revoke(testCtx(t), g); err != nil {
		t.Fatalf("Revoke(%s) = %v", g.ID, err)
	}
}

func grantThenHeld(t *testing.T, h Harness) {
	g := h.Grant()
	expectHeld(t, h, g, false)
	mustGrant(t, h, g)
	expectHeld(t, h, g, true)
}

func grantTwice(t *testing.T, h Harness) {
	g := h.Grant()
	mustGrant(t, h, g)
	mustGrant(t, h, g)
	expectHeld(t, h, g, true)

	// One revoke must undo both grants: access is held or not, not counted.
	mustRevoke(t, h, g)
	expectHeld(t, h, g, false)
}

func revokeThenNotHeld(t *testing.T, h Harness) {
	g := h.Grant()
	mustGrant(t, h, g)
	mustRevoke(t, h, g)
	expectHeld(t, h, g, false)
}

func revokeTwice(t *testing.T, h Harness) {
	g := h.Grant()
	mustGrant(t, h, g)
	mustRevoke(t, h, g)
	mustRevoke(t, h, g)
	expectHeld(t, h, g, false)
}

func revokeNeverGranted(t *testing.T, h Harness) {
	g := h.Grant()
	mustRevoke(t, h, g)
	expectHeld(t, h, g, false)
}

func independent(t *testing.T, h Harness) {
	a, b := h.Grant(), h.Grant()
	mustGrant(t, h, a)
	mustGrant(t, h, b)
	mustRevoke(t, h, a)
	expectHeld(t, h, a, false)
	expectHeld(t, h, b, true)
}

func cancelled(t *testing.T, h Harness) {
	g := h.Grant()
	c, cancel := context.WithCancel(t.Context())
	cancel()

	start := time.Now()
	err := h.Provider.Grant(c, g)
	if err == nil {
		t.Fatalf("Grant with a cancelled context = nil, want an error")
	}
	if took := time.Since(start); took > Prompt {
		t.Errorf("Grant with a cancelled context took %s, want under %s", took, Prompt)
	}
	expectHeld(t, h, g, false)

	// The revoke side must refuse too, leaving a held grant in place.
	mustGrant(t, h, g)
	if err := h.Provider.Revoke(c, g); err == nil {
		t.Fatalf("Revoke with a cancelled context = nil, want an error")
	}
	expectHeld(t, h, g, true)
}

func slowDeadline(t *testing.T, h Harness) {
	if h.Slow == nil {
		t.Skip("harness cannot make its backend slow")
	}
	g := h.Grant()
	h.Slow(true)
	t.Cleanup(func() { h.Slow(false) })

	c, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	start := time.Now()
	err := h.Provider.Grant(c, g)
	took := time.Since(start)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Grant against a slow backend = %v, want context.DeadlineExceeded", err)
	}
	if took > deadline+Prompt {
		t.Errorf("Grant returned %s after its deadline, want under %s", took-deadline, Prompt)
	}

	// The backend recovers and the same grant then goes through.
	h.Slow(false)
	mustGrant(t, h, g)
	expectHeld(t, h, g, true)
}
