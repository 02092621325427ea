package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/policy"
)

func runCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Connect to Slack over Socket Mode and serve requests",
		Long: "Connect to Slack over Socket Mode and serve requests. At start it " +
			"checks each provider that can be checked (see check-config --connect) " +
			"and logs a warning for each that fails; it starts anyway, since a " +
			"backend may come up later.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd.ErrOrStderr(), serving)
			if err != nil {
				return err
			}
			log := g.logger(cfg, os.Stderr)
			a, err := app.New(app.Options{Config: cfg, Log: log})
			if errors.Is(err, bolterrors.ErrTimeout) {
				return storeLocked(cfg.Store.Path)
			}
			if err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			pinged := make(chan struct{})
			go func() {
				defer close(pinged)
				warnUnready(ctx, log, cfg, a.Providers())
			}()
			err = a.Run(ctx)
			cancel()
			<-pinged
			return err
		},
	}
}

// warnUnready logs a warning for each of the running providers whose
// backend check fails.
func warnUnready(
	ctx context.Context,
	log zerolog.Logger,
	cfg *config.Config,
	running map[string]grants.Provider,
) {
	for _, p := range pingAll(ctx, cfg, running) {
		if ctx.Err() != nil {
			return
		}
		log.Warn().Str("provider", strings.TrimPrefix(p.Field, "providers.")).
			Str("error", p.Message).Msg("provider check failed")
	}
}

// pingProviders builds the configured providers, checks their backends
// (see pingAll) and closes them again.
func pingProviders(ctx context.Context, cfg *config.Config) []policy.Problem {
	built, err := builtin.Registry().Build(app.ProviderConfigs(cfg), grants.Env{})
	defer closeProviders(built)
	if err != nil {
		// load has checked the settings; a failure here is reported as is.
		return []policy.Problem{{Field: "providers", Message: err.Error()}}
	}
	return pingAll(ctx, cfg, built)
}

// pingAll asks each provider that can check its backend to do so,
// concurrently. Each failed check is one problem under providers.<name>,
// in name order.
func pingAll(ctx context.Context, cfg *config.Config, built map[string]grants.Provider) []policy.Problem {
	names := sortedKeys(built)
	found := make([][]policy.Problem, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		pinger, ok := built[name].(grants.Pinger)
		if !ok {
			continue
		}
		wg.Go(func() {
			err := pinger.Ping(ctx, targetsOf(cfg.Policy, name))
			found[i] = lines("providers."+name, err)
		})
	}
	wg.Wait()
	var out []policy.Problem
	for _, ps := range found {
		out = append(out, ps...)
	}
	return out
}

// lines turns each line of err's text into a problem under key; a nil
// err is none.
func lines(key string, err error) []policy.Problem {
	if err == nil {
		return nil
	}
	var out []policy.Problem
	for _, line := range strings.Split(err.Error(), "\n") {
		out = append(out, policy.Problem{Field: key, Message: line})
	}
	return out
}

func checkConfigCmd(g *globals) *cobra.Command {
	var connect bool
	cmd := &cobra.Command{
		Use:   "check-config",
		Short: "Check the configuration and the policy; list every problem with its key",
		Long: "Check the configuration and the policy; list every problem with its " +
			"key. With --connect it then contacts each provider that can be checked " +
			"(postgres: logs in and checks the account's privileges) and lists " +
			"what fails under providers.<name>.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			cfg, err := g.load(out, serving)
			if err != nil {
				return err
			}
			if connect {
				if problems := pingProviders(cmd.Context(), cfg); len(problems) > 0 {
					g.printProblems(out, problems)
					return silentError{errors.New("provider check failed")}
				}
			}
			p := cfg.Policy
			cat := p.Catalog()
			roles := 0
			for _, r := range cat {
				roles += len(r)
			}
			fmt.Fprintf(out,
				"%s is valid: %d provider(s), %d resource(s), %d role(s), policy %s\n",
				g.configPath, len(cfg.Providers), len(cat), roles, p.Version())
			return nil
		},
	}
	cmd.Flags().BoolVar(&connect, "connect", false,
		"also contact the providers and check their accounts' privileges")
	return cmd
}
