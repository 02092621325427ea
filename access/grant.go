package access

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// grant calls the provider for a grant in state granting and records the
// outcome. Only a grant the provider confirmed becomes active.
func (s *Service) grant(ctx context.Context, req store.Request, g store.Grant) {
	if !s.claim(g.ID) {
		return
	}
	rules := rulesOf(req)
	principal, err := rules.Principal(policy.Identity{UserID: g.User, Email: g.Email})
	if err == nil {
		g.Principal = principal
		err = s.callProvider(ctx, "grant", g)
	}
	now := s.clock.Now()
	if err != nil {
		s.release(g.ID)
		s.failGrant(ctx, req, g, rules, err, now)
		return
	}
	g.State, g.GrantedAt, g.ExpiresAt = store.GrantActive, now, now.Add(req.Duration)
	if warn := g.ExpiresAt.Add(-rules.WarnBefore); rules.WarnBefore > 0 && warn.After(now) {
		g.WarnAt = warn
	}
	err = s.cfg.Store.Update(func(tx *store.Tx) error {
		cur, err := tx.Grant(g.ID)
		if err != nil {
			return err
		}
		if cur.State != store.GrantGranting {
			return store.ErrConflict
		}
		g.Thread = cur.Thread
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(store.EvGrantCreated, g, "jitbot", now, map[string]string{
			"expires_at": g.ExpiresAt.UTC().Format(time.RFC3339),
			"duration":   req.Duration.String(),
			"provider":   g.Provider,
			"principal":  g.Principal,
		}))
	})
	// From here on the stored state speaks for the grant; an early
	// release or the expiry may take it while the notices go out.
	s.release(g.ID)
	if err != nil {
		// The provider granted but the state could not be stored: take
		// the access back rather than leave a grant nobody tracks.
		s.log.Error().Err(err).Str("grant_id", g.ID).Msg("grant not stored; revoking")
		_ = s.callProvider(ctx, "revoke", g)
		return
	}
	s.log.Info().Str("grant_id", g.ID).Str("request_id", g.RequestID).Str("user", g.User).
		Str("resource", g.Resource).Str("role", g.Role).Str("provider", g.Provider).
		Time("expires_at", g.ExpiresAt).Msg("grant active")
	s.armGrant(g)
	s.notify(ctx, Notice{Kind: NoticeGranted, Request: req, Grant: g, Rules: rules})
}

func (s *Service) failGrant(
	ctx context.Context,
	req store.Request,
	g store.Grant,
	rules policy.Rules,
	cause error,
	now time.Time,
) {
	g.State, g.EndedAt, g.LastError = store.GrantFailed, now, cause.Error()
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		cur, err := tx.Grant(g.ID)
		if err != nil {
			return err
		}
		g.Thread = cur.Thread
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(store.EvGrantFailed, g, "jitbot", now,
			map[string]string{"error": cause.Error(), "provider": g.Provider}))
	})
	if err != nil {
		s.log.Error().Err(err).Str("grant_id", g.ID).Msg("grant failure not stored")
	}
	s.log.Error().Err(cause).Str("grant_id", g.ID).Str("request_id", g.RequestID).
		Str("provider", g.Provider).Str("resource", g.Resource).Str("role", g.Role).
		Msg("grant failed")
	s.notify(ctx, Notice{Kind: NoticeGrantFailed, Request: req, Grant: g, Rules: rules,
		Text: failurePhrase(cause)})
}

// failurePhrase is what a person is told about a provider failure: the kind,
// never the provider's own words.
func failurePhrase(err error) string {
	var pe *grants.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "the provider did not answer in time"
	case errors.Is(err, errNoProvider):
		return "the role's provider is not configured"
	case errors.As(err, &pe) && pe.Permanent:
		return "the provider refused the change (see the jitbot log)"
	default:
		return "the provider call failed (see the jitbot log)"
	}
}

var errNoProvider = errors.New("no such provider")

func (s *Service) callProvider(ctx context.Context, op string, g store.Grant) error {
	p, ok := s.cfg.Providers[g.Provider]
	if !ok {
		return fmt.Errorf("%s %s: %w %q", op, g.ID, errNoProvider, g.Provider)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProviderTimeout)
	defer cancel()
	pg := providerGrant(g)
	switch op {
	case "grant":
		return p.Grant(ctx, pg)
	default:
		if err := p.Revoke(ctx, pg); err != nil {
			return err
		}
		return s.verifyRevoked(ctx, p, pg)
	}
}

