package exec_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/exec"
	"github.com/jitbot/jitbot/grants/grantstest"
)

// The backend is a state file holding one "principal target" line per
// held grant, kept by shell scripts. The provider never uses a shell
// itself; the scripts only stand in for an operator's programs.
const grantScript = `#!/bin/sh
state="$1"; line="$2 $3"
if [ -e "$state.slow" ]; then sleep 30; fi
grep -qxF "$line" "$state" || echo "$line" >> "$state"
`

const revokeScript = `#!/bin/sh
state="$1"; line="$JITBOT_PRINCIPAL $JITBOT_TARGET"
grep -vxF "$line" "$state" > "$state.tmp"
mv "$state.tmp" "$state"
`

const checkScript = `#!/bin/sh
grep -qxF "$JITBOT_PRINCIPAL $JITBOT_TARGET" "$1"
`

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatalf("write script %s: %v", name, err)
	}
	return path
}

func newProvider(t *testing.T, settings map[string]any) grants.Provider {
	t.Helper()
	p, err := exec.New("test", settings, grants.Env{Log: zerolog.Nop()})
	if err != nil {
		t.Fatalf("exec.New: %v", err)
	}
	return p
}

func TestContract(t *testing.T) {
	grantstest.Contract(t, func(t *testing.T) grantstest.Harness {
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		if err := os.WriteFile(state, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		p := newProvider(t, map[string]any{
			"grant": []any{writeScript(t, dir, "grant", grantScript),
				state, "{{.Principal}}", "{{.Target}}"},
			"revoke": []any{writeScript(t, dir, "revoke", revokeScript), state},
			"check":  []any{writeScript(t, dir, "check", checkScript), state},
		})
		var n atomic.Int64
		return grantstest.Harness{
			Provider: p,
			Held:     func(g grants.Grant) bool { return stateHolds(t, state, g) },
			Grant: func() grants.Grant {
				i := n.Add(1)
				return grants.Grant{
					ID:        fmt.Sprintf("g_%d", i),
					Principal: fmt.Sprintf("user%d", i),
					Target:    "readonly",
				}
			},
			Slow: func(on bool) { setFlag(t, state+".slow", on) },
		}
	})
}

func stateHolds(t *testing.T, state string, g grants.Grant) bool {
	t.Helper()
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	return slices.Contains(strings.Split(string(b), "\n"), g.Principal+" "+g.Target)
}

func setFlag(t *testing.T, path string, on bool) {
	t.Helper()
	if !on {
		_ = os.Remove(path)
		return
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFailureCarriesStderr(t *testing.T) {
	tests := []struct {
		name          string
		script        string
		permanentList []any
		wantPermanent bool
		wantDetail    string
	}{
		{
			name:       "transient failure",
			script:     "echo 'connection refused' >&2; exit 2",
			wantDetail: "connection refused",
		},
		{
			name:          "exit 3 is permanent",
			script:        "echo 'no such role: readonly' >&2; exit 3",
			wantPermanent: true,
			wantDetail:    "no such role: readonly",
		},
		{
			name:          "configured permanent code",
			script:        "echo '  denied  ' >&2; exit 7",
			permanentList: []any{7},
			wantPermanent: true,
			wantDetail:    "denied",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := writeScript(t, t.TempDir(), "fail", "#!/bin/sh\n"+tt.script+"\n")
			settings := map[string]any{"grant": []any{prog}, "revoke": []any{prog}}
			if tt.permanentList != nil {
				settings["permanent_exit_codes"] = tt.permanentList
			}
			err := newProvider(t, settings).Grant(t.Context(), grants.Grant{ID: "g_1"})

			var gerr *grants.Error
			if !errors.As(err, &gerr) {
				t.Fatalf("Grant() = %v, want a *grants.Error", err)
			}
			if gerr.Detail != tt.wantDetail {
				t.Errorf("Detail = %q, want %q", gerr.Detail, tt.wantDetail)
			}
			if got := errors.Is(err, grants.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if gerr.Op != "grant" || gerr.GrantID != "g_1" || gerr.Provider != "test" {
				t.Errorf("error names %q %q %q, want grant g_1 test",
					gerr.Op, gerr.GrantID, gerr.Provider)
			}
		})
	}
}

func TestStderrIsCapped(t *testing.T) {
	// 64 KiB of noise, then the line that explains the failure.
	prog := writeScript(t, t.TempDir(), "noisy", `#!/bin/sh
i=0
while [ $i -lt 1024 ]; do
  echo "noise noise noise noise noise noise noise noise noise noise noise" >&2
  i=$((i+1))
done
echo "the real reason" >&2
exit 1
`)
	p := newProvider(t, map[string]any{"grant": []any{prog}, "revoke": []any{prog}})
	err := p.Grant(t.Context(), grants.Grant{ID: "g_1"})

	var gerr *grants.Error
	if !errors.As(err, &gerr) {
		t.Fatalf("Grant() = %v, want a *grants.Error", err)
	}
	if len(gerr.Detail) > 2100 {
		t.Errorf("Detail holds %d bytes, want about 2 KiB at most", len(gerr.Detail))
	}
	if !strings.HasSuffix(gerr.Detail, "the real reason") {
		t.Errorf("Detail lost the last line: ...%q", gerr.Detail[len(gerr.Detail)-40:])
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	prog := writeScript(t, dir, "hang", `#!/bin/sh
sleep 60 &
echo $! > "$1"
wait
`)
	p := newProvider(t, map[string]any{
		"grant":   []any{prog, pidFile},
		"revoke":  []any{prog, pidFile},
		"timeout": "300ms",
	})

	start := time.Now()
	err := p.Grant(t.Context(), grants.Grant{ID: "g_1"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Grant took %s with a 300ms timeout", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Grant() = %v, want context.DeadlineExceeded", err)
	}
	if errors.Is(err, grants.ErrPermanent) {
		t.Errorf("a timeout is marked permanent: %v", err)
	}

	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("read child pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("parse child pid: %v", err)
	}
	waitGone(t, pid)
}

// waitGone fails unless pid is dead (or a zombie awaiting its reaper)
// within a few seconds. It polls: the kernel, not a clock we own, decides.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	t.Fatalf("child %d of the timed-out program is still running", pid)
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func TestArgumentsAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	prog := writeScript(t, dir, "record", `#!/bin/sh
out="$1"; shift
for a in "$@"; do echo "arg=$a"; done > "$out"
env | grep -E '^(JITBOT_|EXTRA=|LEAK=)' | sort >> "$out"
`)
	t.Setenv("LEAK", "slack-token")
	p := newProvider(t, map[string]any{
		"grant": []any{prog, out, "{{.ID}}", "{{.User}}", "{{.Email}}",
			"{{.Principal}}", "{{.Resource}}/{{.Role}}", "{{.Target}}", "{{.ExpiresAt}}"},
		"revoke": []any{prog, out},
		"env":    map[string]any{"EXTRA": "yes", "JITBOT_ACTION": "spoofed"},
	})
	g := grants.Grant{
		ID: "g_7", RequestID: "r_3", User: "U123", Email: "ann@example.com",
		Principal: "ann; touch pwned", Resource: "orders-db", Role: "ro",
		Target:    "orders_ro",
		ExpiresAt: time.Date(2026, 3, 1, 14, 30, 0, 0, time.FixedZone("CET", 3600)),
	}
	if err := p.Grant(t.Context(), g); err != nil {
		t.Fatalf("Grant() = %v", err)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := `arg=g_7
arg=U123
arg=ann@example.com
arg=ann; touch pwned
arg=orders-db/ro
arg=orders_ro
arg=2026-03-01T13:30:00Z
EXTRA=yes
JITBOT_ACTION=grant
JITBOT_EMAIL=ann@example.com
JITBOT_EXPIRES_AT=2026-03-01T13:30:00Z
JITBOT_GRANT_ID=g_7
JITBOT_PRINCIPAL=ann; touch pwned
JITBOT_REQUEST_ID=r_3
JITBOT_RESOURCE=orders-db
JITBOT_ROLE=ro
JITBOT_TARGET=orders_ro
JITBOT_USER=U123
`
	if string(b) != want {
		t.Errorf("program saw:\n%s\nwant:\n%s", b, want)
	}
	if _, err := os.Stat("pwned"); err == nil {
		t.Errorf("a principal's text was run as a command")
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		exit     int
		wantHeld bool
		wantErr  bool
	}{
		{name: "exit 0 is held", exit: 0, wantHeld: true},
		{name: "exit 1 is not held", exit: 1},
		{name: "exit 2 is an error", exit: 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog := writeScript(t, t.TempDir(), "check",
				fmt.Sprintf("#!/bin/sh\necho checked >&2\nexit %d\n", tt.exit))
			p := newProvider(t, map[string]any{
				"grant": []any{"true"}, "revoke": []any{"true"}, "check": []any{prog},
			})
			held, err := p.(grants.Checker).Held(t.Context(), grants.Grant{ID: "g_1"})
			if (err != nil) != tt.wantErr || held != tt.wantHeld {
				t.Errorf("Held() = %v, %v; want %v, error %v", held, err, tt.wantHeld, tt.wantErr)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		wantErr  []string
	}{
		{
			name:     "missing grant and revoke",
			settings: map[string]any{},
			wantErr:  []string{"grant: missing", "revoke: missing"},
		},
		{
			name:     "empty program name",
			settings: map[string]any{"grant": []any{""}, "revoke": []any{" "}},
			wantErr:  []string{"grant[0]: the program name is empty", "revoke[0]"},
		},
		{
			name: "unknown key",
			settings: map[string]any{
				"grant": []any{"true"}, "revoke": []any{"true"}, "shell": true,
			},
			wantErr: []string{"unknown setting shell"},
		},
		{
			name: "misspelt placeholder",
			settings: map[string]any{
				"grant": []any{"true", "{{.Principle}}"}, "revoke": []any{"true"},
			},
			wantErr: []string{"grant[1]", "Principle"},
		},
		{
			name: "broken template",
			settings: map[string]any{
				"grant": []any{"true"}, "revoke": []any{"true"}, "check": []any{"x", "{{"},
			},
			wantErr: []string{"check[1]"},
		},
		{
			name: "negative timeout",
			settings: map[string]any{
				"grant": []any{"true"}, "revoke": []any{"true"}, "timeout": "-1s",
			},
			wantErr: []string{"timeout: must be positive"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := exec.New("test", tt.settings, grants.Env{})
			if err == nil {
				t.Fatalf("New() = nil error, want %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCheckerOnlyWhenConfigured(t *testing.T) {
	p := newProvider(t, map[string]any{"grant": []any{"true"}, "revoke": []any{"true"}})
	if _, ok := p.(grants.Checker); ok {
		t.Errorf("provider without a check program claims to be a grants.Checker")
	}
}

func TestProgramNotFoundIsPermanent(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	p := newProvider(t, map[string]any{"grant": []any{missing}, "revoke": []any{missing}})
	err := p.Revoke(t.Context(), grants.Grant{ID: "g_1"})
	if !errors.Is(err, grants.ErrPermanent) {
		t.Errorf("Revoke() = %v, want a permanent error", err)
	}
}
