package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestReconcileFindingsInReview has reconcile find a membership given by
// hand, then remove it, and checks that the access review lists both on
// the policy's role, not on an empty one.
func TestReconcileFindingsInReview(t *testing.T) {
	_, login, target, cfgPath, _ := reconcileSetup(t, "frank")

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
