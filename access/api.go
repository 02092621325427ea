package access

import (
	"context"
	"errors"
	"time"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// NoticeKind says what happened, so a Notifier can pick its words.
type NoticeKind string

// The notices the core sends. Each goes out only after the transition it
// reports is stored. NoticeRevokeRecovered resolves a revoke_failed alert:
// a revoke that had failed (Grant.Attempts > 0) finally took.
const (
	NoticeSubmitted       NoticeKind = "submitted"        // to the requester
	NoticeAutoApproved    NoticeKind = "auto_approved"    // channel, for visibility
	NoticeGranted         NoticeKind = "granted"          // thread + DM
	NoticeGrantFailed     NoticeKind = "grant_failed"     // thread + DM + admin channel
	NoticeDenied          NoticeKind = "denied"           // DM
	NoticeRequestExpired  NoticeKind = "request_expired"  // DM
	NoticeCancelled       NoticeKind = "cancelled"        // thread
	NoticeExpiringSoon    NoticeKind = "expiring_soon"    // thread + DM with buttons
	NoticeRevoked         NoticeKind = "revoked"          // thread + DM
	NoticeRevokeFailed    NoticeKind = "revoke_failed"    // approval channel, loudly
	NoticeRevokeRecovered NoticeKind = "revoke_recovered" // where revoke_failed went
	NoticeReminder        NoticeKind = "reminder"         // thread, mentions approvers
	NoticeEscalated       NoticeKind = "escalated"        // thread, mentions backups
	NoticeBreakGlass      NoticeKind = "break_glass"      // security channel alert
	NoticeBreakGlassAck   NoticeKind = "break_glass_ack"  // thread
	NoticePolicyRejected  NoticeKind = "policy_rejected"  // admin channel
)

// Notice is one message-worthy change. Request is always set for request
// and grant notices; Grant is set for grant notices.
type Notice struct {
	Kind    NoticeKind
	Request store.Request
	Grant   store.Grant
	Rules   policy.Rules
	// Mentions lists whom a reminder or escalation addresses, as the
	// policy names them: Slack user ids, user group ids (S…) or emails.
	Mentions []string
	// Text carries a short, user-safe detail (never raw provider output).
	Text string
}

// Notifier tells people what happened. It is implemented by the Slack bot.
// Every call has a deadline in ctx; an error is logged and retried by the
// caller where the notice matters, never allowed to undo a stored state.
type Notifier interface {
	// PostApproval posts the approval message for a new request and returns
	// where it went.
	PostApproval(ctx context.Context, req store.Request, rules policy.Rules) (store.MessageRef, error)
	// UpdateApproval re-renders the approval message in place: the count of
	// approvals while pending, the outcome and decider once final.
	UpdateApproval(ctx context.Context, req store.Request, rules policy.Rules) error
	// Notify sends the notice to whoever it concerns.
	Notify(ctx context.Context, n Notice) error
}

// Warner is implemented by a Notifier that can withdraw the buttons of an
// expiry warning once they no longer apply. When the Notifier is a Warner,
// the core sends expiry warnings through Warn, stores where the holder's
// copy went (Grant.Warning) and calls EndWarning when the grant has ended.
type Warner interface {
	// Warn sends an expiring-soon notice as Notify would and returns where
	// the holder's copy, the one with buttons, went. The MessageRef is zero
	// when that copy was not posted; it may be set along with an error when
	// another destination failed.
	Warn(ctx context.Context, n Notice) (store.MessageRef, error)
	// EndWarning re-renders the warning at g.Warning without its buttons,
	// saying how the grant ended. It does nothing when g.Warning is zero.
	EndWarning(ctx context.Context, g store.Grant) error
}

// SubmitInput is a request as a person typed it.
type SubmitInput struct {
	User     string
	Resource string
	Role     string
	// Duration zero means the role's default.
	Duration     time.Duration
	Reason       string
	BreakGlass   bool
	ExtendsGrant string
}

// Sentinel errors the bot turns into fixed, helpful phrases.
var (
	ErrNotFound       = errors.New("no such request or grant")
	ErrNotAllowed     = errors.New("not allowed")
	ErrSelfApproval   = errors.New("requesters cannot decide their own request")
	ErrNotApprover    = errors.New("not an approver of this role")
	ErrAlreadyDecided = errors.New("already decided")
	ErrAlreadyVoted   = errors.New("already approved by this approver")
	ErrNoEmail        = errors.New("requester has no email address")
	ErrNotActive      = errors.New("grant is not active")
	// ErrOwnGrant refuses an admin's acknowledgement of their own
	// break-glass grant: the review after the fact must be someone else's.
	ErrOwnGrant = errors.New("cannot acknowledge one's own break-glass grant")
)

// InvalidError is a request the policy refused; Problems say why, each with
// the field it concerns. Nothing was stored.
type InvalidError struct {
	Problems []policy.Problem
}

func (e *InvalidError) Error() string {
	if len(e.Problems) == 0 {
		return "request refused"
	}
	return "request refused: " + e.Problems[0].Field + ": " + e.Problems[0].Message
}