// verifyRevoked asks a provider that can tell whether access is really gone.
func (s *Service) verifyRevoked(ctx context.Context, p grants.Provider, g grants.Grant) error {
	c, ok := p.(grants.Checker)
	if !ok {
		return nil
	}
	held, err := c.Held(ctx, g)
	if err != nil {
		return fmt.Errorf("verify revoke of grant %s: %w", g.ID, err)
	}
	if held {
		return fmt.Errorf("revoke of grant %s did not take: access still held", g.ID)
	}
	return nil
}

func providerGrant(g store.Grant) grants.Grant {
	return grants.Grant{
		ID:        g.ID,
		RequestID: g.RequestID,
		User:      g.User,
		Email:     g.Email,
		Principal: g.Principal,
		Resource:  g.Resource,
		Role:      g.Role,
		Target:    g.Target,
		ExpiresAt: g.ExpiresAt,
	}
}

func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) release(id string) {
	s.mu.Lock()
	delete(s.inflight, id)
	s.mu.Unlock()
}

// armGrant schedules an active grant's warning and expiry.
func (s *Service) armGrant(g store.Grant) {
	s.sched.add(job{at: g.ExpiresAt, kind: jobExpireGrant, id: g.ID})
	if !g.WarnAt.IsZero() && g.WarnedAt.IsZero() {
		s.sched.add(job{at: g.WarnAt, kind: jobWarnGrant, id: g.ID})
	}
}

// Release gives a grant back before its time: the holder's own, or any grant
// for an admin.
func (s *Service) Release(ctx context.Context, grantID, actor string) (store.Grant, error) {
	g, err := s.loadGrant(grantID)
	if err != nil {
		return g, err
	}
	reason := store.EndReleased
	if actor != g.User {
		if err := s.requireAdmin(ctx, actor); err != nil {
			return g, err
		}
		reason = store.EndRevoked
	}
	if g.State != store.GrantActive {
		return g, ErrNotActive
	}
	return s.revoke(ctx, g.ID, reason, actor)
}

// revoke takes a grant back. The intent is stored first (state revoking),
// so a crash resumes it; a failure is stored, announced and retried with
// backoff until it succeeds.
func (s *Service) revoke(ctx context.Context, id, reason, actor string) (store.Grant, error) {
	if !s.claim(id) {
		g, err := s.loadGrant(id)
		if err != nil {
			return g, err
		}
		return g, ErrNotActive
	}
	g, covered, err := s.markRevoking(id, reason, actor)
	if err != nil {
		s.release(id)
		return g, err
	}
	if !covered {
		err = s.callProvider(ctx, "revoke", g)
	}
	var notices []Notice
	ended := false
	if err != nil {
		g, notices, err = s.revokeFailed(g, err)
	} else {
		g, notices, err = s.revoked(g, covered)
		ended = err == nil
	}
	// The outcome is stored: free the grant before the notices go out, so a
	// retry that comes due meanwhile finds it.
	s.release(id)
	for _, n := range notices {
		s.notify(ctx, n)
	}
	if ended {
		s.endWarning(ctx, g)
	}
	return g, err
}

// markRevoking moves an active grant to revoking and reports whether another
// live grant of the same role to the same principal still covers the access,
// in which case the provider must not take it away.
func (s *Service) markRevoking(id, reason, actor string) (store.Grant, bool, error) {
	var g store.Grant
	var covered, started bool
	now := s.clock.Now()
	err := s.cfg.Store.Batch(func(tx *store.Tx) error {
		var err error
		if g, err = tx.Grant(id); err != nil {
			return err
		}
		started = g.State == store.GrantActive
		switch g.State {
		case store.GrantRevoking:
		case store.GrantActive:
			g.State, g.EndReason, g.EndedBy = store.GrantRevoking, reason, actor
			g.EndedAt = now
			if err := tx.PutGrant(g); err != nil {
				return err
			}
		default:
			return ErrNotActive
		}
		covered, err = coveredByOther(tx, g, now)
		return err
	})
	switch {
	case err != nil && !errors.Is(err, ErrNotActive):
		err = fmt.Errorf("mark grant %s revoking: %w", id, err)
	case err == nil && started:
		s.log.Info().Str("grant_id", id).Str("user", g.User).Str("reason", reason).
			Str("actor", actor).Bool("covered", covered).Msg("revoke started")
	}
	return g, covered, err
}

