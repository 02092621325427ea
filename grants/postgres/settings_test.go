package postgres_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/postgres"
	"github.com/rs/zerolog"
)

func TestNewRejectsBadSettings(t *testing.T) {
	const dsn = "postgres://jitbot@127.0.0.1:5432/app"
	tests := []struct {
		name     string
		settings map[string]any
		want     string
	}{
		{"no dsn", map[string]any{}, "dsn: missing"},
		{"password in url", map[string]any{
			"dsn": "postgres://jitbot:hunter2@127.0.0.1/app"}, "must not contain a password"},
		{"password in keywords", map[string]any{
			"dsn": "host=127.0.0.1 user=jitbot password=hunter2"}, "must not contain a password"},
		{"both password sources", map[string]any{"dsn": dsn,
			"password_env": "A", "password_file": "/x"}, "set only one"},
		{"empty password variable", map[string]any{"dsn": dsn,
			"password_env": "UNSET_VAR"}, "UNSET_VAR is empty"},
		{"unreadable password file", map[string]any{"dsn": dsn,
			"password_file": "/nonexistent/pw"}, "password_file"},
		{"unknown key", map[string]any{"dsn": dsn, "pasword_env": "A"},
			"unknown setting pasword_env"},
		{"duration without unit", map[string]any{"dsn": dsn, "timeout": 10},
			"needs a unit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := grants.Env{Log: zerolog.Nop(), Getenv: func(string) string { return "" }}
			_, err := postgres.New("db", tt.settings, env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error saying %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the password: %q", err)
			}
		})
	}
}

func TestNewLogsTheDSNWithoutSecrets(t *testing.T) {
	var log strings.Builder
	env := grants.Env{
		Log:    zerolog.New(&log),
		Getenv: func(string) string { return "s3cret-value" },
	}
	p, err := postgres.New("db", map[string]any{
		"dsn": "postgres://jitbot@127.0.0.1:5432/app", "password_env": "PW",
	}, env)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer p.(*postgres.Provider).Close()
	if !strings.Contains(log.String(), "127.0.0.1:5432/app") {
		t.Fatalf("log = %q, want the server named", log.String())
	}
	if strings.Contains(log.String(), "s3cret-value") {
		t.Fatalf("log shows the password: %q", log.String())
	}
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}

func itoa(n int) string { return strconv.Itoa(n) }
