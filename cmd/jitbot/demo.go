package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

const (
	// demoWarnBefore is how long before the end jitbot warns the holder.
	demoWarnBefore = 6 * time.Second
	// connectLimit bounds the wait for the bot's Socket Mode connection.
	connectLimit = 10 * time.Second
	// replyLimit bounds the wait for what a person's action causes.
	replyLimit = 10 * time.Second
)

// demoConfig is the demo's whole configuration. It is read without the
// environment, so it names every place the bot may reach: the emulator, a
// store in a temporary directory and the demo's own provider; no audit
// sink, no digest.
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
audit:
  sink: ""
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
          min_duration: 8s
          max_duration: 1h
          default_duration: 15m
          warn_before: %s
`

func demoCmd(_ *globals) *cobra.Command {
	var verbose bool
	var hold time.Duration
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole flow against the built-in Slack emulator and print a transcript",
		Long: "Run the whole flow against the built-in Slack emulator and print a transcript.\n" +
			"The demo reads no configuration and ignores JITBOT_ environment variables:\n" +
			"it reaches only its own emulator, a temporary store and a stand-in provider.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hold < 8*time.Second || hold > time.Hour {
				return fmt.Errorf("--hold %s: use between 8s and 1h", asTyped(hold))
			}
			return runDemo(cmd.Context(), cmd.OutOrStdout(), verbose, hold)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print jitbot's log")
	cmd.Flags().DurationVar(&hold, "hold", 12*time.Second, "how long the demo grant lasts")
	return cmd
}

// demo is one run of the scripted flow. Slack events are shown from the
// emulator's goroutine while the script runs on its own; mu keeps their
// lines apart and guards what has been shown.
type demo struct {
	out   io.Writer
	style style
	srv   *slackfake.Server
	dir   string
	file  string
	start time.Time
	names map[string]string // user and channel ids to the names people see
	steps int

	mu    sync.Mutex
	shown []slackfake.Event
	more  chan struct{} // closed, then replaced, whenever an event is shown
}

func runDemo(ctx context.Context, out io.Writer, verbose bool, hold time.Duration) error {
	dir, err := os.MkdirTemp("", "jitbot-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	d := newDemo(out, dir)
	defer d.srv.Close()

	cfg, err := d.config(verbose)
	if err != nil {
		return err
	}
	a, err := app.New(app.Options{Config: cfg, Log: demoLogger(verbose)})
	if err != nil {
		return err
	}
	d.intro(hold)
	if err := d.run(ctx, a, hold); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	d.outro()
	return nil
}

func newDemo(out io.Writer, dir string) *demo {
	d := &demo{
		out: out, style: styleFor(out), dir: dir, start: time.Now(),
		file: filepath.Join(dir, "granted-roles.txt"),
		names: map[string]string{
			demoAlice: "alice", demoBob: "bob",
			demoChannel: "db-approvals", demoRoom: "incident",
		},
		more: make(chan struct{}),
	}
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
	return d
}

func demoLogger(verbose bool) zerolog.Logger {
	if !verbose {
		return zerolog.Nop()
	}
	return zerolog.New(consoleWriter(os.Stderr)).
		Level(zerolog.InfoLevel).With().Timestamp().Logger()
}

func (d *demo) config(verbose bool) (*config.Config, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	level := "warn"
	if verbose {
		level = "info"
	}
	path := filepath.Join(d.dir, "config.yaml")
	text := fmt.Sprintf(demoConfig, demoAppToken, demoBotToken, d.srv.APIURL(),
		filepath.Join(d.dir, "jitbot.db"), level, self, d.file, self, d.file,
		asTyped(demoWarnBefore))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, err
	}
	// The file alone decides: JITBOT_ variables meant for a real deployment
	// must not point the demo at a real store, token or workspace.
	cfg, err := config.LoadFile(path)
	if err != nil {
		return nil, err
	}
	if problems := cfg.Check([]string{"exec"}); len(problems) > 0 {
		return nil, fmt.Errorf("demo config: %s: %s", problems[0].Field, problems[0].Message)
	}
	return cfg, nil
}

// run plays the script while the bot runs, then stops the bot. A bot that
// stops early ends the script, and its reason is the script's error.
func (d *demo) run(ctx context.Context, a *app.App, hold time.Duration) error {
	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	scriptCtx, endScript := context.WithCancelCause(ctx)
	defer endScript(nil)
	done := make(chan error, 1)
	go func() {
		err := a.Run(botCtx)
		stopped := errors.New("the bot stopped")
		if err != nil {
			stopped = fmt.Errorf("the bot stopped: %w", err)
		}
		endScript(stopped)
		done <- err
	}()

	scriptErr := d.script(scriptCtx, hold)
	stopBot()
	if err := <-done; err != nil && scriptErr == nil {
		return err
	}
	return scriptErr
}

// script plays the people: alice asks (badly, then well), tries to approve
// her own request, bob approves, and the clock runs out.
func (d *demo) script(ctx context.Context, hold time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, hold+time.Minute)
	defer cancel()
	if err := d.connect(ctx); err != nil {
		return err
	}

	d.step("alice asks for access and leaves the unit off the duration")
	_, err := d.types(ctx, demoAlice, demoRoom, "request prod-db readonly 90 fix",
		ephemeralTo(demoAlice, demoRoom))
	if err != nil {
		return err
	}

	d.step("she asks again with a unit and a reason; jitbot asks the dba group")
	text := fmt.Sprintf("request prod-db readonly %s "+
		"INC-4711 checkout failing, need to read orders", asTyped(hold))
	got, err := d.types(ctx, demoAlice, demoRoom, text,
		posted(demoChannel), dmTo(demoAlice), ephemeralTo(demoAlice, demoRoom))
	if err != nil {
		return err
	}
	request := got[0]

	d.step("alice tries to approve her own request")
	_, err = d.clicks(ctx, demoAlice, request, "Approve", "jit_approve",
		ephemeralTo(demoAlice, demoChannel))
	if err != nil {
		return err
	}

	d.step("bob, a dba, approves it and the provider grants the role")
	_, err = d.clicks(ctx, demoBob, request, "Approve", "jit_approve",
		updated(request), reply(request), dmTo(demoAlice), ephemeralTo(demoBob, demoChannel))
	if err != nil {
		return err
	}
	if err := d.checkFile(true); err != nil {
		return err
	}
	return d.expire(ctx, request, hold)
}

// expire waits out the grant: the warning, then the revocation.
func (d *demo) expire(ctx context.Context, request slackfake.Event, hold time.Duration) error {
	d.step("time passes; %s before the end, jitbot warns alice", asTyped(demoWarnBefore))
	mark := d.mark()
	if _, err := d.await(ctx, mark, hold+replyLimit, reply(request), dmTo(demoAlice)); err != nil {
		return err
	}

	d.step("after %s the grant ends: jitbot revokes the role and says so", asTyped(hold))
	mark = d.mark()
	_, err := d.await(ctx, mark, demoWarnBefore+replyLimit, reply(request), dmTo(demoAlice))
	if err != nil {
		return err
	}
	return d.checkFile(false)
}

// connect waits for the bot's Socket Mode connection and, failing that,
// says how far the bot got.
func (d *demo) connect(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, connectLimit)
	defer cancel()
	err := d.srv.WaitFor(wctx, func() bool { return d.srv.LiveConnections() > 0 })
	if err == nil {
		return nil
	}
	if cause := context.Cause(wctx); !errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("the bot did not connect to the emulator: %w", cause)
	}
	return fmt.Errorf("the bot did not connect to the emulator within %s: %s",
		asTyped(connectLimit), d.lastCall())
}

// lastCall says how far the bot got with the emulator's Web API.
func (d *demo) lastCall() string {
	calls := d.srv.Calls()
	if len(calls) == 0 {
		return "it made no Web API call"
	}
	c := calls[len(calls)-1]
	if c.Error != "" {
		return fmt.Sprintf("its last Web API call, %s, failed with %s", c.Method, c.Error)
	}
	return fmt.Sprintf("its last Web API call, %s, succeeded, "+
		"but no Socket Mode connection opened", c.Method)
}

// types has user type a /jit command in a channel, then waits for what it
// causes.
func (d *demo) types(
	ctx context.Context,
	user, channel, text string,
	wants ...want,
) ([]slackfake.Event, error) {
	d.act("%s types in #%s:  /jit %s", d.name(user), d.name(channel), text)
	mark := d.mark()
	if _, err := d.srv.SlashCommand(ctx, user, channel, "/jit", text); err != nil {
		return nil, fmt.Errorf("%s types /jit: %w", d.name(user), err)
	}
	return d.await(ctx, mark, replyLimit, wants...)
}

// clicks has user press a button on msg, then waits for what it causes.
func (d *demo) clicks(
	ctx context.Context,
	user string,
	msg slackfake.Event,
	label, actionID string,
	wants ...want,
) ([]slackfake.Event, error) {
	d.act("%s clicks [%s]", d.name(user), label)
	mark := d.mark()
	ref := slackfake.MessageRef{Channel: msg.Channel, TS: msg.TS}
	if _, err := d.srv.Click(ctx, user, ref, actionID, ""); err != nil {
		return nil, fmt.Errorf("%s clicks %s: %w", d.name(user), label, err)
	}
	return d.await(ctx, mark, replyLimit, wants...)
}

// want is an event a step waits to have shown.
type want struct {
	what  string
	match func(slackfake.Event) bool
}

func posted(channel string) want {
	return want{"a message in the channel", func(e slackfake.Event) bool {
		return e.Kind == slackfake.EventMessage && e.Channel == channel && e.ThreadTS == ""
	}}
}

func reply(to slackfake.Event) want {
	return want{"a reply in the request's thread", func(e slackfake.Event) bool {
		return e.Kind == slackfake.EventMessage && e.Channel == to.Channel &&
			e.ThreadTS == to.TS
	}}
}

func updated(msg slackfake.Event) want {
	return want{"an update of the request message", func(e slackfake.Event) bool {
		return e.Kind == slackfake.EventUpdate && e.Channel == msg.Channel && e.TS == msg.TS
	}}
}

func dmTo(user string) want {
	return want{"a direct message to " + user, func(e slackfake.Event) bool {
		return e.Kind == slackfake.EventDM && e.User == user
	}}
}

func ephemeralTo(user, channel string) want {
	return want{"an ephemeral reply to " + user, func(e slackfake.Event) bool {
		return e.Kind == slackfake.EventEphemeral && e.User == user && e.Channel == channel
	}}
}

// mark returns the position after the events shown so far.
func (d *demo) mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.shown)
}

// await waits, up to limit, until every want matches an event shown after
// mark, and returns the first match of each in the order asked.
func (d *demo) await(
	ctx context.Context,
	mark int,
	limit time.Duration,
	wants ...want,
) ([]slackfake.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		d.mu.Lock()
		found, missing := matchWants(d.shown[mark:], wants)
		more := d.more
		d.mu.Unlock()
		if missing == "" {
			return found, nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			cause := context.Cause(ctx)
			if errors.Is(cause, context.DeadlineExceeded) {
				return nil, fmt.Errorf("%s did not come within %s", missing, asTyped(limit))
			}
			return nil, fmt.Errorf("waiting for %s: %w", missing, cause)
		}
	}
}

// matchWants returns the first event matching each want, or what the first
// unmatched want waits for.
func matchWants(events []slackfake.Event, wants []want) ([]slackfake.Event, string) {
	found := make([]slackfake.Event, 0, len(wants))
	for _, w := range wants {
		i := indexFunc(events, w.match)
		if i < 0 {
			return nil, w.what
		}
		found = append(found, events[i])
	}
	return found, ""
}

func indexFunc(events []slackfake.Event, match func(slackfake.Event) bool) int {
	for i, e := range events {
		if match(e) {
			return i
		}
	}
	return -1
}

// checkFile shows the provider's file and checks it agrees with the step.
func (d *demo) checkFile(granted bool) error {
	text := d.fileText()
	d.printf("\n  %s now reads: %s\n", filepath.Base(d.file), text)
	has := strings.Contains(text, "alice orders_readonly")
	switch {
	case granted && !has:
		return errors.New("the provider did not grant the role")
	case !granted && has:
		return errors.New("the provider did not revoke the role")
	}
	return nil
}

func (d *demo) fileText() string {
	b, err := os.ReadFile(d.file)
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return "(empty)"
	}
	return strings.TrimSpace(string(b))
}

// asTyped writes d as a person types it: 1m, 90s, 2h.
func asTyped(d time.Duration) string {
	switch {
	case d <= 0 || d%time.Second != 0:
		return d.String()
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// The transcript. Each step opens with a numbered heading and what the
// person does; the Slack events it causes follow, each under the time since
// the start and the place it appeared, rendered as Slack would show it.

func (d *demo) intro(hold time.Duration) {
	d.printf("%s: the real bot against a Slack workspace emulated in this process.\n",
		d.style.bold("jitbot demo"))
	d.printf("Nothing leaves this machine; JITBOT_ settings in the environment are ignored.\n")
	d.printf("alice needs read access to prod-db for %s; bob, a dba, approves in #db-approvals.\n",
		asTyped(hold))
	d.printf("A stand-in provider writes granted roles to %s.\n", d.file)
	d.printf("Each Slack event shows the time since the start and where it appeared.\n")
}

func (d *demo) outro() {
	d.printf("\n%s asked for, approved (not by its requester), granted, "+
		"warned about and revoked.\n", d.style.bold("That is a grant's whole life:"))
	d.printf("Run jitbot demo -v to see the bot's log too, or --hold 1m for a longer grant.\n")
}

func (d *demo) step(format string, args ...any) {
	d.steps++
	heading := fmt.Sprintf("%d. ", d.steps) + fmt.Sprintf(format, args...)
	d.printf("\n%s %s\n", d.style.bold("▶"), d.style.bold(heading))
}

// act shows what a person does, or what the demo sees outside Slack.
func (d *demo) act(format string, args ...any) {
	d.printf("  "+format+"\n", args...)
}

func (d *demo) printf(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// show prints one Slack event and records it as shown. The emulator calls
// it in order from its own goroutine; socket envelopes are the bot's input,
// not something a person sees, so they are left out.
func (d *demo) show(e slackfake.Event) {
	if e.Kind == slackfake.EventEnvelope {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n  %s %s\n", d.style.dim(d.elapsed(e.Time)), d.style.dim(d.where(e)))
	for _, line := range d.body(e) {
		fmt.Fprintf(&b, "       %s %s\n", d.style.dim("│"), line)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = io.WriteString(d.out, b.String())
	d.shown = append(d.shown, e)
	close(d.more)
	d.more = make(chan struct{})
}

func (d *demo) elapsed(t time.Time) string {
	s := max(t.Sub(d.start).Round(time.Second), 0) / time.Second
	return fmt.Sprintf("%2d:%02d", s/60, s%60)
}

// where names the place an event appeared, and who sees it when that is
// not everyone there.
func (d *demo) where(e slackfake.Event) string {
	ch := "#" + d.name(e.Channel)
	switch e.Kind {
	case slackfake.EventMessage:
		if e.ThreadTS != "" && e.ThreadTS != e.TS {
			return ch + ", in the request's thread"
		}
		return ch
	case slackfake.EventDM:
		return "direct message to " + d.name(e.User)
	case slackfake.EventUpdate:
		if user, ok := d.imUser(e.Channel); ok {
			return "direct message to " + d.name(user) + ", now reads"
		}
		return ch + ", the message above now reads"
	case slackfake.EventEphemeral:
		return ch + ", only " + d.name(e.User) + " sees this"
	case slackfake.EventModalOpen, slackfake.EventModalUpdate, slackfake.EventModalClose:
		return strings.ReplaceAll(string(e.Kind), "_", " ") + " for " + d.name(e.User)
	case slackfake.EventFile:
		return ch + ", a file"
	}
	return ch + ", " + string(e.Kind)
}

// body returns an event's lines as Slack shows them: the blocks when there
// are any, the text otherwise. The text of a message with blocks is only
// its notification, so it is not shown; a modal's or file's text is its
// title and leads.
func (d *demo) body(e slackfake.Event) []string {
	text := e.Blocks
	switch {
	case e.Kind == slackfake.EventFile || strings.HasPrefix(string(e.Kind), "modal"):
		text = strings.TrimSpace(e.Text + "\n" + e.Blocks)
	case text == "":
		text = e.Text
	}
	var lines []string
	for line := range strings.SplitSeq(text, "\n") {
		lines = append(lines, d.display(line))
	}
	return lines
}

var (
	// slackRef is a mention, a date, a broadcast or a link in mrkdwn.
	slackRef = regexp.MustCompile(`<([@#!][^<>]*|(?:https?|mailto):[^<>]*)>`)
	boldSpan = regexp.MustCompile(`\*([^*\n]+)\*`)
	// Slack escapes only these three in message text.
	unescape = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// display turns one flattened line of Slack mrkdwn into what Slack shows:
// names for mentions, clock times for dates, bold as bold and escaped
// characters as themselves. Code spans keep their backticks.
func (d *demo) display(line string) string {
	switch {
	case strings.HasPrefix(line, "# "):
		return d.style.bold(strings.TrimPrefix(line, "# "))
	case line == "---":
		return d.style.dim(strings.Repeat("─", 40))
	}
	line = slackRef.ReplaceAllStringFunc(line, func(ref string) string {
		return d.ref(ref[1 : len(ref)-1])
	})
	line = boldSpan.ReplaceAllStringFunc(line, func(span string) string {
		return d.style.bold(span[1 : len(span)-1])
	})
	return unescape.Replace(line)
}

// ref renders the inside of one <…> reference.
func (d *demo) ref(r string) string {
	body, label, labelled := strings.Cut(r, "|")
	switch {
	case strings.HasPrefix(body, "@"):
		return "@" + d.name(body[1:])
	case strings.HasPrefix(body, "#") && labelled:
		return "#" + label
	case strings.HasPrefix(body, "#"):
		return "#" + d.name(body[1:])
	case strings.HasPrefix(body, "!date^"):
		return d.date(body, label)
	case body == "!here" || body == "!channel" || body == "!everyone":
		return "@" + body[1:]
	case labelled:
		return label
	}
	return body
}

// date shows a <!date^unix^format|fallback> as a local clock time, to the
// second so that the demo's short timers can be followed.
func (d *demo) date(body, fallback string) string {
	parts := strings.Split(body, "^")
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return fallback
	}
	t, now := time.Unix(unix, 0), time.Now()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("Jan 2 15:04:05")
}

// imUser returns whose direct message channel ch is.
func (d *demo) imUser(ch string) (string, bool) {
	for _, user := range []string{demoAlice, demoBob} {
		if im, ok := d.srv.IMChannel(user); ok && im == ch {
			return user, true
		}
	}
	return "", false
}

func (d *demo) name(id string) string {
	if n, ok := d.names[id]; ok {
		return n
	}
	return id
}

// style marks up transcript text for a terminal; the zero style adds
// nothing.
type style struct{ on bool }

// styleFor uses bold and dim text only on a terminal that takes them.
func styleFor(w io.Writer) style { return style{on: colourful(w)} }

func (s style) bold(t string) string { return s.wrap("\x1b[1m", t) }
func (s style) dim(t string) string  { return s.wrap("\x1b[2m", t) }

func (s style) wrap(on, t string) string {
	if !s.on || t == "" {
		return t
	}
	return on + t + "\x1b[22m"
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
