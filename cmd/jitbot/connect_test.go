package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/builtin"
	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store"
)

// pgPassword is the password of the jitbot account pgSetup creates.
const pgPassword = "pw-jitbot-9d1e"

// pgSetup is a database prepared the way the README tells an operator to:
// a jitbot account with CREATEROLE and pg_signal_backend, a managed role
// and a login holding it that jitbot never granted.
type pgSetup struct {
	srv                   *pgtest.Server
	account, role, holder string
}

func newPGSetup(t *testing.T) pgSetup {
	t.Helper()
	srv := pgtest.Start(t)
	s := pgSetup{srv: srv, account: srv.Name("jitbot"), role: srv.Name("app_readonly"),
		holder: srv.Name("frank")}
	q := func(name string) string { return pgx.Identifier{name}.Sanitize() }
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD '%s'", q(s.account),
		pgPassword))
	srv.Exec("GRANT pg_signal_backend TO " + q(s.account))
	srv.Exec("CREATE ROLE " + q(s.role))
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-frank-1'", q(s.holder)))
	srv.Exec(fmt.Sprintf("GRANT %s TO %s", q(s.role), q(s.holder)))
	t.Cleanup(func() {
		for _, r := range []string{s.holder, s.role, s.account} {
			_, _ = srv.Conn().Exec(context.Background(), "DROP ROLE IF EXISTS "+q(r))
		}
	})
	t.Setenv("JITBOT_TEST_PG_PASSWORD", pgPassword)
	return s
}

// config writes reconcileConfig for this database, with extra appended
// at the top level, and returns its path and the store's path. The store
// exists, as it does once the bot has run.
func (s pgSetup) config(t *testing.T, target, extra string) (cfgPath, dbPath string) {
	t.Helper()
	dir := t.TempDir()
	dbPath = filepath.Join(dir, "jitbot.db")
	text := fmt.Sprintf(reconcileConfig, dbPath, s.srv.DSNFor(s.account), target) + extra
	cfgPath = filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath, dbPath
}

