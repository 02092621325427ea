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
	"slices"
	"strings"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/policy"
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
		os.Exit(exitCode(err))
	}
}

// exitDrift is the exit status of grants reconcile when memberships without
// a live grant remain after the run.
const exitDrift = 3

// exitError ends the command with a status of its own, so that a script can
// tell that outcome from a failure (status 1).
type exitError struct {
	code int
	error
}

// exitCode is the process status for a command's error: an exitError's
// code, else 1.
func exitCode(err error) int {
	var e exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
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

// needs says what a command uses beyond the store and the policy, so that
// no command is refused for settings it never reads.
type needs struct {
	// slack: the command calls Slack, so both tokens must be usable.
	slack bool
	// providers: the command builds the providers, so load builds them
	// once to check their settings.
	providers bool
	// appends: the command writes audit events, which go to audit.sink as
	// well, as the running bot's do.
	appends bool
}

var (
	// serving is what run and check-config need: everything.
	serving = needs{slack: true, providers: true}
	// offline is what the commands that only read the store need.
	offline = needs{}
)

// load reads the configuration and refuses it, listing every problem, when
// the parts the command needs do not check out.
func (g *globals) load(w io.Writer, n needs) (*config.Config, error) {
	cfg, err := config.Load(g.configPath)
	if err != nil {
		return nil, err
	}
	problems := cfg.Check(builtin.Registry().Types())
	if !n.slack {
		problems = slices.DeleteFunc(problems, isTokenProblem)
	}
	if n.providers {
		problems = append(problems, providerProblems(cfg)...)
	}
	if len(problems) > 0 {
		g.printProblems(w, problems)
		return nil, silentError{errors.New("invalid configuration")}
	}
	return cfg, nil
}

// printProblems lists problems found in the configuration, one a line.
func (g *globals) printProblems(w io.Writer, problems []policy.Problem) {
	fmt.Fprintf(w, "%s has %d problem(s):\n", g.configPath, len(problems))
	for _, p := range problems {
		fmt.Fprintf(w, "  %s: %s\n", p.Field, p.Message)
	}
}

// isTokenProblem says whether p concerns a Slack token, which only the
// commands that call Slack read.
func isTokenProblem(p policy.Problem) bool {
	key := strings.TrimSuffix(p.Field, "_file")
	return key == "slack.app_token" || key == "slack.bot_token"
}

// providerProblems builds every provider whose type is known, as run does,
// and returns what the constructors refused, under each provider's key; the
// providers built are closed again. Constructors do not contact backends.
// Unknown or missing types are left to Config.Check, which names them.
func providerProblems(cfg *config.Config) []policy.Problem {
	reg := builtin.Registry()
	cfgs := app.ProviderConfigs(cfg)
	var out []policy.Problem
	for _, name := range sortedKeys(cfgs) {
		if _, known := reg[cfgs[name].Type]; !known {
			continue
		}
		key := "providers." + name
		built, err := reg.Build(map[string]grants.Config{name: cfgs[name]}, grants.Env{})
		closeProviders(built)
		if err == nil {
			continue
		}
		// Build prefixes the key; each joined cause is one line.
		out = append(out, lines(key, errors.New(strings.TrimPrefix(err.Error(), key+": ")))...)
	}
	return out
}

// logger builds the process logger from the config and the flag.
func (g *globals) logger(cfg *config.Config, w io.Writer) zerolog.Logger {
	format := cfg.Log.Format
	if g.logFormat != "" {
		format = g.logFormat
	}
	if format == "console" {
		w = consoleWriter(w)
	}
	level, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil || cfg.Log.Level == "" {
		level = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// consoleWriter formats log lines for people, in colour only when w is a
// terminal that takes it, so files and pipes get plain text.
func consoleWriter(w io.Writer) zerolog.ConsoleWriter {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05", NoColor: !colourful(w)}
}

// colourful says whether w is a terminal that takes escape codes: not when
// NO_COLOR is set or TERM is dumb.
func colourful(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}
