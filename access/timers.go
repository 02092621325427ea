package access

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// fire runs one due job. Every handler re-reads the stored state, so a job
// whose purpose has passed does nothing.
func (s *Service) fire(ctx context.Context, j job) {
	switch j.kind {
	case jobExpireGrant, jobRetryRevoke:
		s.expireGrant(ctx, j.id)
	case jobWarnGrant:
		s.warnGrant(ctx, j.id)
	case jobResumeGrant:
		s.resumeGrant(ctx, j.id)
	case jobExpireRequest:
		s.expireRequest(ctx, j.id)
	case jobRemind:
		s.remind(ctx, j.id)
	case jobEscalate:
		s.escalate(ctx, j.id)
	case jobRepost:
		s.repost(ctx, j)
	case jobRefresh:
		s.refresh(ctx, j)
	}
}

func (s *Service) expireGrant(ctx context.Context, id string) {
	g, err := s.loadGrant(id)
	if err != nil || !g.State.Live() || g.State == store.GrantGranting {
		return
	}
	now := s.clock.Now()
	switch {
	case g.State == store.GrantActive && now.Before(g.ExpiresAt):
		return
	case g.State == store.GrantRevoking && now.Before(g.NextAttempt):
		return
	}
	// Errors are stored, announced and retried inside revoke.
	_, _ = s.revoke(ctx, id, store.EndExpired, "jitbot")
}

func (s *Service) warnGrant(ctx context.Context, id string) {
	var g store.Grant
	now := s.clock.Now()
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		var err error
		if g, err = tx.Grant(id); err != nil {
			return err
		}
		if g.State != store.GrantActive || !g.WarnedAt.IsZero() || !now.Before(g.ExpiresAt) {
			return errSkip
		}
		g.WarnedAt = now
		if err := tx.PutGrant(g); err != nil {
			return err
		}
		return appendEvents(tx, grantEvent(store.EvGrantWarned, g, "jitbot", now,
			map[string]string{"expires_at": g.ExpiresAt.UTC().Format(time.RFC3339)}))
	})
	if err != nil {
		s.logSkip(err, "grant_id", id, "warn")
		return
	}
	req, _ := s.request(g.RequestID)
	s.warn(ctx, Notice{Kind: NoticeExpiringSoon, Request: req, Grant: g, Rules: rulesOf(req)})
}

// errSkip aborts a transaction whose job has nothing left to do.
var errSkip = errors.New("nothing to do")

func (s *Service) logSkip(err error, key, id, what string) {
	if errors.Is(err, errSkip) {
		return
	}
	s.log.Error().Err(err).Str(key, id).Str("job", what).Msg("timer job failed")
}

// resumeGrant finishes a grant whose provider call a restart interrupted.
// Grant and revoke are idempotent, so calling the provider again is safe.
func (s *Service) resumeGrant(ctx context.Context, id string) {
	g, err := s.loadGrant(id)
	if err != nil || g.State != store.GrantGranting {
		return
	}
	req, err := s.request(g.RequestID)
	if err != nil {
		return
	}
	s.grant(ctx, req, g)
}

func (s *Service) expireRequest(ctx context.Context, id string) {
	req, err := s.request(id)
	if err != nil || req.State.Final() || s.clock.Now().Before(req.ExpiresAt) {
		return
	}
	req, err = s.closeRequest(id, store.RequestExpired, "jitbot", store.EvRequestExpired)
	if err != nil {
		s.logSkip(err, "request_id", id, "expire request")
		return
	}
	rules := rulesOf(req)
	s.updateApproval(ctx, req, rules)
	s.notify(ctx, Notice{Kind: NoticeRequestExpired, Request: req, Rules: rules})
}

// remind re-notifies the approvers of a pending request, each time waiting
// twice as long as before.
func (s *Service) remind(ctx context.Context, id string) {
	var req store.Request
	now := s.clock.Now()
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		var err error
		if req, err = tx.Request(id); err != nil {
			return err
		}
		rules := rulesOf(req)
		last := req.CreatedAt
		if !req.RemindedAt.IsZero() {
			last = req.RemindedAt
		}
		if req.State.Final() || rules.RemindAfter <= 0 ||
			now.Before(last.Add(rules.RemindAfter<<min(req.Reminders, 10))) {
			return errSkip
		}
		req.Reminders++
		req.RemindedAt = now
		if err := tx.PutRequest(req); err != nil {
			return err
		}
		return appendEvents(tx, requestEvent(store.EvRequestReminded, req, "jitbot", now,
			map[string]string{"reminder": strconv.Itoa(req.Reminders)}))
	})
	if err != nil {
		s.logSkip(err, "request_id", id, "remind")
		return
	}
	rules := rulesOf(req)
	s.notify(ctx, Notice{Kind: NoticeReminder, Request: req, Rules: rules,
		Mentions: addressees(rules.Approvers, req.Approvals())})
	s.armRequest(req, rules)
}