func TestCheckConfigConnect(t *testing.T) {
	noSlackTokens(t)
	s := newPGSetup(t)
	tests := []struct {
		name     string
		target   string
		password string
		revoke   string // a privilege taken from the account first
		valid    bool
		want     []string
	}{
		{
			name:   "the README's account passes",
			target: s.role,
			valid:  true,
			want:   []string{"is valid: 1 provider(s)"},
		},
		{
			name:     "a wrong password",
			target:   s.role,
			password: "not-the-password",
			want: []string{"has 1 problem(s)",
				"providers.pg: connect: ", "password authentication failed"},
		},
		{
			name:   "a target role that does not exist",
			target: "app_typo",
			want:   []string{"has 1 problem(s)", "providers.pg: role app_typo does not exist"},
		},
		{
			name:   "no CREATEROLE and no pg_signal_backend",
			target: s.role,
			revoke: "ALTER ROLE %[1]s NOCREATEROLE; REVOKE pg_signal_backend FROM %[1]s",
			want: []string{"has 2 problem(s)",
				"providers.pg: account " + s.account + " cannot grant role " + s.role,
				"providers.pg: account " + s.account + " cannot end sessions",
				"GRANT pg_signal_backend TO"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.password != "" {
				t.Setenv("JITBOT_TEST_PG_PASSWORD", tc.password)
			}
			if tc.revoke != "" {
				id := pgx.Identifier{s.account}.Sanitize()
				s.srv.Exec(fmt.Sprintf(tc.revoke, id))
				t.Cleanup(func() {
					s.srv.Exec(fmt.Sprintf("ALTER ROLE %[1]s CREATEROLE; "+
						"GRANT pg_signal_backend TO %[1]s", id))
				})
			}
			cfgPath, _ := s.config(t, tc.target, "")

			// The static checks alone do not contact the server.
			out, err := runCLI(t, "check-config", "--config", cfgPath)
			if err != nil || !strings.Contains(out, "is valid") {
				t.Fatalf("check-config without --connect: %v\n%s", err, out)
			}

			out, err = runCLI(t, "check-config", "--connect", "--config", cfgPath)
			if (err == nil) != tc.valid {
				t.Fatalf("check-config --connect: err = %v, want success %v\n%s",
					err, tc.valid, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, pgPassword) || strings.Contains(out, "not-the-password") {
				t.Errorf("output repeats a password:\n%s", out)
			}
		})
	}
}

func TestRunWarnsOfEachProviderThatFailsItsCheck(t *testing.T) {
	noSlackTokens(t)
	s := newPGSetup(t)
	cfgPath, _ := s.config(t, s.role, "")
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	warnUnready(t.Context(), zerolog.New(&logs), cfg, buildProviders(t, cfg))
	if logs.Len() != 0 {
		t.Fatalf("warnings for a working provider:\n%s", logs.String())
	}

	t.Setenv("JITBOT_TEST_PG_PASSWORD", "not-the-password")
	cfg, err = config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	warnUnready(t.Context(), zerolog.New(&logs), cfg, buildProviders(t, cfg))
	var line struct {
		Level, Provider, Error, Message string
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("want one JSON log line: %v\n%s", err, logs.String())
	}
	if line.Level != "warn" || line.Provider != "pg" ||
		!strings.Contains(line.Error, "password authentication failed") {
		t.Fatalf("warning = %+v", line)
	}
}

// TestReconcileExitStatusActorAndSink runs reconcile as cron would: it
// exits 3 while drift remains, records who ran it, and copies what it
// records to audit.sink exactly as stored.
func TestReconcileExitStatusActorAndSink(t *testing.T) {
	noSlackTokens(t)
	s := newPGSetup(t)
	sinkPath := filepath.Join(t.TempDir(), "audit.jsonl")
	cfgPath, dbPath := s.config(t, s.role, fmt.Sprintf("audit:\n  sink: %q\n", sinkPath))

	out, err := runCLI(t, "grants", "reconcile", "--actor", "oncall-erin", "--config", cfgPath)
	if exitCode(err) != exitDrift || !strings.Contains(err.Error(), "1 membership(s)") {
		t.Fatalf("reconcile that found drift: %v (status %d), want status %d\n%s",
			err, exitCode(err), exitDrift, out)
	}

	out, err = runCLI(t, "grants", "reconcile", "--revoke", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "(revoked)") {
		t.Fatalf("reconcile --revoke: %v\n%s", err, out)
	}
	out, err = runCLI(t, "grants", "reconcile", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "0 membership(s)") {
		t.Fatalf("reconcile after the revoke: %v\n%s", err, out)
	}

	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	stored := storedEvents(t, dbPath)
	if len(stored) != 2 || stored[0].Actor != "oncall-erin" || stored[1].Actor != me.Username {
		t.Fatalf("audit trail = %+v, want drift by oncall-erin, revoke by %s",
			stored, me.Username)
	}
	sunk := sinkEvents(t, sinkPath)
	if len(sunk) != len(stored) {
		t.Fatalf("sink holds %d event(s), the store %d", len(sunk), len(stored))
	}
	for i := range sunk {
		if sunk[i].Hash != stored[i].Hash || sunk[i].Type != stored[i].Type {
			t.Errorf("sink line %d = %s %s, stored %s %s", i+1,
				sunk[i].Type, sunk[i].Hash, stored[i].Type, stored[i].Hash)
		}
	}
}

func storedEvents(t *testing.T, path string) []store.Event {
	t.Helper()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []store.Event
	err = db.Events(time.Time{}, time.Time{}, func(e store.Event) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sinkEvents(t *testing.T, path string) []store.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []store.Event
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e store.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("sink line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// buildProviders builds cfg's providers as run does, closed when t ends.
func buildProviders(t *testing.T, cfg *config.Config) map[string]grants.Provider {
	t.Helper()
	built, err := builtin.Registry().Build(app.ProviderConfigs(cfg), grants.Env{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeProviders(built) })
	return built
}
