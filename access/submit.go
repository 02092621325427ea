package access

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// Validate runs the checks that need no network: a known resource and role,
// a duration within the limit, a reason that meets the rules. The bot calls
// it before Submit to answer bad input at once.
func (s *Service) Validate(in SubmitInput) []policy.Problem {
	return s.cfg.Policy().Check(policy.Input{
		Resource:   strings.TrimSpace(in.Resource),
		Role:       strings.TrimSpace(in.Role),
		Duration:   in.Duration,
		Reason:     in.Reason,
		BreakGlass: in.BreakGlass,
	})
}

// Submit evaluates a request against the policy and stores it. A refused
// request returns *InvalidError and stores nothing. An auto-approved or
// break-glass request is granted at once; any other is posted for approval.
func (s *Service) Submit(ctx context.Context, in SubmitInput) (store.Request, error) {
	email, err := s.cfg.Directory.Email(ctx, in.User)
	if err != nil {
		return store.Request{}, fmt.Errorf("look up requester %s: %w", in.User, err)
	}
	if email == "" {
		return store.Request{}, ErrNoEmail
	}
	now := s.clock.Now()
	dec, err := s.cfg.Policy().Evaluate(ctx, s.cfg.Directory, policy.Input{
		Requester:  policy.Identity{UserID: in.User, Email: email},
		Resource:   strings.TrimSpace(in.Resource),
		Role:       strings.TrimSpace(in.Role),
		Duration:   in.Duration,
		Reason:     strings.TrimSpace(in.Reason),
		BreakGlass: in.BreakGlass,
		Now:        now,
	})
	if err != nil {
		return store.Request{}, fmt.Errorf("evaluate request of %s: %w", in.User, err)
	}
	if !dec.Allowed {
		return store.Request{}, &InvalidError{Problems: dec.Problems}
	}
	req, err := s.newRequest(in, email, dec)
	if err != nil {
		return store.Request{}, err
	}
	if in.ExtendsGrant != "" {
		if err := s.checkExtension(req); err != nil {
			return store.Request{}, err
		}
	}
	s.beginAnnounce(req.ID)
	req, grant, err := s.storeRequest(req, dec)
	if err != nil {
		s.endAnnounce(req.ID)
		return store.Request{}, err
	}
	s.announce(ctx, req, grant, dec.Rules)
	if grant.ID != "" {
		s.grant(ctx, req, grant)
	} else {
		s.armRequest(req, dec.Rules)
	}
	return req, nil
}

func (s *Service) newRequest(in SubmitInput, email string, dec policy.Decision) (store.Request, error) {
	raw, err := dec.Rules.Marshal()
	if err != nil {
		return store.Request{}, fmt.Errorf("snapshot rules: %w", err)
	}
	now := s.clock.Now()
	return store.Request{
		ID:                newID("r"),
		Requester:         in.User,
		RequesterEmail:    email,
		Resource:          dec.Rules.Resource,
		Role:              dec.Rules.Role,
		Duration:          dec.Duration,
		Reason:            strings.TrimSpace(in.Reason),
		State:             store.RequestPending,
		CreatedAt:         now,
		ExpiresAt:         now.Add(dec.Rules.ApprovalTimeout),
		ApprovalsRequired: max(dec.Rules.Approvals, 1),
		BreakGlass:        dec.BreakGlass,
		ExtendsGrant:      normalizeID(in.ExtendsGrant),
		Rules:             raw,
		PolicyVersion:     s.cfg.Policy().Version(),
	}, nil
}

// checkExtension accepts an extension only of the requester's own live
// grant of the same role.
func (s *Service) checkExtension(req store.Request) error {
	return s.cfg.Store.View(func(tx *store.Tx) error {
		g, err := tx.Grant(req.ExtendsGrant)
		if err != nil || g.User != req.Requester || !g.State.Live() {
			return ErrNotFound
		}
		if g.Resource != req.Resource || g.Role != req.Role {
			return &InvalidError{Problems: []policy.Problem{{Field: "role",
				Message: "an extension must ask for the same resource and role"}}}
		}
		return nil
	})
}

// storeRequest writes the new request and its events in one transaction.
// An auto-approved or break-glass request is approved in the same
// transaction and its grant created, so it can never be granted twice.
func (s *Service) storeRequest(req store.Request, dec policy.Decision) (store.Request, store.Grant, error) {
	var grant store.Grant
	now := req.CreatedAt
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		grant = store.Grant{}
		r := req
		if dec.AutoApproved || dec.BreakGlass {
			r.State = store.RequestApproved
			r.DecidedAt = now
			r.DecidedBy = "policy"
			r.AutoApproved = dec.AutoApproved
			r.AutoRule = dec.AutoRule
			grant = newGrant(r, dec.Rules, now)
			r.GrantID = grant.ID
		} else if err := checkPendingCap(tx, r.Requester); err != nil {
			return err
		}
		if err := tx.CreateRequest(r); err != nil {
			return err
		}
		if err := appendEvents(tx, createdEvents(r, now)...); err != nil {
			return err
		}
		if grant.ID != "" {
			if err := tx.CreateGrant(grant); err != nil {
				return err
			}
		}
		req = r
		return nil
	})
	var invalid *InvalidError
	if errors.As(err, &invalid) {
		return store.Request{}, store.Grant{}, err
	}
	if err != nil {
		return store.Request{}, store.Grant{}, fmt.Errorf("store request %s: %w", req.ID, err)
	}
	s.log.Info().Str("request_id", req.ID).Str("user", req.Requester).
		Str("resource", req.Resource).Str("role", req.Role).
		Str("duration", req.Duration.String()).Str("state", string(req.State)).
		Bool("break_glass", req.BreakGlass).Bool("auto_approved", req.AutoApproved).
		Msg("request created")
	return req, grant, nil
}

