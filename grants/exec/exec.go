// Package exec is the grant provider that runs operator-supplied programs:
// one to grant, one to revoke, and optionally one to check. Programs are
// started directly, never through a shell, each with a deadline; on timeout
// the whole process group is killed. A Provider is safe for concurrent use.
package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/grants"
)

const (
	defaultTimeout = 30 * time.Second
	// permanentExit is the exit status by which a program says that
	// retrying will not help.
	permanentExit = 3
	// stderrCap bounds how much of a program's stderr is kept for the error.
	stderrCap = 2048
	// waitDelay bounds how long a killed program's leftover children may
	// hold its output open.
	waitDelay = 2 * time.Second
)

// Settings is the configuration of one exec provider.
type Settings struct {
	// Grant and Revoke are the argv run for each action. Each element is a
	// text/template over TemplateData. Both are required.
	Grant  []string `mapstructure:"grant"`
	Revoke []string `mapstructure:"revoke"`
	// Check, when set, reports whether a grant is held: exit 0 means held,
	// exit 1 means not held, anything else is an error.
	Check []string `mapstructure:"check"`
	// Timeout bounds one run. Zero means 30s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Env adds variables to the program's environment.
	Env map[string]string `mapstructure:"env"`
	// PermanentExitCodes are exit statuses, besides 3, that mark a failure
	// retrying will not fix.
	PermanentExitCodes []int `mapstructure:"permanent_exit_codes"`
}

// TemplateData is what argv templates may refer to, such as {{.Principal}}.
type TemplateData struct {
	ID, RequestID, User, Email, Principal string
	Resource, Role, Target                string
	// ExpiresAt is the expiry in RFC 3339 form, in UTC.
	ExpiresAt string
}

// Provider runs the configured programs. Build one with New.
type Provider struct {
	name      string
	grant     []*template.Template
	revoke    []*template.Template
	check     []*template.Template
	timeout   time.Duration
	env       []string
	permanent map[int]bool
	log       zerolog.Logger
}

// checking is a Provider configured with a check program.
type checking struct{ *Provider }

var (
	_ grants.Provider = (*Provider)(nil)
	_ grants.Checker  = checking{}
)

// New builds an exec provider from its settings. The returned provider
// implements grants.Checker only when a check program is configured.
func New(name string, settings map[string]any, env grants.Env) (grants.Provider, error) {
	var s Settings
	if err := grants.Decode(settings, &s); err != nil {
		return nil, err
	}
	p, err := newProvider(name, s, env.WithDefaults())
	if err != nil {
		return nil, err
	}
	if p.check != nil {
		return checking{p}, nil
	}
	return p, nil
}

