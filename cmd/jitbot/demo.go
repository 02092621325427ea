package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/internal/slackfake"
)

// The demo's workspace: a requester, an approver, an approval channel.
const (
	demoAppToken = "xapp-1-A0JITBOT-1-demo"
	demoBotToken = "xoxb-1-demo-token"
	demoAlice    = "U0ALICE"
	demoBob      = "U0BOB"
	demoChannel  = "C0APPROVALS"
	demoRoom     = "C0INCIDENT"
)

const demoConfig = `
slack:
  app_token: %q
  bot_token: %q
  api_url: %q
  admin_channel: C0ADMIN
store:
  path: %q
log:
  format: console
  level: %s
digest:
  enabled: false
providers:
  demo-file:
    type: exec
    settings:
      grant: [%q, demo-provider, --file, %q, grant, "{{ .Principal }}", "{{ .Target }}"]
      revoke: [%q, demo-provider, --file, %q, revoke, "{{ .Principal }}", "{{ .Target }}"]
      timeout: 10s
policy:
  groups:
    dba: [U0BOB]
  defaults:
    approval_timeout: 10m
    reason: {min_length: 10}
  resources:
    prod-db:
      description: Production orders database
      provider: demo-file
      principal: "{{ .EmailLocal }}"
      roles:
        readonly:
          target: orders_readonly
          channel: C0APPROVALS
          approvers: [group:dba]
          max_duration: 1h
          default_duration: 15m
          warn_before: 6s
`

func demoCmd(_ *globals) *cobra.Command {
	var verbose bool
	var hold time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow against the built-in Slack emulator and print a transcript",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hold < 8*time.Second || hold > time.Hour {
				return fmt.Errorf("--hold %s: use between 8s and 1h", hold)
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), verbose, hold)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print jitbot's log")
	cmd.Flags().DurationVar(&hold, "hold", 12*time.Second, "how long the demo grant lasts")
	return cmd
}

// demo is one run of the scripted flow.
type demo struct {
	out  io.Writer
	mu   sync.Mutex
	srv  *slackfake.Server
	file string
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, "\n▶ "+format+"\n", args...)
}

func (d *demo) show(e slackfake.Event) {
	if e.Kind == slackfake.EventEnvelope {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, line := range strings.Split(e.String(), "\n") {
		prefix := "  slack │ "
		if i > 0 {
			prefix = "  slack │"
		}
		fmt.Fprintln(d.out, prefix+line)
	}
}

func runDemo(ctx context.Context, out io.Writer, verbose bool, hold time.Duration) error {
	dir, err := os.MkdirTemp("", "jitbot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := &demo{out: out, file: filepath.Join(dir, "granted-roles.txt")}
	d.srv = slackfake.New(slackfake.Options{
		AppToken: demoAppToken,
		BotToken: demoBotToken,
		Users: []slackfake.User{
			{ID: demoAlice, Name: "alice", RealName: "Alice Ops", Email: "alice@example.com"},
			{ID: demoBob, Name: "bob", RealName: "Bob DBA", Email: "bob@example.com"},
		},
		Channels: []slackfake.Channel{{ID: demoChannel, Name: "db-approvals"},
			{ID: demoRoom, Name: "incident"}},
		OnEvent: d.show,
	})
	defer d.srv.Close()

	cfg, err := d.config(dir, verbose)
	if err != nil {
		return err
	}
	logOut := io.Discard
	if verbose {
		logOut = os.Stderr
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: logOut, TimeFormat: "15:04:05"}).
		With().Timestamp().Logger()
	a, err := app.New(app.Options{Config: cfg, Log: log})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	fmt.Fprintf(out, "jitbot demo: the bot against the built-in Slack emulator (%s)\n",
		d.srv.APIURL())
	fmt.Fprintf(out, "store %s; the exec provider writes granted roles to %s\n",
		cfg.Store.Path, d.file)
	scriptErr := d.script(ctx, hold)
	cancel()
	if err := <-done; err != nil && scriptErr == nil {
		scriptErr = err
	}
	if scriptErr != nil {
		return fmt.Errorf("demo: %w", scriptErr)
	}
	d.say("done: requested, refused, approved, granted, warned, revoked")
	return nil
}

func (d *demo) config(dir string, verbose bool) (*config.Config, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	level := "warn"
	if verbose {
		level = "info"
	}
	path := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(demoConfig, demoAppToken, demoBotToken, d.srv.APIURL(),
		filepath.Join(dir, "jitbot.db"), level, self, d.file, self, d.file)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if problems := cfg.Check([]string{"exec"}); len(problems) > 0 {
		return nil, fmt.Errorf("demo config: %s: %s", problems[0].Field, problems[0].Message)
	}
	return cfg, nil
}

// script plays the people: alice asks (badly, then well), tries to approve
// her own request, bob approves, and the clock runs out.
func (d *demo) script(ctx context.Context, hold time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, hold+time.Minute)
	defer cancel()
	if err := d.srv.WaitFor(ctx, func() bool { return d.srv.LiveConnections() > 0 }); err != nil {
		return errors.New("the bot did not connect to the emulator")
	}

	d.say("alice types a request without a unit on the duration")
	if _, err := d.srv.SlashCommand(ctx, demoAlice, demoRoom, "/jit",
		"request prod-db readonly 90 fix"); err != nil {
		return err
	}
	d.waitEphemerals(ctx, demoAlice, 1)

	text := fmt.Sprintf("request prod-db readonly %s INC-4711 checkout failing, need to read orders",
		hold)
	d.say("alice types: /jit %s", text)
	if _, err := d.srv.SlashCommand(ctx, demoAlice, demoRoom, "/jit", text); err != nil {
		return err
	}
	msg, err := d.approvalMessage(ctx)
	if err != nil {
		return err
	}

	d.say("alice clicks Approve on her own request")
	if _, err := d.srv.Click(ctx, demoAlice, msg, "jit_approve", ""); err != nil {
		return err
	}
	d.waitEphemerals(ctx, demoAlice, 3)

	d.say("bob clicks Approve")
	if _, err := d.srv.Click(ctx, demoBob, msg, "jit_approve", ""); err != nil {
		return err
	}
	if err := d.waitFile(ctx, true); err != nil {
		return err
	}
	d.say("the provider's file now reads: %s", d.fileText())

	d.say("time passes; the grant runs out after %s", hold)
	if err := d.waitFile(ctx, false); err != nil {
		return err
	}
	// The revocation notice follows the stored revoke.
	_ = d.srv.WaitFor(ctx, func() bool { return len(d.srv.DMs(demoAlice)) >= 4 })
	d.say("the provider's file now reads: %s", d.fileText())
	return nil
}

