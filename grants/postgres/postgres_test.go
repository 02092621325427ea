package postgres_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/postgres"
)

// protected sets up a table only members of a new role may read.
func protected(t *testing.T, b backend) (target string) {
	t.Helper()
	target = b.role(t, "reader", "")
	b.Exec("CREATE TABLE secret (v text)")
	b.Exec("INSERT INTO secret VALUES ('42')")
	b.Exec("REVOKE ALL ON secret FROM PUBLIC")
	b.Exec("GRANT SELECT ON secret TO " + ident(target))
	return target
}

func canRead(t *testing.T, conn *pgx.Conn) error {
	t.Helper()
	var v string
	return conn.QueryRow(ctx(t), "SELECT v FROM secret").Scan(&v)
}

func wantDenied(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("read secret: %v, want permission denied (42501)", err)
	}
}

func TestGrantAndRevokeControlReadingAProtectedTable(t *testing.T) {
	b := newBackend(t)
	target := protected(t, b)
	login := b.role(t, "alice", "alice-pw")
	p := b.provider(t, nil)
	g := grantOf(login, target, time.Now().Add(time.Hour))

	before, err := b.ConnectAs(login, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, canRead(t, before))

	if err := p.Grant(ctx(t), g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	during, err := b.ConnectAs(login, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := canRead(t, during); err != nil {
		t.Fatalf("read secret after grant: %v", err)
	}

	if err := p.Revoke(ctx(t), g); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	after, err := b.ConnectAs(login, "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	wantDenied(t, canRead(t, after))
}

func TestRevokeEndsTheLoginsOpenSessions(t *testing.T) {
	tests := []struct {
		name      string
		settings  map[string]any
		wantEnded bool
	}{
		{"by default", nil, true},
		{"not when turned off", map[string]any{"terminate_sessions": false}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t)
			target := protected(t, b)
			login := b.role(t, "alice", "alice-pw")
			p := b.provider(t, tt.settings)
			g := grantOf(login, target, time.Now().Add(time.Hour))
			if err := p.Grant(ctx(t), g); err != nil {
				t.Fatalf("Grant: %v", err)
			}
			open, err := b.ConnectAs(login, "alice-pw")
			if err != nil {
				t.Fatal(err)
			}
			if err := canRead(t, open); err != nil {
				t.Fatalf("read secret during grant: %v", err)
			}

			if err := p.Revoke(ctx(t), g); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			_, err = open.Exec(ctx(t), "SELECT 1")
			if ended := err != nil; ended != tt.wantEnded {
				t.Fatalf("session ended = %v (%v), want %v", ended, err, tt.wantEnded)
			}
			if !tt.wantEnded {
				wantDenied(t, canRead(t, open))
			}
		})
	}
}

func TestValidUntilFollowsTheLatestExpiry(t *testing.T) {
	b := newBackend(t)
	first, second := b.role(t, "reader", ""), b.role(t, "writer", "")
	login := b.role(t, "bot", "bot-pw")
	p := b.provider(t, map[string]any{"valid_until": true})
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	steps := []struct {
		name    string
		target  string
		expires time.Time
		want    time.Time
	}{
		{"first grant sets it", first, base, base},
		{"a later expiry extends it", second, base.Add(2 * time.Hour), base.Add(2 * time.Hour)},
		{"an earlier expiry keeps it", first, base.Add(time.Hour), base.Add(2 * time.Hour)},
	}
	for _, st := range steps {
		if err := p.Grant(ctx(t), grantOf(login, st.target, st.expires)); err != nil {
			t.Fatalf("%s: Grant: %v", st.name, err)
		}
		var got time.Time
		err := b.Conn().QueryRow(ctx(t),
			"SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", login).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(st.want) {
			t.Errorf("%s: valid until %s, want %s", st.name, got.UTC(), st.want)
		}
	}
}

func TestValidUntilIsLeftAloneByDefault(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	login := b.role(t, "alice", "pw")
	p := b.provider(t, nil)
	if err := p.Grant(ctx(t), grantOf(login, target, time.Now().Add(time.Hour))); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	var set bool
	err := b.Conn().QueryRow(ctx(t),
		"SELECT rolvaliduntil IS NOT NULL FROM pg_roles WHERE rolname = $1", login).Scan(&set)
	if err != nil || set {
		t.Fatalf("valid until set = %v (%v), want unset", set, err)
	}
}

func TestGrantOfMissingLoginOrRoleIsPermanent(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	login := b.role(t, "alice", "pw")
	p := b.provider(t, nil)
	tests := []struct {
		name  string
		grant grants.Grant
		want  string
	}{
		{"login missing", grantOf("nobody_here", target, time.Now()),
			"login nobody_here does not exist"},
		{"role missing", grantOf(login, "no_such_role", time.Now()),
			"role no_such_role does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Grant(ctx(t), tt.grant)
			if !errors.Is(err, grants.ErrPermanent) {
				t.Fatalf("Grant = %v, want a permanent error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Grant = %q, want it to say %q", err, tt.want)
			}
			var exists bool
			b.Conn().QueryRow(ctx(t), "SELECT EXISTS (SELECT 1 FROM pg_roles "+
				"WHERE rolname = 'nobody_here')").Scan(&exists)
			if exists {
				t.Fatal("Grant created the missing login")
			}
		})
	}
}

