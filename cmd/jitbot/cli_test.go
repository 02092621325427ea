package main

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/store"
)

// opsConfig is the least configuration the operator commands accept; %q
// is the store path.
const opsConfig = `
slack:
  app_token: xapp-1-A0TEST-1-cli
  bot_token: xoxb-1-cli
store:
  path: %q
providers:
  shell:
    type: exec
    settings: {grant: [/bin/true], revoke: [/bin/true]}
policy:
  admins: [U0ADMIN]
  resources:
    prod-db:
      provider: shell
      roles:
        readonly:
          channel: C0OPS
          approvers: [U0BOB]
`

// cli runs the command tree with args and returns stdout and stderr apart.
func cli(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := rootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// generated is a store written by `review generate` and a config using it.
type generated struct {
	config, store string
	from, to      string // the generated period, as dates
	automate      string // the planted automation candidate's user
	events        int
}

var wroteLine = regexp.MustCompile(
	`wrote (\d+) events \((\S+) to (\S+)\).*\nplanted: (\S+) asks`)

func generate(t *testing.T, days int) generated {
	t.Helper()
	dir := t.TempDir()
	g := generated{config: filepath.Join(dir, "config.yaml"),
		store: filepath.Join(dir, "trail.db")}
	out, _, err := cli(t, "review", "generate", "--store", g.store,
		"--days", strconv.Itoa(days))
	if err != nil {
		t.Fatalf("review generate: %v", err)
	}
	m := wroteLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("review generate said:\n%s", out)
	}
	g.events, _ = strconv.Atoi(m[1])
	g.from, g.to, g.automate = m[2], m[3], m[4]
	text := strings.Replace(opsConfig, "%q", strconv.Quote(g.store), 1)
	if err := os.WriteFile(g.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestReviewGenerateThenReport(t *testing.T) {
	start := time.Now()
	g := generate(t, 90)
	took := time.Since(start)
	t.Logf("review generate: %d events over 90 days in %s", g.events, took)
	if g.events < 1000 {
		t.Fatalf("90 days hold only %d events", g.events)
	}
	if took > 30*time.Second {
		t.Errorf("review generate took %s for 90 days", took)
	}

	period := []string{"--config", g.config, "review", "--from", g.from, "--to", g.to}
	md, _, err := cli(t, append(period, "--format", "md")...)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Access review " + g.from + " to " + g.to
	if !strings.HasPrefix(md, want) || !strings.Contains(md, g.automate) {
		t.Fatalf("markdown review lacks %q or the planted candidate %s:\n%.600s",
			want, g.automate, md)
	}

	html, _, err := cli(t, append(period, "--format", "html")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(html), "<html") || !strings.Contains(html, "<svg") {
		t.Fatalf("html review is not a page with charts:\n%.300s", html)
	}

	raw, _, err := cli(t, append(period, "--format", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Totals struct {
			Requests int `json:"requests"`
		} `json:"totals"`
		Automate []struct {
			Requester string `json:"requester"`
		} `json:"automate"`
	}
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatalf("json review: %v", err)
	}
	if rep.Totals.Requests == 0 || len(rep.Automate) == 0 ||
		rep.Automate[0].Requester != g.automate {
		t.Fatalf("json review: %d requests, automate %+v; planted %s",
			rep.Totals.Requests, rep.Automate, g.automate)
	}

	_, _, err = cli(t, "review", "generate", "--store", g.store)
	if err == nil || !strings.Contains(err.Error(), "--store") {
		t.Fatalf("generate over an existing store: %v", err)
	}
}

// tamper rewrites one stored event's actor without fixing its hash.
func tamper(t *testing.T, path string, seq uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64(nil, seq)
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		var e store.Event
		if err := json.Unmarshal(b.Get(key), &e); err != nil {
			return err
		}
		e.Actor = "U0MALLORY"
		raw, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return b.Put(key, raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	g := generate(t, 7)
	out, _, err := cli(t, "--config", g.config, "audit", "verify")
	if err != nil {
		t.Fatalf("verify an intact trail: %v\n%s", err, out)
	}
	if !strings.Contains(out, "intact: "+strconv.Itoa(g.events)+" event(s)") {
		t.Fatalf("verify said: %s", out)
	}

	tamper(t, g.store, 5)
	out, _, err = cli(t, "--config", g.config, "audit", "verify")
	if err == nil {
		t.Fatalf("verify passed a tampered trail:\n%s", out)
	}
	if !strings.Contains(out, "after checking 4 event(s): event 5 was changed") {
		t.Fatalf("verify did not name event 5:\n%s", out)
	}
}

func TestAuditExport(t *testing.T) {
	g := generate(t, 7)
	jsonl, stderr, err := cli(t, "--config", g.config, "audit", "export", "--format", "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(jsonl), "\n")
	if len(lines) != g.events || !strings.Contains(stderr, strconv.Itoa(g.events)) {
		t.Fatalf("jsonl export: %d lines, said %q; %d events stored",
			len(lines), stderr, g.events)
	}
	var last store.Event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil ||
		last.ChainHash() != last.Hash {
		t.Fatalf("last exported event does not verify (%v): %s", err, lines[len(lines)-1])
	}

	out := filepath.Join(t.TempDir(), "trail.csv")
	_, _, err = cli(t, "--config", g.config, "audit", "export", "--format", "csv",
		"--from", g.from, "--to", g.from+"T12:00:00Z", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(store.CSVHeader, ",") {
		t.Fatalf("csv header %v", rows[0])
	}
	if len(rows) < 2 || len(rows)-1 >= g.events {
		t.Fatalf("half a day exported %d of %d events", len(rows)-1, g.events)
	}
	for _, row := range rows[1:] {
		if !strings.HasPrefix(row[1], g.from+"T") || row[1] >= g.from+"T12" {
			t.Fatalf("event at %s exported for the first half of %s", row[1], g.from)
		}
	}
}

func TestOperatorCommandsNameBadFlags(t *testing.T) {
	g := generate(t, 1)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"review format", []string{"review", "--format", "pdf"},
			[]string{"--format", "md, html or json"}},
		{"review from", []string{"review", "--from", "yesterday"},
			[]string{"--from", "2026-01-31"}},
		{"review to", []string{"review", "--to", "tomorrow"},
			[]string{"--to", "RFC 3339"}},
		{"review empty period", []string{"review", "--from", "2026-02-01", "--to", "2026-01-01"},
			[]string{"--from", "not before --to"}},
		{"export format", []string{"audit", "export", "--format", "pdf"},
			[]string{"--format", "jsonl", "csv"}},
		{"export from", []string{"audit", "export", "--from", "yesterday"},
			[]string{"--from", "2026-01-31"}},
		{"generate without store", []string{"review", "generate"}, []string{"--store"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := cli(t, append([]string{"--config", g.config}, tc.args...)...)
			if err == nil {
				t.Fatalf("accepted; printed:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
