// Package webhook is the grant provider that asks an HTTP service to grant,
// revoke or check access. Each call is a signed JSON POST (see
// SignatureHeader); transient failures are retried with bounded, jittered
// backoff timed by the injected clock. A Provider is safe for concurrent use.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/grants"
)

// Settings is the configuration of one webhook provider.
type Settings struct {
	// URL receives the POSTs; only http and https are accepted.
	URL string `mapstructure:"url"`
	// SecretEnv names the environment variable holding the signing secret;
	// SecretFile names a file holding it. Exactly one is required.
	SecretEnv  string `mapstructure:"secret_env"`
	SecretFile string `mapstructure:"secret_file"`
	// Timeout bounds one attempt. Zero means 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// MaxAttempts bounds the tries of one call. Zero means 4.
	MaxAttempts int `mapstructure:"max_attempts"`
	// BackoffMin and BackoffMax bound the wait between attempts; the wait
	// doubles from BackoffMin, capped at BackoffMax, with random jitter.
	// Zero means 500ms and 5s.
	BackoffMin time.Duration `mapstructure:"backoff_min"`
	BackoffMax time.Duration `mapstructure:"backoff_max"`
	// Headers are added to every request, such as an API gateway's key.
	Headers map[string]string `mapstructure:"headers"`
	// Check says that the receiver answers "check" actions with
	// {"held": true|false}; only then is the provider a grants.Checker.
	Check bool `mapstructure:"check"`
}

// Payload is the JSON body of every request.
type Payload struct {
	// Action is "grant", "revoke" or "check".
	Action string       `json:"action"`
	Grant  grants.Grant `json:"grant"`
	// SentAt is when this attempt was sent.
	SentAt time.Time `json:"sent_at"`
}

// CheckResponse is the body a receiver returns, with status 200, to a
// "check" action.
type CheckResponse struct {
	Held bool `json:"held"`
}

// detailCap bounds how much of a response body is kept for an error.
const detailCap = 2048

// Provider sends signed requests to one receiver. Build one with New.
type Provider struct {
	name        string
	url         string
	secret      secret
	headers     http.Header
	timeout     time.Duration
	maxAttempts int
	backoffMin  time.Duration
	backoffMax  time.Duration
	client      *http.Client
	clock       clockwork.Clock
	log         zerolog.Logger
}

// checking is a Provider whose receiver answers checks.
type checking struct{ *Provider }

var (
	_ grants.Provider = (*Provider)(nil)
	_ grants.Checker  = checking{}
)

// New builds a webhook provider from its settings. It reads the secret but
// does not contact the receiver.
func New(name string, settings map[string]any, env grants.Env) (grants.Provider, error) {
	var s Settings
	if err := grants.Decode(settings, &s); err != nil {
		return nil, err
	}
	p, err := NewFromSettings(name, s, env)
	if err != nil {
		return nil, err
	}
	if s.Check {
		return checking{p}, nil
	}
	return p, nil
}

// NewFromSettings builds a Provider from decoded settings; New is the
// registry's entry point. The result never implements grants.Checker.
func NewFromSettings(name string, s Settings, env grants.Env) (*Provider, error) {
	env = env.WithDefaults()
	s = withDefaults(s)
	errs := validate(s)
	key, err := loadSecret(s, env.Getenv)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	headers := http.Header{}
	for k, v := range s.Headers {
		headers.Set(k, v)
	}
	return &Provider{
		name:        name,
		url:         s.URL,
		secret:      key,
		headers:     headers,
		timeout:     s.Timeout,
		maxAttempts: s.MaxAttempts,
		backoffMin:  s.BackoffMin,
		backoffMax:  s.BackoffMax,
		client:      &http.Client{CheckRedirect: noRedirects},
		clock:       env.Clock,
		log:         env.Log,
	}, nil
}

// noRedirects stops the client at a redirect: a signed request is meant
// for the configured URL only.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func withDefaults(s Settings) Settings {
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 4
	}
	if s.BackoffMin == 0 {
		s.BackoffMin = 500 * time.Millisecond
	}
	if s.BackoffMax == 0 {
		s.BackoffMax = 5 * time.Second
	}
	return s
}

func validate(s Settings) []error {
	var errs []error
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		errs = append(errs, errors.New("url: missing"))
	case err != nil:
		errs = append(errs, errors.New("url: not a valid URL"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs,
			fmt.Errorf("url: scheme %q not allowed, want http or https", u.Scheme))
	case u.Host == "":
		errs = append(errs, errors.New("url: missing host"))
	}
	if s.Timeout < 0 {
		errs = append(errs, errors.New("timeout: must be positive"))
	}
	if s.MaxAttempts < 1 {
		errs = append(errs, errors.New("max_attempts: must be at least 1"))
	}
	if s.BackoffMin < 0 || s.BackoffMax < s.BackoffMin {
		errs = append(errs, errors.New("backoff_min, backoff_max: want 0 <= min <= max"))
	}
	for k := range s.Headers {
		if strings.EqualFold(k, SignatureHeader) || strings.EqualFold(k, "Content-Type") {
			errs = append(errs, fmt.Errorf("headers.%s: set by jitbot, cannot be overridden", k))
		}
	}
	return errs
}

// loadSecret reads the signing key. Errors name where it was looked for,
// never what was found.
func loadSecret(s Settings, getenv func(string) string) (secret, error) {
	switch {
	case s.SecretEnv != "" && s.SecretFile != "":
		return nil, errors.New("secret_env, secret_file: set only one")
	case s.SecretEnv != "":
		v := getenv(s.SecretEnv)
		if v == "" {
			return nil, fmt.Errorf("secret_env: environment variable %s is empty", s.SecretEnv)
		}
		return secret(v), nil
	case s.SecretFile != "":
		b, err := os.ReadFile(s.SecretFile)
		if err != nil {
			return nil, fmt.Errorf("secret_file: %w", err)
		}
		if v := bytes.TrimSpace(b); len(v) > 0 {
			return secret(v), nil
		}
		return nil, fmt.Errorf("secret_file: %s is empty", s.SecretFile)
	}
	return nil, errors.New("secret_env or secret_file: missing, requests must be signed")
}

// Grant asks the receiver to grant g.
func (p *Provider) Grant(ctx context.Context, g grants.Grant) error {
	_, err := p.call(ctx, "grant", g)
	return err
}

// Revoke asks the receiver to revoke g.
func (p *Provider) Revoke(ctx context.Context, g grants.Grant) error {
	_, err := p.call(ctx, "revoke", g)
	return err
}

// Held asks the receiver whether g is held.
func (c checking) Held(ctx context.Context, g grants.Grant) (bool, error) {
	body, err := c.call(ctx, "check", g)
	if err != nil {
		return false, err
	}
	var resp CheckResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return false, c.fail("check", g, true, capped(body),
			fmt.Errorf("decode check response: %w", err))
	}
	return resp.Held, nil
}
