package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/store"
)

func TestRunNamesTheLockedStoreOnce(t *testing.T) {
	noSlackTokens(t)
	path := filepath.Join(t.TempDir(), "jitbot.db")
	// The Web API points at a closed local port, so a run that got past
	// the store would fail fast without leaving the machine.
	text := strings.Replace(fmt.Sprintf(opsConfig, path), "slack:\n",
		"slack:\n  api_url: http://127.0.0.1:1/api/\n", 1)
	cfgPath := writeConfig(t, text)
	held, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	_, _, err = cli(t, "--config", cfgPath, "run")
	if err == nil {
		t.Fatal("a second run on a held store started")
	}
	msg := err.Error()
	if strings.Count(msg, path) != 1 || !strings.Contains(msg, "another jitbot") {
		t.Fatalf("run on a held store: %q; want the store named once and the holder", msg)
	}
}

func TestConsoleLogsUseColourOnlyOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	cfg := &config.Config{Log: config.Log{Level: "info", Format: "console"}}
	g := &globals{}

	file, err := os.Create(filepath.Join(t.TempDir(), "jitbot.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var pipe bytes.Buffer
	for _, w := range []io.Writer{file, &pipe} {
		log := g.logger(cfg, w)
		log.Warn().Str("provider", "pg").Msg("provider check failed")
	}
	written, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"file": string(written), "pipe": pipe.String()} {
		if !strings.Contains(out, "provider check failed") || strings.Contains(out, "\x1b[") {
			t.Errorf("console log to a %s: %q, want plain text", name, out)
		}
	}

	tty := openTerminal(t)
	if consoleWriter(tty).NoColor {
		t.Error("no colour on a terminal")
	}
	for _, env := range []string{"NO_COLOR", "TERM"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, map[string]string{"NO_COLOR": "1", "TERM": "dumb"}[env])
			if !consoleWriter(tty).NoColor {
				t.Errorf("colour on a terminal with %s set", env)
			}
		})
	}
}

// openTerminal opens a new pseudo-terminal and returns its terminal end.
func openTerminal(t *testing.T) *os.File {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return tty
}
