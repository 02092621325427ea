package store

import (
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound means the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the record exists already, or is not in the state
	// the caller expected; the transaction that got it was rolled back.
	ErrConflict = errors.New("conflict")
)

// RequestState is where an access request stands.
type RequestState string

// The states of a request. Pending is the only state a decision can leave;
// every other state is final.
const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestExpired   RequestState = "expired"
	RequestCancelled RequestState = "cancelled"
)

// Final reports whether no further decision can change the request.
func (s RequestState) Final() bool { return s != RequestPending }

// MessageRef locates a Slack message so it can be updated or replied to
// after a restart. The zero value means "not posted".
type MessageRef struct {
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
}

// Posted reports whether the reference points at a message.
func (m MessageRef) Posted() bool { return m.Channel != "" && m.TS != "" }

// Decision is one approver's vote on a request.
type Decision struct {
	User    string    `json:"user"`
	Approve bool      `json:"approve"`
	At      time.Time `json:"at"`
}

// Request is one ask for a role on a resource, from submission to decision.
type Request struct {
	ID             string        `json:"id"`
	Requester      string        `json:"requester"`
	RequesterEmail string        `json:"requester_email,omitempty"`
	Resource       string        `json:"resource"`
	Role           string        `json:"role"`
	Duration       time.Duration `json:"duration"`
	Reason         string        `json:"reason"`
	State          RequestState  `json:"state"`
	CreatedAt      time.Time     `json:"created_at"`
	// ExpiresAt is when a still pending request times out.
	ExpiresAt time.Time `json:"expires_at"`
	DecidedAt time.Time `json:"decided_at,omitempty"`
	// DecidedBy is the approver whose vote closed the request, "policy" for an
	// auto-approval, or "jitbot" for a timeout.
	DecidedBy string     `json:"decided_by,omitempty"`
	Decisions []Decision `json:"decisions,omitempty"`
	// ApprovalsRequired is the number of distinct approvals the rules ask for.
	ApprovalsRequired int    `json:"approvals_required"`
	AutoApproved      bool   `json:"auto_approved,omitempty"`
	AutoRule          string `json:"auto_rule,omitempty"`
	BreakGlass        bool   `json:"break_glass,omitempty"`
	// ExtendsGrant names the grant this request would extend, if any.
	ExtendsGrant string `json:"extends_grant,omitempty"`
	// Rules is the policy role as it stood when the request was made,
	// serialized by the policy package. The request keeps these rules even
	// after the policy changes.
	Rules         json.RawMessage `json:"rules,omitempty"`
	PolicyVersion string          `json:"policy_version,omitempty"`
	Message       MessageRef      `json:"message"`
	GrantID       string          `json:"grant_id,omitempty"`
	Reminders     int             `json:"reminders,omitempty"`
	RemindedAt    time.Time       `json:"reminded_at,omitempty"`
	Escalated     bool            `json:"escalated,omitempty"`
}

// Approvals returns the distinct users who approved.
func (r Request) Approvals() []string {
	var out []string
	for _, d := range r.Decisions {
		if d.Approve {
			out = append(out, d.User)
		}
	}
	return out
}

// GrantState is where a grant stands.
type GrantState string

// The states of a grant. Granting and Active hold access or may; Revoking
// means a revoke is due and not yet confirmed (it is retried until it
// succeeds); Failed and Revoked are final.
const (
	GrantGranting GrantState = "granting"
	GrantActive   GrantState = "active"
	GrantRevoking GrantState = "revoking"
	GrantFailed   GrantState = "failed"
	GrantRevoked  GrantState = "revoked"
)

// Live reports whether the grant may still hold access somewhere.
func (s GrantState) Live() bool {
	return s == GrantGranting || s == GrantActive || s == GrantRevoking
}

// Why a grant ended.
const (
	EndExpired  = "expired"
	EndReleased = "released"
	EndRevoked  = "revoked_by_admin"
)

// Grant is a role given to a person for a bounded time.
type Grant struct {
	ID        string `json:"id"`
	RequestID string `json:"request_id"`
	User      string `json:"user"`
	Email     string `json:"email,omitempty"`
	// Principal is the identity at the provider (a database login, say).
	Principal string `json:"principal"`
	Resource  string `json:"resource"`
	Role      string `json:"role"`
	// Provider is the name of the configured provider instance.
	Provider string `json:"provider"`
	// Target is the provider-side name of the role.
	Target    string     `json:"target"`
	State     GrantState `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	GrantedAt time.Time  `json:"granted_at,omitempty"`
	ExpiresAt time.Time  `json:"expires_at"`
	// WarnAt is when the holder is to be warned of the expiry; zero for no
	// warning. WarnedAt is when they were.
	WarnAt       time.Time `json:"warn_at,omitempty"`
	WarnedAt     time.Time `json:"warned_at,omitempty"`
	EndedAt      time.Time `json:"ended_at,omitempty"`
	EndReason    string    `json:"end_reason,omitempty"`
	EndedBy      string    `json:"ended_by,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	NextAttempt  time.Time `json:"next_attempt,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
	AutoApproved bool      `json:"auto_approved,omitempty"`
	BreakGlass   bool      `json:"break_glass,omitempty"`
	AckedBy      string    `json:"acked_by,omitempty"`
	AckedAt      time.Time `json:"acked_at,omitempty"`
	// Thread is the approval message; later notices are replies to it.
	Thread MessageRef `json:"thread"`
	// Warning is the holder's expiry warning, whose buttons are withdrawn
	// once the grant ends; zero when none was posted.
	Warning MessageRef `json:"warning,omitzero"`
}

// EventType names an audit event.
type EventType string

// The audit vocabulary: one event per transition.
const (
	EvRequestCreated    EventType = "request.created"
	EvRequestApproval   EventType = "request.approval" // one vote of N
	EvRequestApproved   EventType = "request.approved"
	EvRequestDenied     EventType = "request.denied"
	EvRequestAuto       EventType = "request.auto_approved"
	EvRequestExpired    EventType = "request.expired"
	EvRequestCancelled  EventType = "request.cancelled"
	EvRequestReminded   EventType = "request.reminded"
	EvRequestEscalated  EventType = "request.escalated"
	EvGrantCreated      EventType = "grant.created"
	EvGrantFailed       EventType = "grant.failed"
	EvGrantWarned       EventType = "grant.warned"
	EvGrantReleased     EventType = "grant.released"
	EvGrantRevoked      EventType = "grant.revoked"
	EvGrantRevokeFailed EventType = "grant.revoke_failed"
	EvBreakGlassUsed    EventType = "breakglass.used"
	EvBreakGlassAcked   EventType = "breakglass.acknowledged"
	EvPolicyChanged     EventType = "policy.changed"
	EvPolicyRejected    EventType = "policy.rejected"
	EvReconcileDrift    EventType = "reconcile.drift"
	EvReconcileRevoked  EventType = "reconcile.revoked"
)

// Event is one entry of the append-only audit trail. Seq, PrevHash and Hash
// are set by the store when the event is appended; callers fill the rest.
type Event struct {
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	Type      EventType         `json:"type"`
	Actor     string            `json:"actor,omitempty"`
	RequestID string            `json:"request_id,omitempty"`
	GrantID   string            `json:"grant_id,omitempty"`
	Resource  string            `json:"resource,omitempty"`
	Role      string            `json:"role,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	PrevHash  string            `json:"prev_hash"`
	Hash      string            `json:"hash"`
}
