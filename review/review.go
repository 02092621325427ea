// Package review reads the audit trail and tells the people who own the
// policy what it says: a short weekly digest for Slack and a quarterly
// access review (Markdown, HTML, JSON) with findings and suggested policy
// changes. It knows nothing of bbolt or Slack: events come through Source.
// Analysis streams the events once; memory grows with the number of
// requester/role pairs, roles and approvers, not with the number of events.
// A Report is a plain value and safe to read from several goroutines.
package review

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/store"
)

// Source streams audit events with from <= Time < to, in order, calling fn
// for each one and stopping at the first error fn returns.
type Source interface {
	Events(from, to time.Time, fn func(store.Event) error) error
}

// EventWriter appends one audit event; the generator writes through it.
type EventWriter interface {
	Append(store.Event) error
}

// PolicyView is the part of the policy a review compares the trail with.
type PolicyView interface {
	// Roles lists every configured role.
	Roles() []RoleInfo
}

// RoleInfo is one configured role as the review sees it.
type RoleInfo struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
	// Provider is the name of the provider instance that grants the role.
	Provider    string        `json:"provider"`
	MaxDuration time.Duration `json:"max_duration"`
	// Approvers are Slack user ids. Group references ("group:x", "S123",
	// "subteam:S123") cannot be matched with the trail and are skipped
	// by the idle-approver check; expand them first where possible.
	Approvers []string   `json:"approvers"`
	AutoRules []AutoRule `json:"auto_rules,omitempty"`
}

// AutoRule is an existing auto-approval rule of a role.
type AutoRule struct {
	Name string `json:"name"`
	// Requesters are user ids; "*" or empty means anyone.
	Requesters []string `json:"requesters,omitempty"`
}

// StaticPolicy is a fixed list of roles; it implements PolicyView.
type StaticPolicy []RoleInfo

// Roles returns the list itself.
func (s StaticPolicy) Roles() []RoleInfo { return s }

// Options tunes the thresholds of the findings. The zero value of a field
// means its default (see DefaultOptions).
type Options struct {
	// MinAsks is how often a pair must be asked to suggest automation.
	MinAsks int
	// OneOffMax is the largest request count of a "one-off" role.
	OneOffMax int
	// QuickApproval is the decision time under which an approval is quick.
	QuickApproval time.Duration
	// StampMinDecisions is the decision count from which an approver who
	// never denies is listed.
	StampMinDecisions int
	// RepeatedReason is how often an identical reason must recur to be
	// listed.
	RepeatedReason int
	// LateAfter is the lateness from which a revocation is late.
	LateAfter time.Duration
	// TightenRatio: a role is listed when its p95 held time is at most
	// this share of its configured maximum.
	TightenRatio float64
	// TightenMinGrants is the number of ended grants needed to judge.
	TightenMinGrants int
	// MaxListed caps every list of the report; the rest is counted.
	MaxListed int
	// Lookback is how far before the period the trail is read to know the
	// grants, requests and break-glass uses still open when it starts.
	Lookback time.Duration
}

// DefaultOptions returns the thresholds used by Analyze.
func DefaultOptions() Options {
	return Options{
		MinAsks:           5,
		OneOffMax:         2,
		QuickApproval:     30 * time.Second,
		StampMinDecisions: 10,
		RepeatedReason:    3,
		LateAfter:         time.Minute,
		TightenRatio:      0.5,
		TightenMinGrants:  5,
		MaxListed:         200,
		Lookback:          7 * 24 * time.Hour,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&o.MinAsks, d.MinAsks)
	pick(&o.OneOffMax, d.OneOffMax)
	pick(&o.StampMinDecisions, d.StampMinDecisions)
	pick(&o.RepeatedReason, d.RepeatedReason)
	pick(&o.TightenMinGrants, d.TightenMinGrants)
	pick(&o.MaxListed, d.MaxListed)
	if o.QuickApproval <= 0 {
		o.QuickApproval = d.QuickApproval
	}
	if o.LateAfter <= 0 {
		o.LateAfter = d.LateAfter
	}
	if o.TightenRatio <= 0 {
		o.TightenRatio = d.TightenRatio
	}
	if o.Lookback <= 0 {
		o.Lookback = d.Lookback
	}
	return o
}

// Duration is a time.Duration that reads "1h30m" in JSON.
type Duration time.Duration

