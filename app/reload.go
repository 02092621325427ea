package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// watchPolicy reloads the policy when its file changes. A policy that does
// not load or validate is refused: the one in force stays, the problem is
// logged, audited and posted to the admin channel. A change that takes
// effect is audited and announced there too.
func (a *App) watchPolicy(ctx context.Context) error {
	return policy.Watch(ctx, a.cfg.PolicySource(), a.loadPolicy,
		func(p *policy.Policy) { a.policyChanged(ctx, p) },
		func(err error) { a.policyRejected(ctx, err) })
}

// loadPolicy reads the policy afresh and checks it against the providers
// this process runs.
func (a *App) loadPolicy() (*policy.Policy, error) {
	p, err := a.cfg.LoadPolicy()
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(a.providers))
	for name := range a.providers {
		known[name] = true
	}
	if problems := p.Validate(known); len(problems) > 0 {
		return nil, &policy.ValidationError{Problems: problems}
	}
	return p, nil
}

func (a *App) policyChanged(ctx context.Context, p *policy.Policy) {
	old := a.policy.Swap(p)
	a.audit(store.EvPolicyChanged, map[string]string{
		"version": p.Version(), "previous": old.Version(),
	})
	a.log.Info().Str("policy_version", p.Version()).Str("previous", old.Version()).
		Msg("policy reloaded")
	if a.cfg.Slack.AdminChannel == "" {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, a.cfg.Timers.SlackTimeout)
	defer cancel()
	text := fmt.Sprintf("🔄 Policy `%s` is now in force (was `%s`). Pending requests "+
		"keep the rules of the policy they were made under.", p.Version(), old.Version())
	if _, err := a.bot.Post(nctx, a.cfg.Slack.AdminChannel, text); err != nil {
		a.log.Warn().Err(err).Msg("policy change not posted")
	}
}

func (a *App) policyRejected(ctx context.Context, err error) {
	detail := err.Error()
	var ve *policy.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		detail = ve.Problems[0].Field + ": " + ve.Problems[0].Message
	}
	a.audit(store.EvPolicyRejected, map[string]string{
		"error": detail, "in_force": a.policy.Current().Version(),
	})
	a.log.Error().Err(err).Str("policy_version", a.policy.Current().Version()).
		Msg("policy change refused; the previous policy stays in force")
	nctx, cancel := context.WithTimeout(ctx, a.cfg.Timers.SlackTimeout)
	defer cancel()
	n := access.Notice{Kind: access.NoticePolicyRejected, Text: policyProblems(err)}
	if err := a.bot.Notify(nctx, n); err != nil {
		a.log.Warn().Err(err).Msg("policy rejection not posted")
	}
}

// policyProblems lists a rejected policy's problems for the admin channel.
func policyProblems(err error) string {
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		return "the policy file could not be read or parsed"
	}
	out := ""
	for i, p := range ve.Problems {
		if i == 10 {
			out += "…and more; run `jitbot check-config`\n"
			break
		}
		out += "• " + p.Field + ": " + p.Message + "\n"
	}
	return out
}

// audit appends an event that belongs to no request or grant.
func (a *App) audit(t store.EventType, details map[string]string) {
	err := a.db.Update(func(tx *store.Tx) error {
		_, err := tx.Append(store.Event{Time: a.clock.Now(), Type: t, Actor: "jitbot",
			Details: details})
		return err
	})
	if err != nil {
		a.log.Error().Err(err).Str("event", string(t)).Msg("audit append failed")
	}
}
