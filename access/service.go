// Package access is jitbot's lifecycle core: it takes requests, applies the
// policy, records decisions, calls grant providers and takes access back when
// its time is up. It knows nothing of Slack; it speaks to people through a
// Notifier and keeps every state in the store, committing each transition
// with its audit event before anyone is told about it.
//
// A Service is safe for concurrent use. Its timers run inside Run, which owns
// every goroutine the service starts.
package access

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// Store is the persistence the core needs: bbolt-style closures that commit
// or roll back as a whole.
type Store interface {
	Update(fn func(*store.Tx) error) error
	// Batch is Update for hot paths with many concurrent writers: calls may
	// share a transaction, and fn may run more than once.
	Batch(fn func(*store.Tx) error) error
	View(fn func(*store.Tx) error) error
}

// Config holds a Service's dependencies. Store, Policy, Directory, Notifier
// and Providers are required; zero durations take the defaults below.
type Config struct {
	Store     Store
	Policy    func() *policy.Policy
	Directory policy.Directory
	Notifier  Notifier
	Providers map[string]grants.Provider
	Clock     clockwork.Clock
	Log       zerolog.Logger

	// ProviderTimeout bounds one provider call (default 30s).
	ProviderTimeout time.Duration
	// NotifyTimeout bounds one notice (default 10s).
	NotifyTimeout time.Duration
	// RetryMin and RetryMax bound the backoff of failed revokes
	// (defaults 5s and 5m).
	RetryMin, RetryMax time.Duration
	// Workers bounds how many timer actions run at once (default 16).
	Workers int
}

// Service runs the request and grant lifecycle.
type Service struct {
	cfg   Config
	log   zerolog.Logger
	clock clockwork.Clock
	sched *scheduler

	// inflight holds the grant ids whose provider call is running, so two
	// paths (a timer and a click) never revoke the same grant at once, and
	// the request ids whose approval message is being posted again.
	mu       sync.Mutex
	inflight map[string]bool
	// announcing holds, per new request, a channel closed once the place
	// of its approval message is stored. A click can only come after the
	// post, but it may beat the storing of where the post went.
	announcing map[string]chan struct{}
}

// New checks cfg and returns a Service. Call Run to start its timers.
func New(cfg Config) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("access: store is required"))
	}
	if cfg.Policy == nil {
		errs = append(errs, errors.New("access: policy is required"))
	}
	if cfg.Directory == nil {
		errs = append(errs, errors.New("access: directory is required"))
	}
	if cfg.Notifier == nil {
		errs = append(errs, errors.New("access: notifier is required"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	setDefaults(&cfg)
	s := &Service{
		cfg:        cfg,
		log:        cfg.Log.With().Str("component", "access").Logger(),
		clock:      cfg.Clock,
		inflight:   make(map[string]bool),
		announcing: make(map[string]chan struct{}),
	}
	s.sched = newScheduler(cfg.Clock, cfg.Workers, s.fire)
	return s, nil
}

func setDefaults(cfg *Config) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.ProviderTimeout <= 0 {
		cfg.ProviderTimeout = 30 * time.Second
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 10 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 5 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryMin)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Providers == nil {
		cfg.Providers = map[string]grants.Provider{}
	}
}

// Run recovers the stored state (overdue grants are revoked at once, the
// rest re-armed, stale pending requests expired) and then runs the timers
// until ctx is done. It waits for in-flight actions before returning.
func (s *Service) Run(ctx context.Context) error {
	if err := s.recover(); err != nil {
		return fmt.Errorf("recover state: %w", err)
	}
	return s.sched.run(ctx)
}

// Recovered reports after how long the last Run finished loading and
// re-arming the stored state, and how many timers it armed. It is zero before
// Run has recovered.
func (s *Service) Recovered() (time.Duration, int) {
	return s.sched.recovered()
}

// Catalog lists the resources and their roles in the current policy.
func (s *Service) Catalog() map[string][]string {
	return s.cfg.Policy().Catalog()
}

// idEncoding yields short, lowercase ids that are easy to type in Slack.
var idEncoding = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").
	WithPadding(base32.NoPadding)

func newID(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// normalizeID accepts ids as people paste them: trimmed, any case.
func normalizeID(id string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(id), "`'\"“”‘’"))
}

// notify sends a notice with its own deadline. A failed notice is logged and
// never undoes the stored state it reports.
func (s *Service) notify(ctx context.Context, n Notice) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	defer cancel()
	if err := s.cfg.Notifier.Notify(ctx, n); err != nil {
		s.log.Warn().Err(err).Str("notice", string(n.Kind)).
			Str("request_id", n.Request.ID).Str("grant_id", n.Grant.ID).
			Msg("notice not delivered")
	}
}

func (s *Service) updateApproval(ctx context.Context, req store.Request, rules policy.Rules) {
	if !req.Message.Posted() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.NotifyTimeout)
	defer cancel()
	if err := s.cfg.Notifier.UpdateApproval(ctx, req, rules); err != nil {
		s.log.Warn().Err(err).Str("request_id", req.ID).
			Str("channel", req.Message.Channel).Msg("approval message not updated")
		// A message left showing buttons misleads; try again later with
		// whatever the request then is.
		s.sched.add(job{at: s.clock.Now().Add(s.backoff(1)), kind: jobRefresh, id: req.ID,
			attempt: 1})
	}
}

// maxMessageRetries bounds the retries of posting or updating one approval
// message; after them the log has the error and stale buttons heal on the
// next click.
const maxMessageRetries = 8

func rulesOf(req store.Request) policy.Rules {
	r, err := policy.UnmarshalRules(req.Rules)
	if err != nil {
		// Stored by this package; a broken snapshot keeps the
		// request's own names so messages still make sense.
		return policy.Rules{Resource: req.Resource, Role: req.Role}
	}
	return r
}

// beginAnnounce marks a request whose approval message is being posted.
func (s *Service) beginAnnounce(id string) {
	s.mu.Lock()
	s.announcing[id] = make(chan struct{})
	s.mu.Unlock()
}

// endAnnounce marks the message's place as stored (or the post as failed).
func (s *Service) endAnnounce(id string) {
	s.mu.Lock()
	ch := s.announcing[id]
	delete(s.announcing, id)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// announcingNow reports whether the request's approval message is being
// posted right now.
func (s *Service) announcingNow(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.announcing[id]
	return ok
}

// awaitAnnounce waits, within the notice deadline, until the request's
// approval message has a stored place, so what follows a decision updates
// that message and replies in its thread.
func (s *Service) awaitAnnounce(ctx context.Context, id string) {
	s.mu.Lock()
	ch := s.announcing[id]
	s.mu.Unlock()
	if ch == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.NotifyTimeout)
	defer cancel()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}
