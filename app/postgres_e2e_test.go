package app_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jitbot/jitbot/internal/pgtest"
	"github.com/jitbot/jitbot/internal/slackfake"
	"github.com/jitbot/jitbot/store"
)

const (
	pgAdminPassword = "jitbot-e2e-5c1d9a"
	pgLoginPassword = "login-e2e-pw"
	pgPasswordEnv   = "E2E_PG_PASSWORD"
	pgWrongEnv      = "E2E_PG_WRONG_PASSWORD"
	pgWrongPassword = "not-the-password-3e8f"
	// pgQuotedTarget is a role name that no server has, made of the
	// characters that break naive SQL quoting.
	pgQuotedTarget = `it's "read" only; DROP TABLE secret; --`
)

// pgConfigText runs the real postgres provider three ways (working, aimed
// at a closed port, with a wrong password). Placeholders in angle brackets
// are filled by pgConfig; the %q verbs are newE2EWith's.
const pgConfigText = e2eHead + `providers:
  pg:
    type: postgres
    settings: {dsn: <dsn>, password_env: ` + pgPasswordEnv + `, timeout: 5s}
  pgdown:
    type: postgres
    settings: {dsn: <closed-dsn>, password_env: ` + pgPasswordEnv + `, timeout: 5s}
  pgbadpw:
    type: postgres
    settings: {dsn: <dsn>, password_env: ` + pgWrongEnv + `, timeout: 5s}
policy:
  admins: [U0ADMIN]
  groups:
    dba: [U0BOB, U0CAROL]
  defaults:
    channel: C0APPROVE
    max_duration: 4h
    approval_timeout: 30m
    warn_before: 10m
    reason: {min_length: 10, pattern: "INC-[0-9]+", hint: "an incident reference"}
  resources:
    app-db:
      provider: pg
      principal: <principal>
      roles:
        readonly: {target: <reader>, approvers: [group:dba]}
        ghost: {target: <ghost>, approvers: [group:dba]}
        quoted: {target: <quoted>, approvers: [group:dba]}
    down-db:
      provider: pgdown
      principal: <principal>
      roles:
        readonly: {target: <reader>, approvers: [group:dba]}
    badpw-db:
      provider: pgbadpw
      principal: <principal>
      roles:
        readonly: {target: <reader>, approvers: [group:dba]}
`

// pgBackend is a test database set up the way an operator would: an
// account for jitbot that may grant roles (CREATEROLE) and end sessions
// (pg_signal_backend), a table secret that only the role reader may read,
// and database logins named after the Slack users' email addresses.
type pgBackend struct {
	*pgtest.Server
	admin  string // jitbot's account
	reader string // the role granted through the bot
}

func newPGBackend(t testing.TB) *pgBackend {
	t.Helper()
	s := pgtest.Start(t)
	p := &pgBackend{Server: s, admin: s.Name("jitbot"), reader: s.Name("reader")}
	p.role(t, p.admin, "LOGIN CREATEROLE PASSWORD '"+pgAdminPassword+"'")
	s.Exec("GRANT pg_signal_backend TO " + pgIdent(p.admin))
	p.role(t, p.reader, "")
	s.Exec("CREATE TABLE secret (v text)")
	s.Exec("INSERT INTO secret VALUES ('42')")
	s.Exec("REVOKE ALL ON secret FROM PUBLIC")
	s.Exec("GRANT SELECT ON secret TO " + pgIdent(p.reader))
	t.Setenv(pgPasswordEnv, pgAdminPassword)
	t.Setenv(pgWrongEnv, pgWrongPassword)
	return p
}

// role creates a role, dropped when the test ends (roles outlive the
// test's database).
func (p *pgBackend) role(t testing.TB, name, options string) {
	t.Helper()
	p.Exec("CREATE ROLE " + pgIdent(name) + " " + options)
	t.Cleanup(func() {
		ctx := context.Background()
		conn := p.Conn()
		_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "+
			"WHERE usename = $1", name)
		for _, sql := range []string{"DROP OWNED BY ", "DROP ROLE IF EXISTS "} {
			if _, err := conn.Exec(ctx, sql+pgIdent(name)); err != nil {
				t.Logf("clean up role %s: %v", name, err)
			}
		}
	})
}

