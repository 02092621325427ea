package access

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// DecidedError is ErrAlreadyDecided with the request as it stands, so the
// bot can say who decided and how.
type DecidedError struct {
	Request store.Request
}

func (e *DecidedError) Error() string {
	return fmt.Sprintf("request %s already %s", e.Request.ID, e.Request.State)
}

// Is makes errors.Is(err, ErrAlreadyDecided) true.
func (e *DecidedError) Is(target error) bool { return target == ErrAlreadyDecided }

// Decide records an approver's vote. It checks, on the server side, that
// actor may decide: not the requester, an approver of the role under the
// rules the request was made with. The first decision that closes the
// request wins; later ones get ErrAlreadyDecided and change nothing.
func (s *Service) Decide(ctx context.Context, requestID, actor string, approve bool) (store.Request, error) {
	req, err := s.request(requestID)
	if err != nil {
		return store.Request{}, err
	}
	if req.State.Final() {
		// A click on a decided request comes from a message that still
		// shows buttons: an earlier update missed it. Mend it now.
		s.updateApproval(ctx, req, rulesOf(req))
		return req, &DecidedError{Request: req}
	}
	if actor == req.Requester {
		return req, ErrSelfApproval
	}
	rules := rulesOf(req)
	if err := s.mayApprove(ctx, rules, actor, req.Escalated); err != nil {
		return req, err
	}

	now := s.clock.Now()
	var grant store.Grant
	err = s.cfg.Store.Update(func(tx *store.Tx) error {
		grant = store.Grant{}
		r, err := tx.Request(req.ID)
		if err != nil {
			return err
		}
		if r.State.Final() {
			return &DecidedError{Request: r}
		}
		for _, d := range r.Decisions {
			if d.User == actor && d.Approve == approve {
				return ErrAlreadyVoted
			}
		}
		r.Decisions = append(r.Decisions, store.Decision{User: actor, Approve: approve, At: now})
		evs := decisionEvents(&r, actor, approve, now)
		if r.State == store.RequestApproved {
			grant = newGrant(r, rules, now)
			r.GrantID = grant.ID
			if err := tx.CreateGrant(grant); err != nil {
				return err
			}
			evs[len(evs)-1].GrantID = grant.ID
		}
		if err := tx.PutRequest(r); err != nil {
			return err
		}
		req = r
		return appendEvents(tx, evs...)
	})
	var decided *DecidedError
	switch {
	case errors.As(err, &decided):
		return decided.Request, err
	case errors.Is(err, ErrAlreadyVoted):
		return req, err
	case err != nil:
		return req, fmt.Errorf("decide request %s: %w", req.ID, err)
	}

	s.log.Info().Str("request_id", req.ID).Str("approver", actor).
		Bool("approve", approve).Str("state", string(req.State)).
		Str("approvals", approvalCount(req)).Msg("request decision")
	if !req.Message.Posted() {
		// The click beat the storing of the message's place: wait for
		// it, so the outcome lands on the message and in its thread.
		s.awaitAnnounce(ctx, req.ID)
		if cur, err := s.request(req.ID); err == nil {
			req.Message = cur.Message
		}
	}
	s.updateApproval(ctx, req, rules)
	switch req.State {
	case store.RequestDenied:
		s.notify(ctx, Notice{Kind: NoticeDenied, Request: req, Rules: rules})
	case store.RequestApproved:
		s.grant(ctx, req, grant)
	}
	return req, nil
}

// decisionEvents applies a vote to r and returns the events it makes.
func decisionEvents(r *store.Request, actor string, approve bool, now time.Time) []store.Event {
	if !approve {
		r.State, r.DecidedAt, r.DecidedBy = store.RequestDenied, now, actor
		return []store.Event{requestEvent(store.EvRequestDenied, *r, actor, now, nil)}
	}
	details := map[string]string{"approvals": approvalCount(*r)}
	if len(r.Approvals()) < r.ApprovalsRequired {
		return []store.Event{requestEvent(store.EvRequestApproval, *r, actor, now, details)}
	}
	r.State, r.DecidedAt, r.DecidedBy = store.RequestApproved, now, actor
	return []store.Event{requestEvent(store.EvRequestApproved, *r, actor, now, details)}
}

func approvalCount(r store.Request) string {
	return strconv.Itoa(len(r.Approvals())) + " of " + strconv.Itoa(r.ApprovalsRequired)
}

func (s *Service) mayApprove(ctx context.Context, rules policy.Rules, actor string, escalated bool) error {
	email, err := s.cfg.Directory.Email(ctx, actor)
	if err != nil {
		return fmt.Errorf("look up approver %s: %w", actor, err)
	}
	ok, err := rules.MayApprove(ctx, s.cfg.Directory, policy.Identity{UserID: actor, Email: email}, escalated)
	if err != nil {
		return fmt.Errorf("check approver %s: %w", actor, err)
	}
	if !ok {
		return ErrNotApprover
	}
	return nil
}

// Cancel withdraws a pending request. Only its requester (or an admin) may.
func (s *Service) Cancel(ctx context.Context, requestID, actor string) (store.Request, error) {
	req, err := s.request(requestID)
	if err != nil {
		return store.Request{}, err
	}
	if actor != req.Requester {
		if err := s.requireAdmin(ctx, actor); err != nil {
			return req, err
		}
	}
	req, err = s.closeRequest(req.ID, store.RequestCancelled, actor, store.EvRequestCancelled)
	if err != nil {
		return req, err
	}
	rules := rulesOf(req)
	s.updateApproval(ctx, req, rules)
	s.notify(ctx, Notice{Kind: NoticeCancelled, Request: req, Rules: rules})
	return req, nil
}

// closeRequest moves a pending request to a final state without a grant.
func (s *Service) closeRequest(
	id string,
	state store.RequestState,
	actor string,
	ev store.EventType,
) (store.Request, error) {
	var out store.Request
	now := s.clock.Now()
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		r, err := tx.Request(id)
		if err != nil {
			return err
		}
		if r.State.Final() {
			out = r
			return &DecidedError{Request: r}
		}
		r.State, r.DecidedAt, r.DecidedBy = state, now, actor
		if err := tx.PutRequest(r); err != nil {
			return err
		}
		out = r
		return appendEvents(tx, requestEvent(ev, r, actor, now, nil))
	})
	if err != nil {
		if errors.Is(err, ErrAlreadyDecided) {
			return out, err
		}
		return out, fmt.Errorf("close request %s: %w", id, err)
	}
	s.log.Info().Str("request_id", id).Str("user", actor).Str("state", string(state)).
		Msg("request closed")
	return out, nil
}

func (s *Service) requireAdmin(ctx context.Context, actor string) error {
	email, err := s.cfg.Directory.Email(ctx, actor)
	if err != nil {
		return fmt.Errorf("look up %s: %w", actor, err)
	}
	ok, err := s.cfg.Policy().IsAdmin(ctx, s.cfg.Directory, policy.Identity{UserID: actor, Email: email})
	if err != nil {
		return fmt.Errorf("check admin %s: %w", actor, err)
	}
	if !ok {
		return ErrNotAllowed
	}
	return nil
}

func (s *Service) request(id string) (store.Request, error) {
	var r store.Request
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		r, err = tx.Request(normalizeID(id))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return r, ErrNotFound
	}
	return r, err
}

func (s *Service) loadGrant(id string) (store.Grant, error) {
	var g store.Grant
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		g, err = tx.Grant(normalizeID(id))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return g, ErrNotFound
	}
	return g, err
}