// String renders d compactly and rounded, to the second below an hour and
// to the minute from an hour on: "2h", "1h30m", "45s".
func (d Duration) String() string { return shortDur(time.Duration(d)) }

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads what MarshalJSON writes, so a JSON report can be read
// back by tools.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Totals are the headline counts of a period.
type Totals struct {
	Requests     int `json:"requests"`
	Approved     int `json:"approved"`
	Denied       int `json:"denied"`
	AutoApproved int `json:"auto_approved"`
	Expired      int `json:"expired"`
	Cancelled    int `json:"cancelled"`
	BreakGlass   int `json:"break_glass"`
	// MedianDecision is the median time from request to a person's
	// decision; zero when nobody decided.
	MedianDecision Duration `json:"median_decision"`
	// ActiveGrants counts grants live at the end of the period.
	ActiveGrants int `json:"active_grants"`
	// BreakGlassUnacked counts break-glass uses nobody acknowledged yet.
	BreakGlassUnacked int `json:"break_glass_unacked"`
	LateRevocations   int `json:"late_revocations"`
	FailedRevocations int `json:"failed_revocations"`
}

// Report is the result of Analyze. Lists are sorted for reading, most
// important first; a list cut at Options.MaxListed says how many it left
// out in Omitted, keyed by the list's JSON name.
type Report struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Totals Totals    `json:"totals"`
	// WithoutPolicy is set when the review had no policy to compare the
	// trail with: stale roles, approvers and providers and the limits to
	// tighten are left out, not found empty.
	WithoutPolicy bool `json:"without_policy,omitempty"`

	Automate        []Candidate        `json:"automate"`
	OneOffRoles     []RoleAsks         `json:"one_off_roles"`
	BreakGlass      []BreakGlassUse    `json:"break_glass"`
	Denials         []Denial           `json:"denials"`
	StaleRoles      []RoleKey          `json:"stale_roles"`
	IdleApprovers   []string           `json:"idle_approvers"`
	UnusedProviders []string           `json:"unused_providers"`
	Tighten         []Tighten          `json:"tighten"`
	QuickApprovals  []QuickApprover    `json:"quick_approvals"`
	AlwaysApprove   []ApproverRate     `json:"always_approve"`
	WeakReasons     []WeakReason       `json:"weak_reasons"`
	LateRevocations []LateRevocation   `json:"late_revocations"`
	FailedRevokes   []FailedRevocation `json:"failed_revocations"`
	Drift           []Drift            `json:"drift"`

	// Weekly counts requests per week from From; RoleStats feeds charts.
	Weekly    []WeekCount    `json:"weekly"`
	RoleStats []RoleStat     `json:"role_stats"`
	Omitted   map[string]int `json:"omitted,omitempty"`
}

// RoleKey names a role on a resource.
type RoleKey struct {
	Resource string `json:"resource"`
	Role     string `json:"role"`
}

// String renders "resource/role".
func (k RoleKey) String() string { return k.Resource + "/" + k.Role }