// login creates the database login of the Slack user whose email address
// starts with local, as the principal template names it.
func (p *pgBackend) login(t testing.TB, local string) string {
	t.Helper()
	name := p.Name(local)
	p.role(t, name, "LOGIN PASSWORD '"+pgLoginPassword+"'")
	return name
}

// config is the configuration text for newE2EWith.
func (p *pgBackend) config(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	closedDSN := fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable",
		p.admin, closed, p.Database)
	return strings.NewReplacer(
		"<dsn>", strconv.Quote(p.DSNFor(p.admin)),
		"<closed-dsn>", strconv.Quote(closedDSN),
		"<principal>", strconv.Quote("{{ .EmailLocal }}_"+p.Database),
		"<reader>", strconv.Quote(p.reader),
		"<ghost>", strconv.Quote(p.Name("nobody")),
		"<quoted>", strconv.Quote(pgQuotedTarget),
	).Replace(pgConfigText)
}

// connect opens a session as login.
func (p *pgBackend) connect(t testing.TB, login string) *pgx.Conn {
	t.Helper()
	conn, err := p.ConnectAs(login, pgLoginPassword)
	if err != nil {
		t.Fatalf("connect as %s: %v", login, err)
	}
	return conn
}

// sessions counts login's open sessions as the server sees them.
func (p *pgBackend) sessions(t testing.TB, login string) int {
	t.Helper()
	var n int
	err := p.Conn().QueryRow(context.Background(),
		"SELECT count(*) FROM pg_stat_activity WHERE usename = $1", login).Scan(&n)
	if err != nil {
		t.Fatalf("count sessions of %s: %v", login, err)
	}
	return n
}

// memberships counts the roles login is a direct member of.
func (p *pgBackend) memberships(t testing.TB, login string) int {
	t.Helper()
	var n int
	err := p.Conn().QueryRow(context.Background(), `
SELECT count(*) FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
WHERE m.rolname = $1`, login).Scan(&n)
	if err != nil {
		t.Fatalf("count memberships of %s: %v", login, err)
	}
	return n
}

func readSecret(conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v string
	return conn.QueryRow(ctx, "SELECT v FROM secret").Scan(&v)
}

func wantReads(t *testing.T, conn *pgx.Conn, when string) {
	t.Helper()
	if err := readSecret(conn); err != nil {
		t.Fatalf("%s: read secret: %v", when, err)
	}
}

func wantDenied(t *testing.T, conn *pgx.Conn, when string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if err := readSecret(conn); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("%s: read secret: %v, want permission denied (42501)", when, err)
	}
}

func wantEnded(t *testing.T, conn *pgx.Conn, when string) {
	t.Helper()
	err := readSecret(conn)
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) && pgErr.Code == "42501" {
		t.Fatalf("%s: session still open (read secret: %v)", when, err)
	}
}

func pgIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// requestAs has user ask for resource/role and returns the approval
// message. It returns once the requester is told the request waits, as a
// person would be: jitbot has then recorded where its approval message is.
func (e *e2e) requestAs(user, resource, role, duration string) slackfake.Message {
	e.t.Helper()
	before, dms := len(e.srv.Messages(approval)), len(e.srv.DMs(user))
	e.slash(user, fmt.Sprintf("request %s %s %s INC-42 the database is on fire",
		resource, role, duration))
	e.wait("the approval message and the requester's receipt", func() bool {
		if len(e.srv.Messages(approval)) == before {
			return false
		}
		for _, m := range e.srv.DMs(user)[dms:] {
			if strings.Contains(m.Text, "waiting for approval") {
				return true
			}
		}
		return false
	})
	return e.srv.Messages(approval)[before]
}

// approve has bob approve msg and waits for the thread to say how it went.
func (e *e2e) approve(msg slackfake.Message, outcome string) {
	e.t.Helper()
	e.click(bob, msg, "jit_approve")
	e.wait("a reply saying "+outcome, e.replyWith(msg, outcome))
}

// list returns what /jit list shows user.
func (e *e2e) list(user string) string {
	e.t.Helper()
	before := len(e.srv.Ephemerals(user))
	e.slash(user, "list")
	e.wait("the list", func() bool { return len(e.srv.Ephemerals(user)) > before })
	eph := e.srv.Ephemerals(user)[before]
	return readable(eph.Text, eph.Blocks)
}

