package pgtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jitbot/jitbot/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStartGivesEachTestItsOwnDatabase(t *testing.T) {
	var names []string
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			s := pgtest.Start(t)
			s.Exec("CREATE TABLE only_here (id int)")
			names = append(names, s.Database)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases = %v, want two different ones", names)
	}
}

func TestConnectAsChecksThePassword(t *testing.T) {
	s := pgtest.Start(t)
	login := s.Name("alice")
	s.Exec(`CREATE ROLE "` + login + `" LOGIN PASSWORD 'right'`)

	if _, err := s.ConnectAs(login, "wrong"); err == nil {
		t.Fatal("connect with a wrong password succeeded")
	}
	conn, err := s.ConnectAs(login, "right")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	var who string
	if err := conn.QueryRow(context.Background(), "SELECT current_user").Scan(&who); err != nil {
		t.Fatal(err)
	}
	if who != login {
		t.Fatalf("current_user = %q, want %q", who, login)
	}
}

func TestProxyStallHoldsQueriesUntilResumed(t *testing.T) {
	s := pgtest.Start(t)
	p := s.Proxy()
	conn := connectVia(t, s, p)

	p.Stall(true)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("query through a stalled proxy succeeded")
	}

	p.Stall(false)
	conn = connectVia(t, s, p)
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("query after resume: %v", err)
	}
}
