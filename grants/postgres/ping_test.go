package postgres_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPingNamesWhatTheAccountCannotDo(t *testing.T) {
	b := newBackend(t)
	administered := b.role(t, "admined", "")
	other := b.role(t, "other", "")

	// The backend's account has CREATEROLE and pg_signal_backend; this one
	// has neither, only the ADMIN option on one role.
	bare := b.Name(fmt.Sprintf("bare%d", seq.Add(1)))
	b.Exec(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", ident(bare), adminPassword))
	b.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", ident(administered), ident(bare)))
	t.Cleanup(func() { dropRole(b.Server, bare) })

	wrongPassword := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(wrongPassword, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		login    string
		settings map[string]any
		targets  []string
		want     []string // one entry per line of the error, in order
	}{
		{
			name:    "the operator's setup passes",
			login:   b.admin,
			targets: []string{administered, other},
		},
		{
			name:    "a role that does not exist",
			login:   b.admin,
			targets: []string{administered, "no_such_role"},
			want:    []string{"role no_such_role does not exist"},
		},
		{
			name:  "a managed role is checked like a target",
			login: bare,
			settings: map[string]any{
				"managed_roles": []string{other}, "terminate_sessions": false},
			targets: []string{administered},
			want:    []string{"account " + bare + " cannot grant role " + other},
		},
		{
			name:     "no CREATEROLE, no pg_signal_backend, valid_until on",
			login:    bare,
			settings: map[string]any{"valid_until": true},
			targets:  []string{administered, other},
			want: []string{
				"account " + bare + " cannot grant role " + other,
				"cannot end sessions (terminate_sessions is on): GRANT pg_signal_backend TO",
				"cannot set VALID UNTIL (valid_until is on): it needs CREATEROLE",
			},
		},
		{
			name:     "a wrong password",
			login:    b.admin,
			settings: map[string]any{"password_env": "", "password_file": wrongPassword},
			want:     []string{"password authentication failed"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, b.DSNFor(tc.login), tc.settings)
			err := p.Ping(ctx(t), tc.targets)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Ping passed, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("Ping reported %d problem(s), want %d:\n%v",
					len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
			if strings.Contains(err.Error(), adminPassword) {
				t.Errorf("Ping's error repeats the password: %v", err)
			}
		})
	}
}
