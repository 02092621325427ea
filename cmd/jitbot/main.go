// Command jitbot runs the Just-In-Time access bot and its operator tools:
// run, demo, check-config, audit, review, grants and policy.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants/builtin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var silent silentError
		if !errors.As(err, &silent) {
			fmt.Fprintln(os.Stderr, "jitbot:", err)
		}
		os.Exit(1)
	}
}

// silentError ends the command with a failure status after the command has
// already printed its own report.
type silentError struct{ error }

type globals struct {
	configPath string
	logFormat  string
}

func rootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "jitbot",
		Short:         "Just-In-Time access for Slack: request, approve, grant, revoke",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "config.yaml",
		"configuration file")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "",
		"log format: json or console (overrides log.format)")
	root.AddCommand(
		runCmd(g), demoCmd(g), checkConfigCmd(g), auditCmd(g), reviewCmd(g),
		grantsCmd(g), policyCmd(g), demoProviderCmd(),
	)
	return root
}

// load reads the configuration and refuses it, listing every problem, when
// it does not check out.
func (g *globals) load(w io.Writer) (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, err
	}
	if problems := cfg.Check(builtin.Registry().Types()); len(problems) > 0 {
		fmt.Fprintf(w, "%s has %d problem(s):\n", g.configPath, len(problems))
		for _, p := range problems {
			fmt.Fprintf(w, "  %s: %s\n", p.Field, p.Message)
		}
		return nil, silentError{errors.New("invalid configuration")}
	}
	return cfg, nil
}

// logger builds the process logger from the config and the flag.
func (g *globals) logger(cfg *config.Config, w io.Writer) zerolog.Logger {
	format := cfg.Log.Format
	if g.logFormat != "" {
		format = g.logFormat
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil || cfg.Log.Level == "" {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}
