package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/postgres"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// adminPassword is the password of the test's jitbot account.
const adminPassword = "admin-secret-7f3c"

var seq atomic.Int64

// backend is a test database with a non-superuser account for jitbot, set
// up the way an operator would: CREATEROLE to grant roles and
// pg_signal_backend to end sessions.
type backend struct {
	*pgtest.Server
	admin string
}

func newBackend(t testing.TB) backend {
	t.Helper()
	s := pgtest.Start(t)
	b := backend{Server: s, admin: s.Name("jitbot")}
	s.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD '%s'",
		ident(b.admin), adminPassword))
	s.Exec("GRANT pg_signal_backend TO " + ident(b.admin))
	t.Cleanup(func() { dropRole(s, b.admin) })
	return b
}

// role creates a role (a login when password is set) dropped at cleanup.
func (b backend) role(t testing.TB, base, password string) string {
	t.Helper()
	name := b.Name(fmt.Sprintf("%s%d", base, seq.Add(1)))
	sql := "CREATE ROLE " + ident(name)
	if password != "" {
		sql += " LOGIN PASSWORD '" + password + "'"
	}
	b.Exec(sql)
	t.Cleanup(func() { dropRole(b.Server, name) })
	return name
}

func dropRole(s *pgtest.Server, name string) {
	ctx := context.Background()
	conn := s.Conn()
	conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "+
		"WHERE usename = $1", name)
	conn.Exec(ctx, "DROP OWNED BY "+ident(name))
	conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name))
}

// provider builds a provider for b with settings on top of the defaults.
func (b backend) provider(t testing.TB, settings map[string]any) *postgres.Provider {
	t.Helper()
	return newProvider(t, b.DSNFor(b.admin), settings)
}

func newProvider(t testing.TB, dsn string, settings map[string]any) *postgres.Provider {
	t.Helper()
	all := map[string]any{"dsn": dsn, "password_env": "PG_PASSWORD", "timeout": "5s"}
	for k, v := range settings {
		all[k] = v
	}
	log := zerolog.New(zerolog.NewTestWriter(t))
	if _, bench := t.(*testing.B); bench {
		log = zerolog.Nop()
	}
	env := grants.Env{
		Log:    log,
		Clock:  clockwork.NewRealClock(),
		Getenv: mapEnv{"PG_PASSWORD": adminPassword}.get,
	}
	p, err := postgres.New("db", all, env)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(func() { p.(*postgres.Provider).Close() })
	return p.(*postgres.Provider)
}

type mapEnv map[string]string

func (m mapEnv) get(k string) string { return m[k] }

// held asks the server itself whether login is a member of target.
func (b backend) held(t *testing.T, login, target string) bool {
	t.Helper()
	var held bool
	err := b.Conn().QueryRow(context.Background(),
		"SELECT pg_has_role($1, $2, 'MEMBER')", login, target).Scan(&held)
	if err != nil {
		t.Fatalf("check membership of %s in %s: %v", login, target, err)
	}
	return held
}

func grantOf(login, target string, expires time.Time) grants.Grant {
	return grants.Grant{
		ID: fmt.Sprintf("g_%d", seq.Add(1)), RequestID: "r_1", User: "U123",
		Principal: login, Resource: "app-db", Role: "read", Target: target,
		ExpiresAt: expires,
	}
}

func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ident quotes a role name independently of the code under test.
func ident(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