func newProvider(name string, s Settings, env grants.Env) (*Provider, error) {
	p := &Provider{
		name:      name,
		timeout:   s.Timeout,
		env:       childEnv(s.Env),
		permanent: map[int]bool{permanentExit: true},
		log:       env.Log,
	}
	if p.timeout == 0 {
		p.timeout = defaultTimeout
	}
	if p.timeout < 0 {
		return nil, fmt.Errorf("timeout: must be positive, got %s", s.Timeout)
	}
	for _, code := range s.PermanentExitCodes {
		p.permanent[code] = true
	}

	var errs []error
	var err error
	if p.grant, err = parseArgv("grant", s.Grant, true); err != nil {
		errs = append(errs, err)
	}
	if p.revoke, err = parseArgv("revoke", s.Revoke, true); err != nil {
		errs = append(errs, err)
	}
	if p.check, err = parseArgv("check", s.Check, false); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// parseArgv compiles one argv and renders it once with sample data, so a
// misspelt placeholder fails at start-up rather than at the first grant.
func parseArgv(key string, argv []string, required bool) ([]*template.Template, error) {
	if len(argv) == 0 {
		if required {
			return nil, fmt.Errorf("%s: missing, want a program and its arguments", key)
		}
		return nil, nil
	}
	if strings.TrimSpace(argv[0]) == "" {
		return nil, fmt.Errorf("%s[0]: the program name is empty", key)
	}
	tmpls := make([]*template.Template, len(argv))
	for i, arg := range argv {
		t, err := template.New(key).Option("missingkey=error").Parse(arg)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		if err := t.Execute(&bytes.Buffer{}, TemplateData{}); err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		tmpls[i] = t
	}
	return tmpls, nil
}

// childEnv is the environment every program starts from. It does not
// inherit jitbot's own environment, which holds the Slack tokens: only PATH
// and the configured extras are passed.
func childEnv(extra map[string]string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// Grant runs the grant program.
func (p *Provider) Grant(ctx context.Context, g grants.Grant) error {
	_, err := p.run(ctx, "grant", p.grant, g)
	return err
}

// Revoke runs the revoke program.
func (p *Provider) Revoke(ctx context.Context, g grants.Grant) error {
	_, err := p.run(ctx, "revoke", p.revoke, g)
	return err
}

// Held runs the check program: exit 0 means held, exit 1 not held.
func (c checking) Held(ctx context.Context, g grants.Grant) (bool, error) {
	code, err := c.run(ctx, "check", c.check, g)
	switch {
	case code == 0 && err == nil:
		return true, nil
	case code == 1:
		return false, nil
	}
	return false, err
}

// run starts the program for op and waits for it. It returns the exit
// status (-1 when the program did not finish) and, for a non-zero status
// other than a check's 1, a *grants.Error.
func (p *Provider) run(
	ctx context.Context, op string, tmpls []*template.Template, g grants.Grant,
) (int, error) {
	argv, err := render(tmpls, g)
	if err != nil {
		return -1, p.fail(op, g, false, "", fmt.Errorf("render arguments: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	var stderr tailBuffer
	cmd := p.command(ctx, op, argv, g, &stderr)
	start := time.Now()
	err = cmd.Run()
	p.log.Debug().Str("grant_id", g.ID).Str("action", op).
		Dur("duration", time.Since(start)).Int("exit", cmd.ProcessState.ExitCode()).
		Msg("command finished")

	return p.result(ctx, op, argv[0], g, err, stderr.String())
}

func (p *Provider) command(
	ctx context.Context, op string, argv []string, g grants.Grant, stderr *tailBuffer,
) *osexec.Cmd {
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(append([]string(nil), p.env...), actionEnv(op, g)...)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Kill the whole group, so a script's children die with it.
	cmd.Cancel = func() error {
		err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay
	return cmd
}

func (p *Provider) result(
	ctx context.Context, op, prog string, g grants.Grant, err error, stderr string,
) (int, error) {
	name := filepath.Base(prog)
	if ctxErr := ctx.Err(); err != nil && ctxErr != nil {
		return -1, p.fail(op, g, false, stderr, fmt.Errorf("run %s: %w", name, ctxErr))
	}
	var exitErr *osexec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		code := exitErr.ExitCode()
		if op == "check" && code == 1 {
			return code, nil
		}
		return code, p.fail(op, g, p.permanent[code], stderr,
			fmt.Errorf("%s exited with status %d", name, code))
	case errors.Is(err, osexec.ErrNotFound), errors.Is(err, fs.ErrNotExist),
		errors.Is(err, fs.ErrPermission):
		return -1, p.fail(op, g, true, stderr, fmt.Errorf("start %s: %w", name, err))
	}
	return -1, p.fail(op, g, false, stderr, fmt.Errorf("run %s: %w", name, err))
}

func (p *Provider) fail(
	op string, g grants.Grant, permanent bool, detail string, err error,
) error {
	return &grants.Error{
		Op:        op,
		Provider:  p.name,
		GrantID:   g.ID,
		Permanent: permanent,
		Detail:    detail,
		Err:       err,
	}
}

func templateData(g grants.Grant) TemplateData {
	return TemplateData{
		ID:        g.ID,
		RequestID: g.RequestID,
		User:      g.User,
		Email:     g.Email,
		Principal: g.Principal,
		Resource:  g.Resource,
		Role:      g.Role,
		Target:    g.Target,
		ExpiresAt: expiresAt(g),
	}
}

func expiresAt(g grants.Grant) string {
	if g.ExpiresAt.IsZero() {
		return ""
	}
	return g.ExpiresAt.UTC().Format(time.RFC3339)
}

func render(tmpls []*template.Template, g grants.Grant) ([]string, error) {
	data := templateData(g)
	argv := make([]string, len(tmpls))
	for i, t := range tmpls {
		var b strings.Builder
		if err := t.Execute(&b, data); err != nil {
			return nil, err
		}
		argv[i] = b.String()
	}
	return argv, nil
}

// actionEnv describes the grant to the program. These come after the
// configured extras, so they win over a configured variable of the same name.
func actionEnv(op string, g grants.Grant) []string {
	return []string{
		"JITBOT_ACTION=" + op,
		"JITBOT_GRANT_ID=" + g.ID,
		"JITBOT_REQUEST_ID=" + g.RequestID,
		"JITBOT_USER=" + g.User,
		"JITBOT_EMAIL=" + g.Email,
		"JITBOT_PRINCIPAL=" + g.Principal,
		"JITBOT_RESOURCE=" + g.Resource,
		"JITBOT_ROLE=" + g.Role,
		"JITBOT_TARGET=" + g.Target,
		"JITBOT_EXPIRES_AT=" + expiresAt(g),
	}
}

// tailBuffer keeps the last stderrCap bytes written to it, where a failing
// program usually says why.
type tailBuffer struct {
	buf       []byte
	truncated bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*stderrCap {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-stderrCap:]...)
		b.truncated = true
	}
	return len(p), nil
}

// String returns the kept output, trimmed, marked when its start was cut.
func (b *tailBuffer) String() string {
	out := b.buf
	cut := b.truncated
	if len(out) > stderrCap {
		out, cut = out[len(out)-stderrCap:], true
	}
	s := strings.TrimSpace(string(out))
	if cut {
		s = "[…] " + s
	}
	return s
}
