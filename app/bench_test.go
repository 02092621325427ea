package app_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/app"
	"github.com/jitbot/jitbot/config"
	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/internal/slackfake"
)

const (
	// ackRate is how many slash commands a second the benchmark types.
	ackRate = 50
	// ackBurst is how many it types per iteration: ten seconds' worth.
	ackBurst = 500
	// ackUsers take turns typing, so no one person reaches the cap on
	// pending requests (access.MaxPending) over several rounds.
	ackUsers = 200
)

// BenchmarkSlashAck types /jit commands at a steady 50 a second into the
// real bot, running on the real clock against the Slack emulator: a third
// each of "list", "help" and valid requests that create pending requests
// and post approval messages. It reports the p50, p99 and max ack latency
// the emulator measured, and how many commands were refused as busy or not
// acked in time.
func BenchmarkSlashAck(b *testing.B) {
	srv := startAckBench(b)
	var lat []time.Duration
	var busy, failed int
	for b.Loop() {
		before := len(srv.Messages(approval))
		l, requests, bz, fl := typeCommands(srv)
		lat, busy, failed = append(lat, l...), busy+bz, failed+fl

		// Every request that was not turned away must reach the approvers.
		b.StopTimer()
		want := before + requests - bz
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err := srv.WaitFor(ctx, func() bool { return len(srv.Messages(approval)) >= want })
		cancel()
		if err != nil {
			b.Fatalf("%d of %d approval messages posted: %v",
				len(srv.Messages(approval))-before, requests-bz, err)
		}
		b.StartTimer()
	}
	reportAckLatency(b, lat)
	b.ReportMetric(float64(busy), "busy")
	b.ReportMetric(float64(failed), "failed")
}

// typeCommands sends ackBurst commands at ackRate without waiting for one
// ack before sending the next, as Slack does. It returns the ack latencies,
// how many requests were typed, and how many commands were answered busy or
// got no ack.
func typeCommands(srv *slackfake.Server) ([]time.Duration, int, int, int) {
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		lat          []time.Duration
		busy, failed int
	)
	tick := time.NewTicker(time.Second / ackRate)
	defer tick.Stop()
	requests := 0
	for i := range ackBurst {
		if i > 0 {
			<-tick.C
		}
		user := fmt.Sprintf("U0REQ%03d", i%ackUsers)
		text := [...]string{"list", "help",
			"request prod-db readonly 1h INC-42 orders are failing"}[i%3]
		if i%3 == 2 {
			requests++
		}
		wg.Go(func() {
			ack, err := srv.SlashCommand(context.Background(), user, room, "/jit", text)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				failed++
			case strings.Contains(string(ack.Payload), "busy"):
				busy++
				lat = append(lat, ack.Latency)
			default:
				lat = append(lat, ack.Latency)
			}
		})
	}
	wg.Wait()
	return lat, requests, busy, failed
}

// startAckBench runs jitbot on the real clock against a new emulator with
// ackUsers requesters, and returns the emulator once the bot is connected.
func startAckBench(b *testing.B) *slackfake.Server {
	b.Helper()
	users := []slackfake.User{
		{ID: bob, Name: "bob", Email: "bob@example.com"},
		{ID: carol, Name: "carol", Email: "carol@example.com"},
	}
	for i := range ackUsers {
		name := fmt.Sprintf("req%03d", i)
		users = append(users, slackfake.User{ID: fmt.Sprintf("U0REQ%03d", i),
			Name: name, Email: name + "@example.com"})
	}
	srv := slackfake.New(slackfake.Options{
		AppToken: appToken, BotToken: botToken, Users: users,
		Channels: []slackfake.Channel{{ID: approval, Name: "approvals"}, {ID: room, Name: "ops"}},
	})
	b.Cleanup(srv.Close)

	dir := b.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(e2eConfig, appToken, botToken, srv.APIURL(),
		filepath.Join(dir, "jitbot.db"))
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	a, err := app.New(app.Options{
		Config:    cfg,
		Log:       zerolog.Nop(),
		Providers: map[string]grants.Provider{"mem": &memProvider{held: map[string]bool{}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("jitbot run: %v", err)
		}
	})

	wait, stop := context.WithTimeout(context.Background(), 15*time.Second)
	defer stop()
	if err := srv.WaitFor(wait, func() bool { return srv.LiveConnections() > 0 }); err != nil {
		b.Fatalf("waiting for the bot to connect: %v", err)
	}
	return srv
}

// reportAckLatency reports the p50, p99 and max of ds in milliseconds.
func reportAckLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		b.Fatal("no command was acked")
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		i := max(int(q*float64(len(ds))+0.5)-1, 0)
		return float64(ds[min(i, len(ds)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
}
