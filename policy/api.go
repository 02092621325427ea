package policy

// This file fixes the surface the lifecycle core and the bot call. Bodies
// marked "skeleton" are to be replaced by the real model.

import (
	"context"
	"encoding/json"
	"time"
)

// Identity is a person as the policy sees them.
type Identity struct {
	UserID string `json:"user_id"`
	Email  string `json:"email,omitempty"`
}

// Directory answers the questions about people that only Slack can: who is
// in a user group, and what a user's email is. Implementations cache; they are
// safe for concurrent use.
type Directory interface {
	GroupMembers(ctx context.Context, groupID string) ([]string, error)
	Email(ctx context.Context, userID string) (string, error)
}

// Input is a request as the policy evaluates it.
type Input struct {
	Requester Identity
	Resource  string
	Role      string
	// Duration is what was asked for; zero means the role's default.
	Duration   time.Duration
	Reason     string
	BreakGlass bool
	Now        time.Time
}

// Problem is one reason a request or a policy is refused. Field names the
// input field or the key path ("resources.db.roles.ro.max_duration").
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Decision is the policy's verdict on an Input.
type Decision struct {
	Allowed  bool
	Problems []Problem
	// Duration is the duration to grant (the default filled in, capped for
	// break-glass).
	Duration time.Duration
	// Rules is the role's rules at evaluation time; the request keeps them.
	Rules        Rules
	AutoApproved bool
	// AutoRule names the auto-approval rule that matched.
	AutoRule   string
	BreakGlass bool
}

// Rules is a JSON-serialisable snapshot of one role's rules, stored with each
// request so later policy changes do not alter a pending request.
type Rules struct {
	Resource          string `json:"resource"`
	Role              string `json:"role"`
	Provider          string `json:"provider"`
	Target            string `json:"target"`
	PrincipalTemplate string `json:"principal_template"`
	// MinDuration is zero in rules stored before it existed.
	MinDuration     time.Duration `json:"min_duration,omitempty"`
	MaxDuration     time.Duration `json:"max_duration"`
	DefaultDuration time.Duration `json:"default_duration"`
	Channel         string        `json:"channel"`
	Approvers       []Ref         `json:"approvers"`
	BackupApprovers []Ref         `json:"backup_approvers,omitempty"`
	Approvals       int           `json:"approvals"`
	ApprovalTimeout time.Duration `json:"approval_timeout"`
	WarnBefore      time.Duration `json:"warn_before"`
	RemindAfter     time.Duration `json:"remind_after,omitempty"`
	EscalateAfter   time.Duration `json:"escalate_after,omitempty"`
	SecurityChannel string        `json:"security_channel,omitempty"`
}

// Ref names a person or a set of people: a Slack user id ("U123"), an email
// ("a@example.com"), a Slack user group ("S123" or "subteam:S123") or a
// policy group ("group:oncall"). Policy groups are expanded into the
// snapshot when Rules are taken.
type Ref string

// Marshal returns the stored form of r.
func (r Rules) Marshal() (json.RawMessage, error) { return json.Marshal(r) }

// UnmarshalRules reads rules stored by Marshal.
func UnmarshalRules(b []byte) (Rules, error) {
	var r Rules
	err := json.Unmarshal(b, &r)
	return r, err
}