// Candidate is a requester/role pair that was always approved often
// enough to be worth an auto-approval rule.
type Candidate struct {
	RoleKey
	Requester string    `json:"requester"`
	Asks      int       `json:"asks"`
	Approved  int       `json:"approved"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	// Approvers lists who approved, most frequent first.
	Approvers []string `json:"approvers"`
	// P95Requested is the 95th percentile of the requested durations;
	// MaxDuration is that rounded up to 15 minutes.
	P95Requested Duration `json:"p95_requested"`
	MaxDuration  Duration `json:"max_duration"`
	// Existing names an auto rule that already lists the requester.
	Existing string `json:"existing_rule,omitempty"`
	// YAML is a rule to paste under the role's auto_approve list.
	YAML string `json:"yaml"`
}

// RoleAsks is a role asked for rarely, with who asked when.
type RoleAsks struct {
	RoleKey
	Count int   `json:"count"`
	Asks  []Ask `json:"asks"`
}

// Ask is one request, reduced to who and when.
type Ask struct {
	RequestID string    `json:"request_id"`
	User      string    `json:"user"`
	Time      time.Time `json:"time"`
	Reason    string    `json:"reason,omitempty"`
}

// BreakGlassUse is one break-glass grant.
type BreakGlassUse struct {
	RoleKey
	User      string    `json:"user"`
	RequestID string    `json:"request_id,omitempty"`
	GrantID   string    `json:"grant_id,omitempty"`
	Time      time.Time `json:"time"`
	Reason    string    `json:"reason,omitempty"`
	AckedBy   string    `json:"acked_by,omitempty"`
	AckedAt   time.Time `json:"acked_at,omitempty"`
}

// Denial is one denied request.
type Denial struct {
	RoleKey
	RequestID string    `json:"request_id"`
	Requester string    `json:"requester"`
	Approver  string    `json:"approver"`
	Time      time.Time `json:"time"`
	// Reason is the request's reason, trimmed; Note is the approver's
	// comment when one was given.
	Reason string `json:"reason,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Tighten is a role whose grants are held far shorter than allowed.
type Tighten struct {
	RoleKey
	Grants        int      `json:"grants"`
	ReleasedEarly int      `json:"released_early"`
	P95Held       Duration `json:"p95_held"`
	MaxDuration   Duration `json:"max_duration"`
	Suggested     Duration `json:"suggested"`
}

// QuickApprover counts an approver's approvals given faster than
// Options.QuickApproval after the request.
type QuickApprover struct {
	Approver string `json:"approver"`
	Count    int    `json:"count"`
	// Fastest is the shortest request-to-approval time seen.
	Fastest  Duration `json:"fastest"`
	Examples []string `json:"examples"`
}

// RubberStamps lists, sorted, the distinct approvers the rubber-stamp
// findings name: those who approved quickly and those who never denied.
// Weak reasons are requesters' findings and are not among them.
func (r *Report) RubberStamps() []string {
	seen := map[string]bool{}
	for _, q := range r.QuickApprovals {
		seen[q.Approver] = true
	}
	for _, a := range r.AlwaysApprove {
		seen[a.Approver] = true
	}
	return sortedKeys(seen)
}

// ApproverRate is an approver who approved every one of many decisions.
type ApproverRate struct {
	Approver  string `json:"approver"`
	Decisions int    `json:"decisions"`
	Approved  int    `json:"approved"`
}

// WeakReason is a reason text that tells a reviewer nothing.
type WeakReason struct {
	Reason string `json:"reason"`
	Count  int    `json:"count"`
	// Why is "short", "filler" or "repeated".
	Why   string   `json:"why"`
	Users []string `json:"users"`
}

// LateRevocation is a revoke that ran more than Options.LateAfter after
// the grant expired.
type LateRevocation struct {
	RoleKey
	GrantID string    `json:"grant_id"`
	User    string    `json:"user,omitempty"`
	Late    Duration  `json:"late"`
	Time    time.Time `json:"time"`
}

// FailedRevocation is a grant whose revoke failed at least once.
type FailedRevocation struct {
	RoleKey
	GrantID   string    `json:"grant_id"`
	User      string    `json:"user,omitempty"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	First     time.Time `json:"first"`
	// Resolved is set when a later revoke succeeded.
	Resolved   bool      `json:"resolved"`
	ResolvedAt time.Time `json:"resolved_at,omitempty"`
}

// WithoutProviderOutput blanks what providers said about failed revokes
// (stderr, response bodies, server addresses), for a copy of the report that
// goes where operators' details must not, such as a Slack channel.
func (r *Report) WithoutProviderOutput() {
	for i := range r.FailedRevokes {
		r.FailedRevokes[i].LastError = "(in the jitbot log and audit trail)"
	}
}

// Drift is one membership reconcile found at a provider without a live
// grant. RoleKey is the policy's role for the provider's target; it is empty
// when the policy named none, and Provider and Target say where it was.
type Drift struct {
	RoleKey
	GrantID   string    `json:"grant_id,omitempty"`
	Provider  string    `json:"provider,omitempty"`
	Principal string    `json:"principal"`
	Target    string    `json:"target"`
	Time      time.Time `json:"time"`
	// Revoked is set when reconcile removed the membership.
	Revoked bool `json:"revoked"`
}

// Where names the drift's place for a reader: "resource/role" when the
// policy knows the role, else "provider/target".
func (d Drift) Where() string {
	switch {
	case d.Resource != "" || d.Role != "":
		return d.String()
	case d.Provider == "":
		return d.Target
	}
	return d.Provider + "/" + d.Target
}

// WeekCount is the number of requests in the week starting at Start.
type WeekCount struct {
	Start    time.Time `json:"start"`
	Requests int       `json:"requests"`
}

// RoleStat is one role's activity, for the charts.
type RoleStat struct {
	RoleKey
	Requests    int      `json:"requests"`
	Grants      int      `json:"grants"`
	P95Held     Duration `json:"p95_held"`
	MaxDuration Duration `json:"max_duration"`
}
