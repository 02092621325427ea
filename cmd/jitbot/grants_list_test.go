package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/store"
)

// TestGrantsListMarksOverdueGrants lists a store left behind by a bot that
// stopped: grants past their expiry are still live and must not read as
// plain "active".
func TestGrantsListMarksOverdueGrants(t *testing.T) {
	noSlackTokens(t)
	path := filepath.Join(t.TempDir(), "jitbot.db")
	now := time.Now().UTC()
	db, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *store.Tx) error {
		for _, g := range []store.Grant{
			{ID: "g_late", State: store.GrantActive, ExpiresAt: now.Add(-time.Hour)},
			{ID: "g_retry", State: store.GrantRevoking, ExpiresAt: now.Add(-2 * time.Hour)},
			{ID: "g_fine", State: store.GrantActive, ExpiresAt: now.Add(time.Hour)},
		} {
			g.User, g.Resource, g.Role, g.Provider = "U0ALICE", "prod-db", "readonly", "shell"
			g.CreatedAt = now.Add(-3 * time.Hour)
			if err := tx.CreateGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	out, _, err := cli(t, "--config", writeConfig(t, fmt.Sprintf(opsConfig, path)),
		"grants", "list")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		cols := columns(line)
		states[cols[0]] = cols[4]
	}
	want := map[string]string{
		"g_retry": "revoking (overdue)",
		"g_late":  "active (overdue)",
		"g_fine":  "active",
	}
	if fmt.Sprint(states) != fmt.Sprint(want) {
		t.Fatalf("states = %v, want %v\n%s", states, want, out)
	}
}

// columns splits a tabwriter row on runs of two or more spaces.
func columns(line string) []string {
	var cols []string
	for _, c := range strings.Split(line, "  ") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	return cols
}
