// Package postgres is the grant provider for PostgreSQL: it grants a
// database role to an existing login (GRANT "role" TO "login") and revokes
// it again, ending the login's open sessions at revoke so access obtained
// earlier does not outlive the grant. It never creates or drops logins.
//
// A Provider holds a connection pool and is safe for concurrent use. The
// account in the DSN needs the ADMIN option on the managed roles (before
// PostgreSQL 16, CREATEROLE is enough) and, to end sessions, membership of
// pg_signal_backend; Ping checks both without changing anything. Revoke
// checks that the login really lost the role, so a membership it cannot
// take back (granted by another grantor, or held through another role) is
// reported rather than ignored.
//
// With valid_until enabled the provider also sets the login's VALID UNTIL to
// the grant's expiry, so the server itself refuses new logins after it. Use
// it only for logins that exist solely for jitbot: it ends the login's
// ability to log in at all, not just its use of the granted role, and with
// overlapping grants the login stays valid until the latest expiry.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/secret"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

// Settings is the provider's configuration.
type Settings struct {
	// DSN names server, database and user; it must not hold a password.
	DSN string `mapstructure:"dsn"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `mapstructure:"password_env"`
	// PasswordFile is a file holding the password; it is read again for
	// every new connection, so a rotated password is picked up.
	PasswordFile string `mapstructure:"password_file"`
	// MaxConns bounds the pool; zero means 4.
	MaxConns int32 `mapstructure:"max_conns"`
	// Timeout bounds each call; zero means 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// TerminateSessions ends the login's sessions at revoke; nil means true.
	TerminateSessions *bool `mapstructure:"terminate_sessions"`
	// ValidUntil also moves the login's VALID UNTIL to the grant's expiry.
	ValidUntil bool `mapstructure:"valid_until"`
	// ManagedRoles are always listed by Members, besides the roles asked for.
	ManagedRoles []string `mapstructure:"managed_roles"`
}

const (
	defaultMaxConns = 4
	defaultTimeout  = 10 * time.Second
)

// Provider grants and revokes PostgreSQL role memberships.
type Provider struct {
	name      string
	pool      *pgxpool.Pool
	timeout   time.Duration
	terminate bool
	validTill bool
	managed   []string
	password  func() (secret.Value, error)
	log       zerolog.Logger
	clock     clockwork.Clock
}

var (
	_ grants.Provider = (*Provider)(nil)
	_ grants.Checker  = (*Provider)(nil)
	_ grants.Lister   = (*Provider)(nil)
)

// New builds the provider called name from settings. It does not contact
// the server: connections are made on first use. The caller must Close it.
func New(name string, settings map[string]any, env grants.Env) (grants.Provider, error) {
	var s Settings
	if err := grants.Decode(settings, &s); err != nil {
		return nil, err
	}
	return NewFromSettings(name, s, env)
}

// NewFromSettings is New for settings already decoded.
func NewFromSettings(name string, s Settings, env grants.Env) (*Provider, error) {
	env = env.WithDefaults()
	password, err := passwordSource(s, env.Getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := poolConfig(s, password)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	p := &Provider{
		name:      name,
		pool:      pool,
		timeout:   orDefault(s.Timeout, defaultTimeout),
		terminate: s.TerminateSessions == nil || *s.TerminateSessions,
		validTill: s.ValidUntil,
		managed:   s.ManagedRoles,
		password:  password,
		log:       env.Log,
		clock:     env.Clock,
	}
	p.log.Info().Str("dsn", redactDSN(s.DSN)).Int32("max_conns", cfg.MaxConns).
		Bool("valid_until", p.validTill).Msg("postgres provider configured")
	return p, nil
}

// Close closes the pool, waiting for connections in use to be returned. It
// always returns nil; it satisfies io.Closer.
func (p *Provider) Close() error {
	p.pool.Close()
	return nil
}

func poolConfig(s Settings, password func() (secret.Value, error)) (*pgxpool.Config, error) {
	if s.DSN == "" {
		return nil, errors.New("dsn: missing")
	}
	if dsnHasPassword(s.DSN) {
		return nil, errors.New("dsn: must not contain a password; " +
			"use password_env or password_file")
	}
	cfg, err := pgxpool.ParseConfig(s.DSN)
	if err != nil {
		// The parser's message may quote the DSN; it holds no password.
		return nil, fmt.Errorf("dsn: %w", err)
	}
	if s.MaxConns < 0 {
		return nil, fmt.Errorf("max_conns: %d is negative", s.MaxConns)
	}
	cfg.MaxConns = orDefault(s.MaxConns, defaultMaxConns)
	cfg.ConnConfig.ConnectTimeout = orDefault(s.Timeout, defaultTimeout)
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		pw, err := password()
		if err != nil {
			return err
		}
		if !pw.IsZero() {
			cc.Password = pw.Reveal()
		}
		return nil
	}
	return cfg, nil
}

// passwordSource returns how to read the password, checking it once now so
// a missing secret is reported at start-up. No source means the server
// needs none (or the DSN's environment supplies it).
func passwordSource(s Settings, getenv func(string) string) (func() (secret.Value, error), error) {
	var read func() (secret.Value, error)
	switch {
	case s.PasswordEnv != "" && s.PasswordFile != "":
		return nil, errors.New("password_env and password_file: set only one")
	case s.PasswordEnv != "":
		read = envPassword(s.PasswordEnv, getenv)
	case s.PasswordFile != "":
		read = filePassword(s.PasswordFile)
	default:
		return func() (secret.Value, error) { return secret.Value{}, nil }, nil
	}
	if _, err := read(); err != nil {
		return nil, err
	}
	return read, nil
}

func envPassword(name string, getenv func(string) string) func() (secret.Value, error) {
	return func() (secret.Value, error) {
		if v := getenv(name); v != "" {
			return secret.New(v), nil
		}
		return secret.Value{}, fmt.Errorf("password_env: environment variable %s is empty", name)
	}
}

// filePassword reads the file at every call, so a rotated password is
// used by the next new connection.
func filePassword(path string) func() (secret.Value, error) {
	return func() (secret.Value, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return secret.Value{}, fmt.Errorf("password_file: %w", err)
		}
		return secret.New(strings.TrimRight(string(b), "\r\n")), nil
	}
}

// dsnHasPassword spots a password in URL and keyword/value DSNs alike.
func dsnHasPassword(dsn string) bool {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	parts := strings.Split(dsn, "=")
	for _, key := range parts[:len(parts)-1] {
		if strings.HasSuffix(strings.TrimSpace(key), "password") {
			return true
		}
	}
	return false
}

// redactDSN is the DSN fit for a log line.
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	if dsnHasPassword(dsn) {
		return "[redacted]"
	}
	return dsn
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
