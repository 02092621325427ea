package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/store"
)

// TestReconcileFindingsInReview has reconcile find a membership given by
// hand, then remove it, and checks that the access review lists both on
// the policy's role, not on an empty one.
func TestReconcileFindingsInReview(t *testing.T) {
	srv := pgtest.Start(t)
	admin, target, login := srv.Name("jitbot"), srv.Name("app_readonly"), srv.Name("frank")
	q := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN CREATEROLE PASSWORD 'pw-admin-2'", q(admin)))
	srv.Exec("CREATE ROLE " + q(target))
	srv.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw-frank-1'", q(login)))
	srv.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", q(target), q(admin)))
	srv.Exec(fmt.Sprintf("GRANT %s TO %s", q(target), q(login)))
	t.Cleanup(func() {
		for _, r := range []string{login, target, admin} {
			_, _ = srv.Conn().Exec(context.Background(), "DROP ROLE IF EXISTS "+q(r))
		}
	})
	t.Setenv("JITBOT_TEST_PG_PASSWORD", "pw-admin-2")

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "jitbot.db")
	cfgPath := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(reconcileConfig, dbPath, srv.DSNFor(admin), target)
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

	// The first run only reports (and exits non-zero for it); the second
	// removes the membership.
	if out, _ := runCLI(t, "grants", "reconcile", "--config", cfgPath); !strings.Contains(
		out, "(found)") {
		t.Fatalf("reconcile did not find the membership:\n%s", out)
	}
	if out, err := runCLI(t, "grants", "reconcile", "--revoke", "--config", cfgPath); err != nil {
		t.Fatalf("reconcile --revoke: %v\n%s", err, out)
	}

	raw, err := runCLI(t, "--config", cfgPath, "review", "--format", "json")
	if err != nil {
		t.Fatalf("review: %v\n%s", err, raw)
	}
	var rep struct {
		Drift []struct {
			Resource, Role, Provider, Principal, Target string
			Revoked                                     bool
		} `json:"drift"`
	}
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatalf("review json: %v\n%s", err, raw)
	}
	if len(rep.Drift) != 2 || !rep.Drift[1].Revoked || rep.Drift[0].Revoked {
		t.Fatalf("review lists drift %+v, want the found and the removed membership",
			rep.Drift)
	}
	for _, d := range rep.Drift {
		if d.Resource != "app-db" || d.Role != "readonly" || d.Provider != "pg" ||
			d.Principal != login || d.Target != target {
			t.Errorf("drift %+v, want %s on app-db/readonly (pg %s)", d, login, target)
		}
	}

	md, err := runCLI(t, "--config", cfgPath, "review")
	if err != nil || strings.Count(md, "Drift on app-db/readonly: principal") != 2 ||
		!strings.Contains(md, "removed by reconcile") {
		t.Errorf("markdown review: %v\n%s", err, md)
	}
}