func TestPostgresGrantThroughBotEndsAtExpiry(t *testing.T) {
	pg := newPGBackend(t)
	login := pg.login(t, "alice")
	e := newE2EWith(t, pg.config(t))
	wantDenied(t, pg.connect(t, login), "before the grant")

	msg := e.requestAs(alice, "app-db", "readonly", "1h")
	e.approve(msg, "Granted")
	during := pg.connect(t, login)
	wantReads(t, during, "after approval")
	if got := e.list(alice); !strings.Contains(got, "active") {
		t.Fatalf("/jit list after approval does not show the grant: %s", got)
	}

	e.clock.Advance(61 * time.Minute)
	e.wait("a revoked reply", e.replyWith(msg, "revoked"))
	wantEnded(t, during, "after expiry")
	if n := pg.sessions(t, login); n != 0 {
		t.Fatalf("%d sessions of %s left open after expiry", n, login)
	}
	wantDenied(t, pg.connect(t, login), "after expiry")
	if got := e.list(alice); strings.Contains(got, "active") {
		t.Fatalf("/jit list after expiry still shows an active grant: %s", got)
	}
}

func TestPostgresOverdueGrantEndsAfterRestart(t *testing.T) {
	pg := newPGBackend(t)
	login := pg.login(t, "alice")
	e := newE2EWith(t, pg.config(t))

	msg := e.requestAs(alice, "app-db", "readonly", "1h")
	e.approve(msg, "Granted")
	during := pg.connect(t, login)
	wantReads(t, during, "after approval")

	e.stop()
	e.clock.Advance(90 * time.Minute) // jitbot is down at expiry
	wantReads(t, during, "while jitbot is down, before it revokes")
	e.start()
	e.wait("a revoked reply in the original thread", e.replyWith(msg, "revoked"))
	wantEnded(t, during, "after the overdue revocation")
	wantDenied(t, pg.connect(t, login), "after the overdue revocation")
}

func TestPostgresOverlappingGrantsKeepAccessUntilTheLast(t *testing.T) {
	pg := newPGBackend(t)
	login := pg.login(t, "alice")
	e := newE2EWith(t, pg.config(t))

	first := e.requestAs(alice, "app-db", "readonly", "1h")
	e.approve(first, "Granted")
	e.clock.Advance(30 * time.Minute)
	second := e.requestAs(alice, "app-db", "readonly", "1h")
	e.approve(second, "Granted")
	during := pg.connect(t, login)

	e.clock.Advance(31 * time.Minute) // the first has expired, the second runs
	e.wait("the first grant to end", e.replyWith(first, "revoked"))
	wantReads(t, during, "after the first expiry, in a session opened before it")
	wantReads(t, pg.connect(t, login), "after the first expiry, in a new session")

	e.clock.Advance(30 * time.Minute)
	e.wait("the second grant to end", e.replyWith(second, "revoked"))
	wantEnded(t, during, "after the second expiry")
	wantDenied(t, pg.connect(t, login), "after the second expiry")
}

func TestPostgresQuotedRoleNameIsGrantedAsWritten(t *testing.T) {
	pg := newPGBackend(t)
	login := pg.login(t, "alice")
	quoted := pg.Name(`ops "read" it's`)
	pg.role(t, quoted, "")
	pg.Exec("GRANT " + pgIdent(pg.reader) + " TO " + pgIdent(quoted))
	config := strings.Replace(pg.config(t), strconv.Quote(pgQuotedTarget),
		strconv.Quote(quoted), 1)
	e := newE2EWith(t, config)

	msg := e.requestAs(alice, "app-db", "quoted", "1h")
	e.approve(msg, "Granted")
	wantReads(t, pg.connect(t, login), "after approval")
	e.clock.Advance(61 * time.Minute)
	e.wait("a revoked reply", e.replyWith(msg, "revoked"))
	wantDenied(t, pg.connect(t, login), "after expiry")
}

