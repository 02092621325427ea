package app

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/review"
)

// runDigest posts the weekly digest on the configured cron schedule, in
// the configured time zone, until ctx is done.
func (a *App) runDigest(ctx context.Context) error {
	loc, err := time.LoadLocation(a.cfg.Digest.Timezone)
	if err != nil {
		return fmt.Errorf("digest timezone %q: %w", a.cfg.Digest.Timezone, err)
	}
	s, err := gocron.NewScheduler(gocron.WithClock(a.clock), gocron.WithLocation(loc))
	if err != nil {
		return fmt.Errorf("digest scheduler: %w", err)
	}
	_, err = s.NewJob(gocron.CronJob(a.cfg.Digest.Schedule, false),
		gocron.NewTask(func() { a.postDigest(ctx, loc) }),
		gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("digest schedule %q: %w", a.cfg.Digest.Schedule, err)
	}
	s.Start()
	<-ctx.Done()
	return s.Shutdown()
}

// postDigest summarises the last seven days and posts it to the review
// channel.
func (a *App) postDigest(ctx context.Context, loc *time.Location) {
	d, err := review.Digest(a.db, PolicyView(a.policy.Current()), a.clock.Now(), loc)
	if err != nil {
		a.log.Error().Err(err).Msg("digest not built")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, a.cfg.Timers.SlackTimeout)
	defer cancel()
	ch := a.cfg.Slack.ReviewChannel
	if ch == "" {
		ch = a.cfg.Slack.AdminChannel
	}
	if _, err := a.bot.Post(pctx, ch, d.Text()); err != nil {
		a.log.Error().Err(err).Str("channel", ch).Msg("digest not posted")
		return
	}
	a.log.Info().Str("channel", ch).Msg("digest posted")
}

// PolicyView presents a policy's roles to the review.
func PolicyView(p *policy.Policy) review.StaticPolicy {
	var out review.StaticPolicy
	for resource, roles := range p.Catalog() {
		for _, role := range roles {
			r, _ := p.Rules(resource, role)
			info := review.RoleInfo{Resource: resource, Role: role,
				Provider: r.Provider, MaxDuration: r.MaxDuration}
			for _, ref := range r.Approvers {
				info.Approvers = append(info.Approvers, string(ref))
			}
			out = append(out, info)
		}
	}
	return out
}
