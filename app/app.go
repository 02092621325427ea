// Package app wires jitbot's parts into one process: the store, the grant
// providers, the policy (reloaded when its file changes), the Slack bot, the
// lifecycle core and the digest schedule. The jitbot command and the demo
// both run it; tests start it in-process against the Slack emulator.
package app

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/jitbot/jitbot/access"
	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/policy"
	"github.com/jitbot/jitbot/store"
)

// Options configure an App.
type Options struct {
	Config *config.Config
	Log    zerolog.Logger
	// Clock defaults to the real clock; tests pass a fake one.
	Clock clockwork.Clock
	// Providers, when set, replaces the providers built from the config
	// (tests use it to add a recording provider).
	Providers map[string]grants.Provider
}

// App is one running jitbot. Create it with New, run it with Run, once.
type App struct {
	opts      Options
	cfg       *config.Config
	log       zerolog.Logger
	clock     clockwork.Clock
	db        *store.DB
	sink      io.WriteCloser
	providers map[string]grants.Provider
	policy    *policy.Holder
	bot       *bot.Bot
	core      *access.Service

	sinkMu    sync.Mutex
	closeOnce sync.Once
}

// New opens the store and builds the providers, the bot and the core. It
// contacts no remote system. Close releases what New opened if Run is not
// called.
func New(opts Options) (*App, error) {
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	a := &App{opts: opts, cfg: opts.Config, log: opts.Log, clock: opts.Clock}
	if err := a.build(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build() error {
	cfg := a.cfg
	var err error
	if a.sink, err = openSink(cfg.Audit.Sink); err != nil {
		return err
	}
	a.db, err = store.Open(cfg.Store.Path, store.Options{
		Timeout:  time.Second,
		OnAppend: a.writeEvent,
	})
	if err != nil {
		return err // store.Open names the store
	}
	a.providers = a.opts.Providers
	if a.providers == nil {
		a.providers, err = builtin.Registry().Build(ProviderConfigs(cfg), grants.Env{
			Log:   a.log.With().Str("component", "provider").Logger(),
			Clock: a.clock,
		})
		if err != nil {
			return err
		}
	}
	a.policy = policy.NewHolder(cfg.Policy)
	a.bot, err = bot.New(bot.Options{
		AppToken:      cfg.Slack.AppToken.Reveal(),
		BotToken:      cfg.Slack.BotToken.Reveal(),
		APIURL:        cfg.Slack.APIURL,
		Log:           a.log,
		Clock:         a.clock,
		Timeout:       cfg.Timers.SlackTimeout,
		AdminChannel:  cfg.Slack.AdminChannel,
		ReviewChannel: cfg.Slack.ReviewChannel,
		Reviewer:      a,
	})
	if err != nil {
		return err
	}
	a.core, err = access.New(access.Config{
		Store:           a.db,
		Policy:          a.policy.Current,
		Directory:       a.bot,
		Notifier:        a.bot,
		Providers:       a.providers,
		Clock:           a.clock,
		Log:             a.log,
		ProviderTimeout: cfg.Timers.ProviderTimeout,
		NotifyTimeout:   cfg.Timers.SlackTimeout,
		RetryMin:        cfg.Timers.RevokeRetryMin,
		RetryMax:        cfg.Timers.RevokeRetryMax,
	})
	return err
}

// Core returns the lifecycle core, for the CLI and tests.
func (a *App) Core() *access.Service { return a.core }

// Providers returns the providers the core grants through. They belong to
// the App, which closes them.
func (a *App) Providers() map[string]grants.Provider { return a.providers }

// Store returns the open store.
func (a *App) Store() *store.DB { return a.db }

// Run connects to Slack and runs the core, the policy watcher and the digest
// until ctx is done or one of them fails. It closes the store on return.
func (a *App) Run(ctx context.Context) error {
	defer a.Close()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.bot.Run(ctx, a.core) })
	g.Go(func() error { return a.core.Run(ctx) })
	if a.cfg.PolicySource() != "" {
		g.Go(func() error { return a.watchPolicy(ctx) })
	}
	if a.cfg.Digest.Enabled {
		g.Go(func() error { return a.runDigest(ctx) })
	}
	a.log.Info().Str("store", a.cfg.Store.Path).Int("providers", len(a.providers)).
		Str("policy_version", a.policy.Current().Version()).Msg("jitbot started")
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	a.log.Info().Msg("jitbot stopped")
	return err
}

// Close releases the store, the audit sink and the providers. It is safe to
// call more than once.
func (a *App) Close() {
	a.closeOnce.Do(func() {
		if a.db != nil {
			if err := a.db.Close(); err != nil {
				a.log.Error().Err(err).Msg("close store")
			}
		}
		for name, p := range a.providers {
			if c, ok := p.(io.Closer); ok {
				if err := c.Close(); err != nil {
					a.log.Warn().Err(err).Str("provider", name).Msg("close provider")
				}
			}
		}
		a.sinkMu.Lock()
		if a.sink != nil {
			_ = a.sink.Close()
			a.sink = nil
		}
		a.sinkMu.Unlock()
	})
}

// ProviderConfigs returns the configured providers in the registry's terms.
func ProviderConfigs(cfg *config.Config) map[string]grants.Config {
	out := make(map[string]grants.Config, len(cfg.Providers))
	for name, pc := range cfg.Providers {
		out[name] = grants.Config{Type: pc.Type, Settings: pc.Settings}
	}
	return out
}
