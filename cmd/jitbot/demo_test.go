package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoPlaysTheWholeFlow runs `jitbot demo` as a newcomer would and
// checks the transcript tells the story from request to revocation.
func TestDemoPlaysTheWholeFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs in real time")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := runDemo(ctx, &out, false, 8*time.Second); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"has no unit",                    // the mistyped request is answered
		"[Approve] [Deny]",               // the approval message
		"cannot decide your own request", // the refused self-approval
		"Approved by <@U0BOB>",           // the outcome on the message
		"reads: alice orders_readonly",   // the provider granted
		"[Release now]",                  // the expiry warning
		"revoked (expired)",              // the revocation notice
		"reads: (empty)",                 // the provider revoked
	} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}
