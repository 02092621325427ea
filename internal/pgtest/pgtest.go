// Package pgtest runs a throwaway PostgreSQL server for tests: initdb into a
// temporary directory, a server listening only on 127.0.0.1 with password
// (scram) authentication, and a fresh database for every test. When the
// tests run as root the server runs as the unprivileged account jitbot-test,
// created with useradd when missing.
//
// One server is shared by all tests of a binary whose TestMain calls Main;
// without Main every Start gets its own server. Roles are cluster-wide in
// PostgreSQL, so tests sharing a server name their roles with Server.Name.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is one test's view of a running PostgreSQL server: a database of
// its own on it, dropped when the test ends.
type Server struct {
	// Host is always 127.0.0.1.
	Host string
	// Port is the TCP port the server listens on.
	Port int
	// Database is the name of this test's database.
	Database string
	// DSN connects to Database as the superuser postgres (password included).
	DSN string

	t    testing.TB
	c    *cluster
	conn *pgx.Conn
}

var shared struct {
	enabled bool
	once    sync.Once
	c       *cluster
	err     error
}

var dbSeq atomic.Int64

// Main runs the tests of m with one server shared by all of them, started
// on first use and stopped when the tests end. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	shared.enabled = true
	code := m.Run()
	if shared.c != nil {
		shared.c.stop()
	}
	return code
}

// Start returns a server with a fresh database for this test. It skips the
// test when PostgreSQL is not installed, unless the environment variable CI
// is set, in which case the test fails.
func Start(t testing.TB) *Server {
	t.Helper()
	c, err := clusterFor(t)
	if errors.Is(err, errNoBinaries) {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL server binaries not found: install the postgresql package")
		}
		t.Skip("PostgreSQL server binaries not found; install them with " +
			"apt-get install postgresql")
	}
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	return newServer(t, c)
}

// clusterFor returns the shared cluster under Main, else a private one
// stopped when t ends.
func clusterFor(t testing.TB) (*cluster, error) {
	if shared.enabled {
		shared.once.Do(func() { shared.c, shared.err = startCluster() })
		return shared.c, shared.err
	}
	c, err := startCluster()
	if err == nil {
		t.Cleanup(c.stop)
	}
	return c, err
}

func newServer(t testing.TB, c *cluster) *Server {
	t.Helper()
	db := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	admin := mustConnect(t, c.dsn("postgres"))
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx(t), "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create database %s: %v", db, err)
	}
	t.Cleanup(func() { dropDatabase(t, c, db) })
	s := &Server{Host: "127.0.0.1", Port: c.port, Database: db, DSN: c.dsn(db), t: t, c: c}
	s.conn = mustConnect(t, s.DSN)
	t.Cleanup(func() { s.conn.Close(context.Background()) })
	return s
}

func dropDatabase(t testing.TB, c *cluster, db string) {
	admin, err := pgx.Connect(context.Background(), c.dsn("postgres"))
	if err != nil {
		t.Logf("drop database %s: %v", db, err)
		return
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(),
		"DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		t.Logf("drop database %s: %v", db, err)
	}
}

// Exec runs sql (with optional arguments) as the superuser in this test's
// database and fails the test on error. It uses Conn, so it must not be
// called from two goroutines at once.
func (s *Server) Exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.conn.Exec(ctx(s.t), sql, args...); err != nil {
		s.t.Fatalf("exec %q: %v", sql, err)
	}
}

// ConnectAs opens a connection to this test's database as login with
// password. The connection is closed when the test ends; the caller may
// close it sooner.
func (s *Server) ConnectAs(login, password string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.DSNFor(login))
	if err != nil {
		return nil, err
	}
	cfg.Password = password
	conn, err := pgx.ConnectConfig(ctx(s.t), cfg)
	if err != nil {
		return nil, err
	}
	s.t.Cleanup(func() { conn.Close(context.Background()) })
	return conn, nil
}

// DSNFor is a connection string for login on this test's database, without
// a password.
func (s *Server) DSNFor(login string) string {
	return s.dsnVia(login, s.Port)
}

func (s *Server) dsnVia(login string, port int) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(login),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(port)),
		Path:     "/" + s.Database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Conn is a superuser connection to this test's database, closed when the
// test ends. Like any pgx.Conn it is not safe for concurrent use.
func (s *Server) Conn() *pgx.Conn { return s.conn }

// Password is the superuser's password.
func (s *Server) Password() string { return s.c.password }

// Name returns base made unique to this test's database, for naming roles,
// which are shared by every database of the server.
func (s *Server) Name(base string) string {
	return base + "_" + s.Database
}

func mustConnect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx(t), dsn)
	if err != nil {
		t.Fatalf("connect to test server: %v", err)
	}
	return conn
}

// ctx bounds helper calls so a wedged server fails the test, not the run.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