func TestPostgresGrantFailuresAreToldPlainlyAndStoreNothingActive(t *testing.T) {
	pg := newPGBackend(t)
	aliceLogin := pg.login(t, "alice") // mallory has no login
	e := newE2EWith(t, pg.config(t))
	const (
		refused = "the provider refused the change"
		failed  = "the provider call failed"
	)
	tests := []struct {
		name, user, resource, role, phrase string
	}{
		{"unreachable server", alice, "down-db", "readonly", failed},
		{"wrong password", alice, "badpw-db", "readonly", refused},
		{"target role that does not exist", alice, "app-db", "ghost", refused},
		{"login that does not exist", mallory, "app-db", "readonly", refused},
		{"quotes and spaces in the role name", alice, "app-db", "quoted", refused},
	}
	// Whatever a person reads must hold none of these: SQL, server
	// addresses, driver words, the passwords.
	forbidden := []string{"SQLSTATE", "GRANT", "REVOKE", "SELECT", "DROP", "pg_",
		"127.0.0.1", "dial", "password", pgAdminPassword, pgWrongPassword, pgQuotedTarget}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := e.requestAs(tc.user, tc.resource, tc.role, "1h")
			e.approve(msg, "failed")
			var dms []slackfake.Message
			e.wait("the requester told", func() bool {
				dms = e.srv.DMs(tc.user)
				return len(dms) > 0 && strings.Contains(dms[len(dms)-1].Text, "failed")
			})
			seen := []string{readable(dms[len(dms)-1].Text, dms[len(dms)-1].Blocks)}
			for _, r := range e.srv.Replies(msg.Channel, msg.TS) {
				seen = append(seen, readable(r.Text, r.Blocks))
			}
			all := strings.Join(seen, "\n")
			if !strings.Contains(all, tc.phrase) {
				t.Errorf("failure notices lack %q:\n%s", tc.phrase, all)
			}
			for _, word := range forbidden {
				if strings.Contains(all, word) {
					t.Errorf("failure notices show %q:\n%s", word, all)
				}
			}
			if got := e.list(tc.user); strings.Contains(got, "active") ||
				strings.Contains(got, "granting") {
				t.Errorf("/jit list shows a live grant after a failure: %s", got)
			}
		})
	}

	if n := pg.memberships(t, aliceLogin); n != 0 {
		t.Errorf("%s holds %d roles after failed grants", aliceLogin, n)
	}
	var rows int
	if err := pg.Conn().QueryRow(context.Background(),
		"SELECT count(*) FROM secret").Scan(&rows); err != nil || rows != 1 {
		t.Errorf("table secret after the quoted name: %d rows, %v", rows, err)
	}
	e.stop()
	db, err := store.Open(e.cfg.Store.Path, store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var states []store.GrantState
	err = db.View(func(tx *store.Tx) error {
		for _, user := range []string{alice, mallory} {
			gs, err := tx.UserGrants(user, false)
			if err != nil {
				return err
			}
			for _, g := range gs {
				states = append(states, g.State)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Repeat([]store.GrantState{store.GrantFailed}, len(tests))
	if !slices.Equal(states, want) {
		t.Fatalf("stored grant states %v, want %v", states, want)
	}
}

// BenchmarkApproveToMembership measures the time from the Approve click to
// the membership existing on the server, as a client polling the server
// sees it. ns/op is a whole cycle: request, approval, grant and revoke.
// Each request is revoked (by moving jitbot's clock past its
// expiry) before the next.
func BenchmarkApproveToMembership(b *testing.B) {
	pg := newPGBackend(b)
	login := pg.login(b, "alice")
	e := newE2EWith(b, pg.config(b))
	watch, err := pgx.Connect(b.Context(), pg.DSN)
	if err != nil {
		b.Fatal(err)
	}
	defer watch.Close(context.Background())
	held := func() bool {
		var ok bool
		err := watch.QueryRow(b.Context(), "SELECT pg_has_role($1, $2, 'MEMBER')",
			login, pg.reader).Scan(&ok)
		if err != nil {
			b.Fatalf("check membership: %v", err)
		}
		return ok
	}

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		msg := e.requestAs(alice, "app-db", "readonly", "1h")
		start := time.Now()
		e.click(bob, msg, "jit_approve")
		for !held() {
			if time.Since(start) > 15*time.Second {
				b.Fatal("membership did not appear within 15s of the click")
			}
		}
		lat = append(lat, time.Since(start))
		// The expiry is armed once the grant is stored, just before this reply.
		e.wait("the granted reply", e.replyWith(msg, "Granted"))
		e.clock.Advance(61 * time.Minute)
		e.wait("the revocation", e.replyWith(msg, "revoked"))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