func createdEvents(r store.Request, now time.Time) []store.Event {
	evs := []store.Event{requestEvent(store.EvRequestCreated, r, r.Requester, now, map[string]string{
		"duration":    r.Duration.String(),
		"reason":      r.Reason,
		"requester":   r.Requester,
		"break_glass": strconv.FormatBool(r.BreakGlass),
	})}
	switch {
	case r.BreakGlass:
		evs = append(evs, requestEvent(store.EvBreakGlassUsed, r, r.Requester, now, nil))
	case r.AutoApproved:
		evs = append(evs, requestEvent(store.EvRequestAuto, r, "policy", now,
			map[string]string{"rule": r.AutoRule}))
	}
	return evs
}

// announce posts the approval message (for visibility when no approval is
// needed), stores where it went, and tells the requester. grant is the
// grant an auto-approved or break-glass request created, so the security
// alert can offer to acknowledge it; zero otherwise.
func (s *Service) announce(
	ctx context.Context,
	req store.Request,
	grant store.Grant,
	rules policy.Rules,
) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	ref, err := s.cfg.Notifier.PostApproval(pctx, req, rules)
	cancel()
	var note string
	if err != nil {
		s.log.Error().Err(err).Str("request_id", req.ID).Str("channel", rules.Channel).
			Msg("approval message not posted")
		s.sched.add(job{at: s.clock.Now().Add(s.backoff(1)), kind: jobRepost, id: req.ID,
			attempt: 1})
		note = "The approval message could not be posted yet; jitbot keeps trying."
	} else if err := s.saveMessage(req.ID, ref); err != nil {
		s.log.Error().Err(err).Str("request_id", req.ID).Msg("message reference not stored")
	}
	// A decision that came in meanwhile waits for this, then updates the
	// message itself.
	s.endAnnounce(req.ID)
	req.Message = ref
	switch {
	case req.BreakGlass:
		s.notify(ctx, Notice{Kind: NoticeBreakGlass, Request: req, Grant: grant,
			Rules: rules})
	case req.AutoApproved:
		s.notify(ctx, Notice{Kind: NoticeAutoApproved, Request: req, Rules: rules})
	default:
		s.notify(ctx, Notice{Kind: NoticeSubmitted, Request: req, Rules: rules, Text: note})
	}
}

// saveMessage stores where the approval message went, on the request and
// on its grant if it has one.
func (s *Service) saveMessage(id string, ref store.MessageRef) error {
	return s.cfg.Store.Update(func(tx *store.Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		r.Message = ref
		if r.GrantID != "" {
			if g, err := tx.Grant(r.GrantID); err == nil {
				g.Thread = ref
				if err := tx.PutGrant(g); err != nil {
					return err
				}
			}
		}
		return tx.PutRequest(r)
	})
}

// armRequest schedules a pending request's timeout, reminder and escalation.
func (s *Service) armRequest(req store.Request, rules policy.Rules) {
	s.sched.add(job{at: req.ExpiresAt, kind: jobExpireRequest, id: req.ID})
	if rules.RemindAfter > 0 {
		at := req.CreatedAt.Add(rules.RemindAfter << min(req.Reminders, 10))
		if !req.RemindedAt.IsZero() {
			at = req.RemindedAt.Add(rules.RemindAfter << min(req.Reminders, 10))
		}
		s.sched.add(job{at: at, kind: jobRemind, id: req.ID})
	}
	if rules.EscalateAfter > 0 && len(rules.BackupApprovers) > 0 && !req.Escalated {
		s.sched.add(job{at: req.CreatedAt.Add(rules.EscalateAfter), kind: jobEscalate, id: req.ID})
	}
}

// MaxPending is how many requests one person may have waiting for a
// decision at once, so a loop or a careless script cannot flood the
// approval channels. Break-glass and auto-approved requests never wait.
const MaxPending = 10

func checkPendingCap(tx *store.Tx, user string) error {
	pending, err := tx.UserRequests(user, store.RequestPending)
	if err != nil {
		return err
	}
	if len(pending) < MaxPending {
		return nil
	}
	return &InvalidError{Problems: []policy.Problem{{Field: "requester", Message: fmt.Sprintf(
		"you have %d requests waiting for a decision; cancel one with /jit cancel "+
			"or wait for the approvers", len(pending))}}}
}
