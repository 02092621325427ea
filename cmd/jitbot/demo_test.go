package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// playDemo runs `jitbot demo` with the shortest hold and returns its
// transcript.
func playDemo(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("the demo runs in real time")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runDemo(ctx, &out, false, 8*time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	return out.String()
}

// TestDemoPlaysTheWholeFlow runs `jitbot demo` as a newcomer would and
// checks the transcript tells the story from request to revocation, each
// step followed by the Slack output it caused and nothing later.
func TestDemoPlaysTheWholeFlow(t *testing.T) {
	text := playDemo(t)
	steps := []struct {
		heading string
		shows   []string
	}{
		{"leaves the unit off the duration", []string{
			"has no unit",
			"`/jit request <resource> <role> <duration> <reason…>`",
		}},
		{"asks again", []string{
			"Requester: @alice", "Access: prod-db / readonly", "Duration: 8s",
			"[Approve] [Deny]",
			"is waiting for approval", // alice's direct message
			"submitted;",              // alice's confirmation
		}},
		{"approve her own request", []string{"cannot decide your own request"}},
		{"bob, a dba, approves it", []string{
			"Approved by @bob", "Granted to @alice", "You now have", "You approved request",
			"reads: alice orders_readonly",
		}},
		{"jitbot warns alice", []string{"[Release now]", "ends "}},
		{"the grant ends", []string{"revoked (expired)", "has ended", "reads: (empty)"}},
	}
	rest := text
	for i, s := range steps {
		at := strings.Index(rest, s.heading)
		if at < 0 {
			t.Fatalf("step %d %q is missing or out of order\n%s", i+1, s.heading, text)
		}
		rest = rest[at:]
		section := rest
		if i+1 < len(steps) {
			if next := strings.Index(rest, steps[i+1].heading); next >= 0 {
				section = rest[:next]
			}
		}
		for _, want := range s.shows {
			if !strings.Contains(section, want) {
				t.Errorf("step %q does not show %q before the next step", s.heading, want)
			}
		}
	}

	for _, unwanted := range []string{
		"&lt;", "&gt;", // escapes shown instead of characters
		"<@U0",                        // a mention not turned into a name
		"<!date^",                     // a date not turned into a time
		"asks for prod-db / readonly", // a notification text shown beside its blocks
		"8s0",                         // a duration in Go's notation
	} {
		if strings.Contains(text, unwanted) {
			t.Errorf("transcript shows %q", unwanted)
		}
	}
	if n := strings.Count(text, "is waiting for approval"); n != 1 {
		t.Errorf("alice's direct message is shown %d times, want once", n)
	}
	if t.Failed() {
		t.Log(text)
	}
}

// TestDemoIgnoresTheEnvironment exports the settings of a real deployment
// and checks the demo still plays and reaches none of them.
func TestDemoIgnoresTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "not the emulator", http.StatusTeapot)
	}))
	defer api.Close()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte("resources: [not a policy"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "real.db")
	sink := filepath.Join(dir, "audit.jsonl")
	t.Setenv("JITBOT_STORE_PATH", store)
	t.Setenv("JITBOT_SLACK_API_URL", api.URL+"/api/")
	t.Setenv("JITBOT_SLACK_BOT_TOKEN", "xoxb-real-workspace-token")
	t.Setenv("JITBOT_SLACK_APP_TOKEN", "xapp-1-A0REAL-1-token")
	t.Setenv("JITBOT_POLICY_FILE", policyFile)
	t.Setenv("JITBOT_AUDIT_SINK", sink)
	t.Setenv("JITBOT_DIGEST_ENABLED", "true")

	text := playDemo(t)
	if !strings.Contains(text, "reads: (empty)") {
		t.Errorf("the demo did not play to the end:\n%s", text)
	}
	if n := calls.Load(); n > 0 {
		t.Errorf("the demo called the API in JITBOT_SLACK_API_URL %d times", n)
	}
	for _, path := range []string{store, sink} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the demo touched %s (stat: %v)", filepath.Base(path), err)
		}
	}
}

func TestAsTyped(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{8 * time.Second, "8s"},
		{60 * time.Second, "1m"},
		{90 * time.Second, "90s"},
		{15 * time.Minute, "15m"},
		{time.Hour, "1h"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		if got := asTyped(tc.in); got != tc.want {
			t.Errorf("asTyped(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
