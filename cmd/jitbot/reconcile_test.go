package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store"
)

const reconcileConfig = `
slack:
  app_token: xapp-1-A0-1-reconcile
  bot_token: xoxb-1-reconcile
store:
  path: %q
providers:
  pg:
    type: postgres
    settings:
      dsn: %q
      password_env: JITBOT_TEST_PG_PASSWORD
      timeout: 5s
policy:
  resources:
    app-db:
      provider: pg
      principal: "{{ .EmailLocal }}"
      roles:
        readonly:
          target: %q
          channel: C0APPROVE
          approvers: [U0BOB]
`

// TestGrantsReconcile plants a membership given by hand, outside jitbot,
// and checks that reconcile reports it, that --revoke removes it, and that
// both are in the audit trail.
func TestGrantsReconcile(t *testing.T) {
	srv, login, target, cfgPath, dbPath := reconcileSetup(t, "erin")

	out, err := runCLI(t, "grants", "reconcile", "--config", cfgPath)
	if exitCode(err) != exitDrift {
		t.Fatalf("reconcile that found drift: %v, want exit status %d\n%s", err, exitDrift, out)
	}
	if !strings.Contains(out, login+" holds "+target) || !strings.Contains(out, "(found)") {
		t.Fatalf("reconcile did not report the hand-made membership:\n%s", out)
	}
	if !held(t, srv, login, target) {
		t.Fatal("reconcile without --revoke removed the membership")
	}

	out, err = runCLI(t, "grants", "reconcile", "--revoke", "--config", cfgPath)
	if err != nil || !strings.Contains(out, "(revoked)") {
		t.Fatalf("reconcile --revoke: %v\n%s", err, out)
	}
	if held(t, srv, login, target) {
		t.Fatal("reconcile --revoke left the membership in place")
	}
	assertAudit(t, dbPath, store.EvReconcileDrift, store.EvReconcileRevoked)
}

func held(t *testing.T, srv *pgtest.Server, login, target string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok bool
	err := srv.Conn().QueryRow(ctx, "SELECT pg_has_role($1, $2, 'MEMBER')", login, target).Scan(&ok)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func assertAudit(t *testing.T, path string, want ...store.EventType) {
	t.Helper()
	var got []store.EventType
	for _, e := range storedEvents(t, path) {
		got = append(got, e.Type)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}

// reconcileSetup makes a throwaway server with jitbot's account, a managed
// role, and a login that holds the role by hand, outside jitbot; a config
// and an empty store for jitbot beside them.
func reconcileSetup(t *testing.T, name string) (
	srv *pgtest.Server, login, target, cfgPath, dbPath string,
) {
	t.Helper()
	srv = pgtest.Start(t)
	admin, target, login := srv.Name("jitbot"), srv.Name("app_readonly"), srv.Name(name)
	q := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'pw-admin-1'", q(admin)))
	srv.Exec("CREATE ROLE " + q(target))
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-login-1'", q(login)))
	srv.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", q(target), q(admin)))
	srv.Exec(fmt.Sprintf("GRANT %s TO %s", q(target), q(login)))
	t.Cleanup(func() {
		for _, r := range []string{login, target, admin} {
			_, _ = srv.Conn().Exec(context.Background(), "DROP ROLE IF EXISTS "+q(r))
		}
	})
	t.Setenv("JITBOT_TEST_PG_PASSWORD", "pw-admin-1")

	dir := t.TempDir()
	dbPath = filepath.Join(dir, "jitbot.db")
	cfgPath = filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(reconcileConfig, dbPath, srv.DSNFor(admin), target)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// The store exists, as it does once the bot has run.
	db, err := store.Open(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return srv, login, target, cfgPath, dbPath
}
