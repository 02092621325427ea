package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jitbot/jitbot/internal/pgtest"
)

func connectVia(t *testing.T, s *pgtest.Server, p *pgtest.Proxy) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(p.DSNFor("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Password = s.Password()
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect through proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