func TestRevokeOfMissingLoginSucceeds(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	p := b.provider(t, nil)
	if err := p.Revoke(ctx(t), grantOf("gone_login", target, time.Now())); err != nil {
		t.Fatalf("Revoke for a login that is gone = %v, want nil", err)
	}
}

func TestRevokeReportsAccessStillHeldThroughAnotherRole(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	team := b.role(t, "team", "")
	login := b.role(t, "alice", "pw")
	b.Exec("GRANT " + ident(target) + " TO " + ident(team))
	b.Exec("GRANT " + ident(team) + " TO " + ident(login))
	p := b.provider(t, nil)

	err := p.Revoke(ctx(t), grantOf(login, target, time.Now()))
	if err == nil || !strings.Contains(err.Error(), "revoke did not take") {
		t.Fatalf("Revoke = %v, want \"revoke did not take\"", err)
	}
	if errors.Is(err, grants.ErrPermanent) {
		t.Fatal("revoke did not take is permanent, want it retried")
	}
}

func TestWrongPasswordFailsClearlyWithoutTheSecret(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	login := b.role(t, "alice", "pw")
	const wrong = "Wr0ng-Pa55word"
	p := newProviderWithPassword(t, b.DSNFor(b.admin), wrong)

	err := p.Grant(ctx(t), grantOf(login, target, time.Now()))
	if err == nil {
		t.Fatal("Grant with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), adminPassword) {
		t.Fatalf("error shows a password: %q", err)
	}
	if !strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("error = %q, want it to say the password was refused", err)
	}
	if !errors.Is(err, grants.ErrPermanent) {
		t.Fatalf("error = %q, want permanent", err)
	}
}

func newProviderWithPassword(t *testing.T, dsn, password string) *postgres.Provider {
	t.Helper()
	file := t.TempDir() + "/password"
	if err := writeFile(file, password+"\n"); err != nil {
		t.Fatal(err)
	}
	return newProvider(t, dsn, map[string]any{"password_env": "", "password_file": file})
}

func TestUnreachableServerIsTransientAndPrompt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dsn := "postgres://jitbot@127.0.0.1:" + itoa(port) + "/app?sslmode=disable"
	p := newProvider(t, dsn, map[string]any{"timeout": "2s"})

	start := time.Now()
	err = p.Grant(ctx(t), grantOf("alice", "reader", time.Now()))
	took := time.Since(start)
	if err == nil || errors.Is(err, grants.ErrPermanent) {
		t.Fatalf("Grant against a closed port = %v, want a transient error", err)
	}
	if took > 2*time.Second+500*time.Millisecond {
		t.Fatalf("Grant took %s, want within the 2s timeout", took)
	}
}

func TestQuotesAndSpacesInNamesAreJustNames(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, `read "all"; DROP TABLE secret; --`, "")
	login := b.role(t, `o'brien "x"`, "pw")
	b.Exec("CREATE TABLE secret (v text)")
	p := b.provider(t, map[string]any{"valid_until": true})
	g := grantOf(login, target, time.Now().Add(time.Hour))

	if err := p.Grant(ctx(t), g); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	if !b.held(t, login, target) {
		t.Fatal("membership missing after grant")
	}
	if err := p.Revoke(ctx(t), g); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if b.held(t, login, target) {
		t.Fatal("membership still there after revoke")
	}
	b.Exec("SELECT count(*) FROM secret") // the table survived
}

func TestMembersAndReconcileFindDrift(t *testing.T) {
	b := newBackend(t)
	target := b.role(t, "reader", "")
	managed := b.role(t, "auditor", "")
	alice := b.role(t, "alice", "pw")
	mallory := b.role(t, "mallory", "pw")
	eve := b.role(t, "eve", "pw")
	p := b.provider(t, map[string]any{"managed_roles": []string{managed}})

	live := grantOf(alice, target, time.Now().Add(time.Hour))
	if err := p.Grant(ctx(t), live); err != nil {
		t.Fatalf("Grant: %v", err)
	}
	// Granted by hand, outside jitbot.
	b.Exec("GRANT " + ident(target) + " TO " + ident(mallory))
	b.Exec("GRANT " + ident(managed) + " TO " + ident(eve))

	members, err := p.Members(ctx(t), []string{target})
	if err != nil {
		t.Fatalf("Members: %v", err)
	}
	if len(members) != 3 {
		t.Fatalf("Members = %v, want alice and mallory of %s and eve of %s",
			members, target, managed)
	}
	drift, err := grants.Reconcile(ctx(t), p, nil, []grants.Grant{live})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	want := map[grants.Member]bool{
		{Principal: mallory, Target: target}: true,
		{Principal: eve, Target: managed}:    true,
	}
	if len(drift) != len(want) || !want[drift[0]] || !want[drift[1]] {
		t.Fatalf("drift = %v, want mallory in %s and eve in %s", drift, target, managed)
	}
}

func TestErrorsNeverRepeatThePassword(t *testing.T) {
	b := newBackend(t)
	login := b.role(t, "alice", "pw")
	p := b.provider(t, nil)

	// A role named like the password makes the error text carry it.
	err := p.Grant(ctx(t), grantOf(login, adminPassword, time.Now()))
	if err == nil {
		t.Fatal("Grant of a missing role succeeded")
	}
	if strings.Contains(err.Error(), adminPassword) {
		t.Fatalf("error shows the password: %q", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") || !errors.Is(err, grants.ErrPermanent) {
		t.Fatalf("error = %q, want a permanent error with the password redacted", err)
	}
}
