// Package grants defines how jitbot hands out and takes back access: the
// Provider interface that every backend implements, the typed error they
// return, and the Registry that builds configured providers by type name.
// Built-in providers live in sub-packages; see grants/builtin for the map.
package grants

import (
	"context"
	"errors"
	"time"
)

// Grant is what a provider needs to know to give or take back one role.
type Grant struct {
	// ID is jitbot's grant id, stable across retries.
	ID string `json:"grant_id"`
	// RequestID is the request that led to the grant.
	RequestID string `json:"request_id"`
	// User is the requester's Slack user id.
	User string `json:"user"`
	// Email is the requester's email, when known.
	Email string `json:"email,omitempty"`
	// Principal is the identity at the provider, such as a database login.
	Principal string `json:"principal"`
	// Resource and Role are the policy names of what is granted.
	Resource string `json:"resource"`
	Role     string `json:"role"`
	// Target is the provider-side name of the role.
	Target string `json:"target"`
	// ExpiresAt is when jitbot will revoke the grant. Providers that can set
	// a server-side end use it as a second line of defence.
	ExpiresAt time.Time `json:"expires_at"`
}

// Provider gives and takes back access on one backend.
//
// Both calls must be idempotent: granting what is already held and revoking
// what is not held succeed. Both must honour the context's deadline and
// cancellation. Implementations are safe for concurrent use.
type Provider interface {
	Grant(ctx context.Context, g Grant) error
	Revoke(ctx context.Context, g Grant) error
}

// Checker is implemented by providers that can tell whether a grant's access
// is really held, so a revoke can be verified.
type Checker interface {
	Held(ctx context.Context, g Grant) (bool, error)
}

// Member is one holder of a provider-side role, as seen by the backend.
type Member struct {
	Principal string `json:"principal"`
	Target    string `json:"target"`
}

// Lister is implemented by providers that can list who holds the roles they
// manage, so drift can be found (see jitbot grants reconcile).
type Lister interface {
	Members(ctx context.Context, targets []string) ([]Member, error)
}

// Pinger is implemented by providers that can check their backend without
// changing anything: that it answers, and that jitbot's account there may
// grant and revoke targets (the provider-side roles the policy grants
// through this provider) and do whatever else the settings ask of it.
// jitbot check-config --connect and jitbot run at start use it. A nil error
// means every check passed; otherwise each failed check is one line of the
// error's text.
type Pinger interface {
	Ping(ctx context.Context, targets []string) error
}

// ErrPermanent marks a failure that retrying will not fix (a role that does
// not exist, a 4xx answer). Test for it with errors.Is.
var ErrPermanent = errors.New("permanent failure")

// Error is a failed provider call. Detail carries what the backend said
// (stderr, a response body); it is for logs and operators, never for Slack.
type Error struct {
	Op        string // "grant", "revoke", "check"
	Provider  string
	GrantID   string
	Permanent bool
	Detail    string
	Err       error
}

func (e *Error) Error() string {
	msg := e.Op
	if e.GrantID != "" {
		msg += " " + e.GrantID
	}
	msg += " on " + e.Provider
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPermanent) true for permanent failures.
func (e *Error) Is(target error) bool { return target == ErrPermanent && e.Permanent }