func coveredByOther(tx *store.Tx, g store.Grant, now time.Time) (bool, error) {
	others, err := tx.UserGrants(g.User, true)
	if err != nil {
		return false, err
	}
	for _, o := range others {
		if o.ID == g.ID || o.State != store.GrantActive {
			continue
		}
		if o.Provider == g.Provider && o.Target == g.Target &&
			o.Principal == g.Principal && o.ExpiresAt.After(now) {
			return true, nil
		}
	}
	return false, nil
}

// revoked stores a revoke the provider confirmed and returns the notices to
// send: the end of the grant and, when earlier attempts failed, that their
// alert is resolved. A store failure leaves the grant revoking and schedules
// another try.
func (s *Service) revoked(g store.Grant, covered bool) (store.Grant, []Notice, error) {
	now := s.clock.Now()
	ev := store.EvGrantRevoked
	if g.EndReason == store.EndReleased {
		ev = store.EvGrantReleased
	}
	late := max(0, now.Sub(g.ExpiresAt))
	if g.EndReason != store.EndExpired {
		late = 0
	}
	details := map[string]string{
		"held":    now.Sub(g.GrantedAt).Round(time.Second).String(),
		"late":    late.String(),
		"reason":  g.EndReason,
		"covered": strconv.FormatBool(covered),
	}
	g.State, g.EndedAt, g.LastError = store.GrantRevoked, now, ""
	err := s.cfg.Store.Batch(func(tx *store.Tx) error {
		keepWarning(tx, &g)
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(ev, g, g.EndedBy, now, details))
	})
	if err != nil {
		s.sched.add(job{at: now.Add(s.cfg.RetryMin), kind: jobRetryRevoke, id: g.ID})
		return g, nil, fmt.Errorf("store revoke of grant %s: %w", g.ID, err)
	}
	s.log.Info().Str("grant_id", g.ID).Str("user", g.User).Str("resource", g.Resource).
		Str("role", g.Role).Str("reason", g.EndReason).Dur("late", late).
		Bool("covered", covered).Msg("grant revoked")
	req, _ := s.request(g.RequestID)
	rules := rulesOf(req)
	notices := []Notice{{Kind: NoticeRevoked, Request: req, Grant: g, Rules: rules}}
	if g.Attempts > 0 {
		notices = append(notices,
			Notice{Kind: NoticeRevokeRecovered, Request: req, Grant: g, Rules: rules})
	}
	return g, notices, nil
}

// revokeFailed stores the failure, schedules the next attempt and returns
// the notice to send, if this failure is one to shout about. The grant stays
// in revoking, so it is retried after a restart too.
func (s *Service) revokeFailed(g store.Grant, cause error) (store.Grant, []Notice, error) {
	now := s.clock.Now()
	g.Attempts++
	g.LastError = cause.Error()
	g.NextAttempt = now.Add(s.backoff(g.Attempts))
	err := s.cfg.Store.Batch(func(tx *store.Tx) error {
		keepWarning(tx, &g)
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(store.EvGrantRevokeFailed, g, "jitbot", now,
			map[string]string{"error": cause.Error(), "attempt": strconv.Itoa(g.Attempts)}))
	})
	if err != nil {
		s.log.Error().Err(err).Str("grant_id", g.ID).Msg("revoke failure not stored")
	}
	s.log.Error().Err(cause).Str("grant_id", g.ID).Str("provider", g.Provider).
		Str("user", g.User).Int("attempt", g.Attempts).Time("next_attempt", g.NextAttempt).
		Msg("revoke failed")
	s.sched.add(job{at: g.NextAttempt, kind: jobRetryRevoke, id: g.ID})
	err = fmt.Errorf("revoke grant %s: %w", g.ID, cause)
	// Shout on the first failure and then now and again, not on every retry.
	if g.Attempts != 1 && g.Attempts%10 != 0 {
		return g, nil, err
	}
	req, _ := s.request(g.RequestID)
	return g, []Notice{{Kind: NoticeRevokeFailed, Request: req, Grant: g,
		Rules: rulesOf(req), Text: failurePhrase(cause)}}, err
}