func (s *Service) escalate(ctx context.Context, id string) {
	var req store.Request
	now := s.clock.Now()
	err := s.cfg.Store.Update(func(tx *store.Tx) error {
		var err error
		if req, err = tx.Request(id); err != nil {
			return err
		}
		if req.State.Final() || req.Escalated {
			return errSkip
		}
		req.Escalated = true
		if err := tx.PutRequest(req); err != nil {
			return err
		}
		return appendEvents(tx, requestEvent(store.EvRequestEscalated, req, "jitbot", now, nil))
	})
	if err != nil {
		s.logSkip(err, "request_id", id, "escalate")
		return
	}
	rules := rulesOf(req)
	s.log.Info().Str("request_id", id).Msg("request escalated")
	s.updateApproval(ctx, req, rules)
	s.notify(ctx, Notice{Kind: NoticeEscalated, Request: req, Rules: rules,
		Mentions: addressees(rules.BackupApprovers, nil)})
}

// addressees lists whom a reminder or an escalation mentions: refs as the
// policy names them, less the people who approved already.
func addressees(refs []policy.Ref, approved []string) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if !slices.Contains(approved, string(r)) {
			out = append(out, string(r))
		}
	}
	return out
}

// recover loads the stored state and arms its timers: overdue jobs are due
// at once, so the scheduler runs them first.
func (s *Service) recover() error {
	start := time.Now()
	var reqs []store.Request
	var gs []store.Grant
	err := s.cfg.Store.View(func(tx *store.Tx) error {
		var err error
		if reqs, err = tx.PendingRequests(); err != nil {
			return err
		}
		gs, err = tx.LiveGrants()
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range reqs {
		s.armRequest(r, rulesOf(r))
		if !r.Message.Posted() {
			s.sched.add(job{at: r.CreatedAt, kind: jobRepost, id: r.ID, attempt: 1})
		}
	}
	for _, g := range gs {
		switch g.State {
		case store.GrantGranting:
			s.sched.add(job{at: g.CreatedAt, kind: jobResumeGrant, id: g.ID})
		case store.GrantRevoking:
			s.sched.add(job{at: g.NextAttempt, kind: jobRetryRevoke, id: g.ID})
		case store.GrantActive:
			s.armGrant(g)
		}
	}
	armed := len(reqs) + len(gs)
	s.sched.setRecovered(time.Since(start), armed)
	s.log.Info().Int("pending_requests", len(reqs)).Int("live_grants", len(gs)).
		Dur("took", time.Since(start)).Msg("state recovered")
	return nil
}

// repost tries again to post the approval message of a pending request
// whose first post failed, so approvers can see it at all.
func (s *Service) repost(ctx context.Context, j job) {
	// A request still being announced is not missing its message, and two
	// reposts (one from start-up, one from a failed post) must not both post.
	if s.announcingNow(j.id) || !s.claim(j.id) {
		return
	}
	defer s.release(j.id)
	req, err := s.request(j.id)
	if err != nil || req.State.Final() || req.Message.Posted() {
		return
	}
	rules := rulesOf(req)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	ref, err := s.cfg.Notifier.PostApproval(pctx, req, rules)
	cancel()
	if err == nil {
		err = s.saveMessage(req.ID, ref)
	}
	if err != nil {
		s.log.Warn().Err(err).Str("request_id", req.ID).Int("attempt", j.attempt).
			Msg("approval message still not posted")
		s.retryMessage(j)
		return
	}
	s.log.Info().Str("request_id", req.ID).Str("channel", ref.Channel).
		Msg("approval message posted on retry")
}

// refresh re-renders an approval message an earlier update missed.
func (s *Service) refresh(ctx context.Context, j job) {
	req, err := s.request(j.id)
	if err != nil || !req.Message.Posted() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	defer cancel()
	if err := s.cfg.Notifier.UpdateApproval(ctx, req, rulesOf(req)); err != nil {
		s.log.Warn().Err(err).Str("request_id", req.ID).Int("attempt", j.attempt).
			Msg("approval message still not updated")
		s.retryMessage(j)
	}
}

func (s *Service) retryMessage(j job) {
	if j.attempt >= maxMessageRetries {
		return
	}
	j.attempt++
	j.at = s.clock.Now().Add(s.backoff(j.attempt))
	s.sched.add(j)
}
