package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	p := mustParse(t, basePolicy)
	monday := berlin(t, "2026-03-02 10:00")
	tests := []struct {
		name string
		in   Input
		want []string
	}{
		{"needs approval", Input{Requester: bob, Resource: "prod-db", Role: "readonly",
			Reason: "INC-7 disk full", Now: monday}, []string{
			"request: U0BOB wants prod-db/readonly\n",
			"rule: resources.prod-db.roles.readonly\n",
			"allowed: yes\n",
			"duration: 1h (max 2h)\n",
			"approval: 1 of S0DBA (U0DBA1, U0DBA2) in C0APPROVALS\n",
			"backup approvers: U0BACKUP\n",
		}},
		{"auto-approved", Input{Requester: oncall, Resource: "prod-db", Role: "readonly",
			Reason: "INC-7 disk full", Now: monday}, []string{
			"approval: automatic by rule oncall-business-hours\n",
		}},
		{"break-glass", Input{Requester: bob, Resource: "prod-db", Role: "readonly",
			Reason: "INC-7 disk full", BreakGlass: true}, []string{
			"wants prod-db/readonly (break-glass)\n",
			"duration: 30m (max 30m)\n",
			"approval: none, break-glass; security alert to C0SECURITY\n",
		}},
		{"refused", Input{Requester: bob, Resource: "prod-db", Role: "admin",
			Reason: "short"}, []string{
			"allowed: no\n",
			"  requester: not allowed to request prod-db/admin\n",
			"  reason: must be at least 10 characters\n",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := p.Explain(context.Background(), newMemDirectory(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			out := e.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("explanation lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestExplainShowsUnresolvableGroup(t *testing.T) {
	p := mustParse(t, basePolicy)
	dir := newMemDirectory()
	dir.fail(errDirectoryDown)
	in := Input{Requester: bob, Resource: "prod-db", Role: "readonly", Reason: "INC-7 disk full"}
	e, err := p.Explain(context.Background(), dir, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Approvers) != 1 || !strings.Contains(e.Approvers[0], "members unknown") {
		t.Errorf("Approvers = %v, want the group marked unresolved", e.Approvers)
	}
}

func TestHolder(t *testing.T) {
	var h Holder
	if h.Current() != nil {
		t.Fatal("zero Holder is not empty")
	}
	a, b := mustParse(t, basePolicy), mustParse(t, dayWindowPolicy)
	h2 := NewHolder(a)
	if old := h2.Swap(b); old != a || h2.Current() != b {
		t.Fatal("Swap did not replace the policy")
	}
}

// replaceFile writes content next to path and renames it over path, as
// editors and deploy tools do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	replaceFile(t, path, basePolicy)
	load := func() (*Policy, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return Parse(b)
	}
	changes, errs := make(chan *Policy, 4), make(chan error, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watch(ctx, path, 10*time.Millisecond, load,
			func(p *Policy) { changes <- p }, func(err error) { errs <- err })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch returned %v", err)
		}
	})
	first := mustParse(t, basePolicy).Version()

	// The watcher may not be armed yet; keep writing new content until it
	// reports.
	var got *Policy
	deadline := time.After(10 * time.Second)
	for i := 0; got == nil; i++ {
		replaceFile(t, path, strings.ReplaceAll(dayWindowPolicy, "U0ALICE",
			fmt.Sprintf("U0ALICE%d", i)))
		select {
		case got = <-changes:
		case err := <-errs:
			t.Fatalf("onError(%v)", err)
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no reload after the file was replaced")
		}
	}
	if got.Version() == first {
		t.Fatal("onChange got the old policy")
	}

	replaceFile(t, path, "resources: [")
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "invalid policy") {
			t.Errorf("onError(%v), want the validation error", err)
		}
	case p := <-changes:
		t.Fatalf("a broken file was reported as a change to %s", p.Version())
	case <-time.After(10 * time.Second):
		t.Fatal("no error after the file was broken")
	}
}
