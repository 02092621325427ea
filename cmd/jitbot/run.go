package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/app"
)

func runCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Connect to Slack over Socket Mode and serve requests",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd.ErrOrStderr(), serving)
			if err != nil {
				return err
			}
			log := g.logger(cfg, os.Stderr)
			a, err := app.New(app.Options{Config: cfg, Log: log})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
}

func checkConfigCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config",
		Short: "Check the configuration and the policy; list every problem with its key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd.OutOrStdout(), serving)
			if err != nil {
				return err
			}
			p := cfg.Policy
			cat := p.Catalog()
			roles := 0
			for _, r := range cat {
				roles += len(r)
			}
			fmt.Fprintf(cmd.OutOrStdout(),
				"%s is valid: %d provider(s), %d resource(s), %d role(s), policy %s\n",
				g.configPath, len(cfg.Providers), len(cat), roles, p.Version())
			return nil
		},
	}
}