// warn sends an expiry warning. When the notifier is a Warner, where the
// holder's copy went is stored with the grant, so its buttons can be
// withdrawn when the grant ends; a grant that stopped being active while the
// warning was on its way has them withdrawn at once.
func (s *Service) warn(ctx context.Context, n Notice) {
	w, ok := s.cfg.Notifier.(Warner)
	if !ok {
		s.notify(ctx, n)
		return
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	ref, err := w.Warn(wctx, n)
	cancel()
	if err != nil {
		s.log.Warn().Err(err).Str("notice", string(n.Kind)).
			Str("request_id", n.Request.ID).Str("grant_id", n.Grant.ID).
			Msg("notice not delivered")
	}
	if !ref.Posted() {
		return
	}
	g, active, err := s.saveWarning(n.Grant.ID, ref)
	switch {
	case err != nil:
		s.log.Error().Err(err).Str("grant_id", n.Grant.ID).Msg("expiry warning not stored")
	case !active:
		s.endWarning(ctx, g)
	}
}

// saveWarning stores where a grant's expiry warning went and returns the
// grant with the reference set, and whether it is still active. When it is
// not, a revoke got under way while the warning was posted: the caller
// withdraws the buttons now, and the revoke, which reads the reference
// again when it stores its outcome, withdraws them once more with the end.
func (s *Service) saveWarning(id string, ref store.MessageRef) (store.Grant, bool, error) {
	var g store.Grant
	var active bool
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		var err error
		if g, err = tx.Grant(id); err != nil {
			return err
		}
		g.Warning = ref
		active = g.State == store.GrantActive
		return tx.PutGrant(g)
	})
	if err != nil {
		return g, false, fmt.Errorf("store expiry warning of grant %s: %w", id, err)
	}
	return g, active, nil
}

// endWarning withdraws the buttons of g's expiry warning, if one was posted.
func (s *Service) endWarning(ctx context.Context, g store.Grant) {
	w, ok := s.cfg.Notifier.(Warner)
	if !ok || !g.Warning.Posted() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	defer cancel()
	if err := w.EndWarning(ctx, g); err != nil {
		s.log.Warn().Err(err).Str("grant_id", g.ID).Str("channel", g.Warning.Channel).
			Msg("expiry warning not updated")
	}
}

// backoff doubles from RetryMin up to RetryMax, with jitter of up to a fifth.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.cfg.RetryMin << min(attempt-1, 20)
	if d > s.cfg.RetryMax || d <= 0 {
		d = s.cfg.RetryMax
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// Acknowledge records that someone looked at a break-glass grant after the
// fact. Only admins may, and never the grant's holder: an admin who broke
// the glass gets ErrOwnGrant and another admin must acknowledge.
func (s *Service) Acknowledge(ctx context.Context, grantID, actor string) (store.Grant, error) {
	g, err := s.loadGrant(grantID)
	if err != nil {
		return g, err
	}
	if !g.BreakGlass {
		return g, ErrNotFound
	}
	if err := s.requireAdmin(ctx, actor); err != nil {
		return g, err
	}
	if actor == g.User {
		return g, ErrOwnGrant
	}
	now := s.clock.Now()
	err = s.cfg.Store.Update(func(tx *store.Tx) error {
		cur, err := tx.Grant(g.ID)
		if err != nil {
			return err
		}
		if cur.AckedBy != "" {
			g = cur
			return ErrAlreadyDecided
		}
		cur.AckedBy, cur.AckedAt = actor, now
		g = cur
		if err := tx.PutGrant(cur); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(store.EvBreakGlassAcked, cur, actor, now, nil))
	})
	if err != nil {
		return g, err
	}
	s.log.Info().Str("grant_id", g.ID).Str("approver", actor).Msg("break-glass acknowledged")
	req, _ := s.request(g.RequestID)
	s.notify(ctx, Notice{Kind: NoticeBreakGlassAck, Request: req, Grant: g, Rules: rulesOf(req)})
	return g, nil
}

// Mine lists a user's pending requests and live grants.
func (s *Service) Mine(_ context.Context, user string) ([]store.Request, []store.Grant, error) {
	var reqs []store.Request
	var gs []store.Grant
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		if reqs, err = tx.UserRequests(user, store.RequestPending); err != nil {
			return err
		}
		gs, err = tx.UserGrants(user, true)
		return err
	})
	// Oldest request first, soonest expiry first: the order people read.
	slices.SortFunc(reqs, func(a, b store.Request) int { return a.CreatedAt.Compare(b.CreatedAt) })
	slices.SortFunc(gs, func(a, b store.Grant) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	return reqs, gs, err
}

// keepWarning carries over where the expiry warning went, which may have
// been stored while a revoke was under way with an older copy of g.
func keepWarning(tx *store.Tx, g *store.Grant) {
	if cur, err := tx.Grant(g.ID); err == nil && cur.Warning.Posted() {
		g.Warning = cur.Warning
	}
}