func (d *demo) waitEphemerals(ctx context.Context, user string, n int) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = d.srv.WaitFor(wctx, func() bool { return len(d.srv.Ephemerals(user)) >= n })
}

func (d *demo) approvalMessage(ctx context.Context) (slackfake.MessageRef, error) {
	var ref slackfake.MessageRef
	err := d.srv.WaitFor(ctx, func() bool {
		msgs := d.srv.Messages(demoChannel)
		if len(msgs) == 0 {
			return false
		}
		ref = slackfake.MessageRef{Channel: demoChannel, TS: msgs[0].TS}
		return true
	})
	if err != nil {
		return ref, errors.New("no approval message was posted")
	}
	return ref, nil
}

func (d *demo) waitFile(ctx context.Context, granted bool) error {
	for {
		has := bytes.Contains([]byte(d.fileText()), []byte("alice"))
		if has == granted {
			return nil
		}
		select {
		case <-ctx.Done():
			if granted {
				return errors.New("the role was not granted")
			}
			return errors.New("the role was not revoked")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *demo) fileText() string {
	b, err := os.ReadFile(d.file)
	if err != nil || len(bytes.TrimSpace(b)) == 0 {
		return "(empty)"
	}
	return strings.TrimSpace(string(b))
}

// demoProviderCmd is the demo's grant backend: it keeps "principal target"
// lines in a file. It runs as the exec provider's command, without a shell.
func demoProviderCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:    "demo-provider grant|revoke PRINCIPAL TARGET",
		Hidden: true,
		Args:   cobra.ExactArgs(3),
		RunE: func(_ *cobra.Command, args []string) error {
			return editGrantFile(file, args[0], args[1]+" "+args[2])
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "file of granted roles")
	return cmd
}

func editGrantFile(file, action, line string) error {
	b, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" && l != line {
			keep = append(keep, l)
		}
	}
	switch action {
	case "grant":
		keep = append(keep, line)
	case "revoke":
	default:
		return fmt.Errorf("action %q: use grant or revoke", action)
	}
	out := strings.Join(keep, "\n")
	if out != "" {
		out += "\n"
	}
	return os.WriteFile(file, []byte(out), 0o600)
}
