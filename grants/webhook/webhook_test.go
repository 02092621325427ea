package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/jitbot/jitbot/grants"
	"github.com/jitbot/jitbot/grants/grantstest"
	"github.com/jitbot/jitbot/grants/webhook"
)

const testSecret = "s3cr3t-signing-key"

// reply is one scripted answer the receiver gives before behaving normally.
type reply struct {
	status     int
	retryAfter string
	body       string
	hang       bool // wait until the client gives up
}

// receiver is a webhook endpoint on loopback that verifies signatures and
// keeps the set of held grants.
type receiver struct {
	t      *testing.T
	clock  clockwork.Clock
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	held   map[string]bool
	script []reply
	slow   chan struct{} // non-nil while slow; closed to release
}

func newReceiver(t *testing.T, clock clockwork.Clock, script ...reply) *receiver {
	t.Helper()
	r := &receiver{t: t, clock: clock, held: map[string]bool{}, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func key(g grants.Grant) string { return g.Principal + " " + g.Target }

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	r.calls.Add(1)
	body, _ := io.ReadAll(req.Body)
	err := webhook.Verify([]byte(testSecret), req.Header.Get(webhook.SignatureHeader),
		body, r.clock.Now(), webhook.DefaultTolerance)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if next, ok := r.next(); ok {
		if next.hang {
			<-req.Context().Done()
			return
		}
		if next.retryAfter != "" {
			w.Header().Set("Retry-After", next.retryAfter)
		}
		http.Error(w, next.body, next.status)
		return
	}
	if slow := r.slowChan(); slow != nil {
		select {
		case <-slow:
		case <-req.Context().Done():
			return
		}
	}
	r.apply(w, body)
}

func (r *receiver) next() (reply, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.script) == 0 {
		return reply{}, false
	}
	next := r.script[0]
	r.script = r.script[1:]
	return next, true
}

func (r *receiver) apply(w http.ResponseWriter, body []byte) {
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch p.Action {
	case "grant":
		r.held[key(p.Grant)] = true
	case "revoke":
		delete(r.held, key(p.Grant))
	case "check":
		_ = json.NewEncoder(w).Encode(webhook.CheckResponse{Held: r.held[key(p.Grant)]})
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
	}
}

func (r *receiver) slowChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.slow
}

func (r *receiver) setSlow(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case on && r.slow == nil:
		r.slow = make(chan struct{})
	case !on && r.slow != nil:
		close(r.slow)
		r.slow = nil
	}
}

func (r *receiver) isHeld(g grants.Grant) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held[key(g)]
}

func newProvider(t *testing.T, clock clockwork.Clock, url string, extra map[string]any,
) (grants.Provider, *bytes.Buffer) {
	t.Helper()
	settings := map[string]any{"url": url, "secret_env": "HOOK_SECRET"}
	for k, v := range extra {
		settings[k] = v
	}
	var logs bytes.Buffer
	p, err := webhook.New("hook", settings, grants.Env{
		Log:   zerolog.New(&logs),
		Clock: clock,
		Getenv: func(name string) string {
			return map[string]string{"HOOK_SECRET": testSecret}[name]
		},
	})
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	return p, &logs
}

func TestContract(t *testing.T) {
	grantstest.Contract(t, func(t *testing.T) grantstest.Harness {
		clock := clockwork.NewFakeClockAt(time.Now())
		r := newReceiver(t, clock)
		p, _ := newProvider(t, clock, r.srv.URL, map[string]any{"check": true})
		var n atomic.Int64
		return grantstest.Harness{
			Provider: p,
			Held:     r.isHeld,
			Grant: func() grants.Grant {
				i := n.Add(1)
				return grants.Grant{ID: fmt.Sprintf("g_%d", i),
					Principal: fmt.Sprintf("user%d", i), Target: "admins"}
			},
			Slow: r.setSlow,
		}
	})
}

// callInBackground runs call and returns a channel with its result.
func callInBackground(call func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- call() }()
	return done
}

// advanceUntilDone moves the fake clock past each retry wait until the call
// returns.
func advanceUntilDone(
	t *testing.T, clock *clockwork.FakeClock, done <-chan error, step time.Duration,
) error {
	t.Helper()
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		if clock.BlockUntilContext(ctx, 1) == nil {
			clock.Advance(step)
		}
		cancel()
	}
}

func TestRetries(t *testing.T) {
	g := grants.Grant{ID: "g_1", Principal: "ann", Target: "admins"}
	tests := []struct {
		name          string
		script        []reply
		settings      map[string]any
		wantErr       bool
		wantPermanent bool
		wantDetail    string
		wantCalls     int64
	}{
		{
			name:      "5xx retried then ok",
			script:    []reply{{status: 503}, {status: 502}},
			wantCalls: 3,
		},
		{
			name:      "timeout retried then ok",
			script:    []reply{{hang: true}},
			settings:  map[string]any{"timeout": "100ms"},
			wantCalls: 2,
		},
		{
			name:       "5xx until attempts run out",
			script:     []reply{{status: 500, body: "db down"}, {status: 500, body: "db down"}},
			settings:   map[string]any{"max_attempts": 2},
			wantErr:    true,
			wantDetail: "db down",
			wantCalls:  2,
		},
		{
			name:          "4xx fails at once",
			script:        []reply{{status: 422, body: "unknown role admins"}},
			wantErr:       true,
			wantPermanent: true,
			wantDetail:    "unknown role admins",
			wantCalls:     1,
		},
		{
			name:          "long 4xx body is capped",
			script:        []reply{{status: 400, body: strings.Repeat("x", 10000)}},
			wantErr:       true,
			wantPermanent: true,
			wantDetail:    strings.Repeat("x", 2048) + " […]",
			wantCalls:     1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clockwork.NewFakeClockAt(time.Now())
			r := newReceiver(t, clock, tt.script...)
			p, _ := newProvider(t, clock, r.srv.URL, tt.settings)

			done := callInBackground(func() error { return p.Grant(t.Context(), g) })
			err := advanceUntilDone(t, clock, done, 5*time.Second)

			if got := r.calls.Load(); got != tt.wantCalls {
				t.Errorf("receiver got %d calls, want %d", got, tt.wantCalls)
			}
			if !tt.wantErr {
				if err != nil || !r.isHeld(g) {
					t.Fatalf("Grant() = %v, held = %v; want success", err, r.isHeld(g))
				}
				return
			}
			var gerr *grants.Error
			if !errors.As(err, &gerr) {
				t.Fatalf("Grant() = %v, want a *grants.Error", err)
			}
			if gerr.Detail != tt.wantDetail {
				t.Errorf("Detail = %.80q, want %.80q", gerr.Detail, tt.wantDetail)
			}
			if got := errors.Is(err, grants.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v", got, tt.wantPermanent)
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	r := newReceiver(t, clock, reply{status: 429, retryAfter: "30"})
	p, _ := newProvider(t, clock, r.srv.URL, map[string]any{"backoff_max": "1s"})
	g := grants.Grant{ID: "g_1", Principal: "ann", Target: "admins"}

	done := callInBackground(func() error { return p.Grant(t.Context(), g) })
	if err := clock.BlockUntilContext(t.Context(), 1); err != nil {
		t.Fatal(err)
	}

	// Past the backoff but short of Retry-After: still waiting.
	clock.Advance(29 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(ctx, 1); err != nil {
		t.Fatalf("retried before Retry-After passed (calls: %d)", r.calls.Load())
	}

	clock.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Grant() = %v, want success after Retry-After", err)
	}
	if got := r.calls.Load(); got != 2 || !r.isHeld(g) {
		t.Errorf("calls = %d, held = %v; want 2 calls and held", got, r.isHeld(g))
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"action":"grant"}`)
	good := webhook.Sign([]byte(testSecret), now, body)
	_, goodSig, _ := strings.Cut(good, ",")

	tests := []struct {
		name    string
		header  string
		body    []byte
		now     time.Time
		wantErr error
	}{
		{name: "valid", header: good, body: body, now: now},
		{name: "valid near the window's end", header: good, body: body,
			now: now.Add(4*time.Minute + 59*time.Second)},
		{name: "rotated secret, one match", body: body, now: now,
			header: good + ",v1=" + strings.Repeat("ab", 32)},
		{name: "body changed", header: good, body: []byte(`{"action":"revoke"}`), now: now,
			wantErr: webhook.ErrSignatureMismatch},
		{name: "wrong secret", body: body, now: now,
			header:  webhook.Sign([]byte("other"), now, body),
			wantErr: webhook.ErrSignatureMismatch},
		{name: "replayed after six minutes", header: good, body: body,
			now: now.Add(6 * time.Minute), wantErr: webhook.ErrSignatureExpired},
		{name: "signed in the future", header: good, body: body,
			now: now.Add(-6 * time.Minute), wantErr: webhook.ErrSignatureExpired},
		{name: "timestamp moved forward", body: body, now: now.Add(6 * time.Minute),
			header:  fmt.Sprintf("t=%d,%s", now.Add(6*time.Minute).Unix(), goodSig),
			wantErr: webhook.ErrSignatureMismatch},
		{name: "empty header", header: "", body: body, now: now,
			wantErr: webhook.ErrSignatureMalformed},
		{name: "no signature", header: fmt.Sprintf("t=%d", now.Unix()), body: body, now: now,
			wantErr: webhook.ErrSignatureMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify([]byte(testSecret), tt.header, tt.body, tt.now,
				webhook.DefaultTolerance)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Verify() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestUnsignedRequestsAreRejected(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	r := newReceiver(t, clock)
	p, err := webhook.New("hook", map[string]any{"url": r.srv.URL, "secret_env": "S"},
		grants.Env{Clock: clock, Getenv: func(string) string { return "wrong-secret" }})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Grant(t.Context(), grants.Grant{ID: "g_1", Principal: "ann"})
	if !errors.Is(err, grants.ErrPermanent) || !strings.Contains(err.Error(), "401") {
		t.Errorf("Grant() with a wrong secret = %v, want a permanent 401", err)
	}
}

func TestSecretAndURLStayOutOfErrorsAndLogs(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	url := closed.URL + "/hook?token=query-token"

	p, logs := newProvider(t, clock, url, map[string]any{"max_attempts": 2})
	done := callInBackground(func() error {
		return p.Revoke(t.Context(), grants.Grant{ID: "g_1"})
	})
	err := advanceUntilDone(t, clock, done, 5*time.Second)
	if err == nil {
		t.Fatal("Revoke() against a closed port = nil, want an error")
	}
	if errors.Is(err, grants.ErrPermanent) {
		t.Errorf("a connection failure is marked permanent: %v", err)
	}
	for _, leak := range []string{testSecret, "query-token"} {
		if strings.Contains(err.Error(), leak) || strings.Contains(logs.String(), leak) {
			t.Errorf("%q leaked:\nerror: %v\nlogs: %s", leak, err, logs)
		}
	}
	if !strings.Contains(logs.String(), `"grant_id":"g_1"`) {
		t.Errorf("retry was not logged with its grant id: %s", logs)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		settings map[string]any
		want     []string
	}{
		{name: "nothing", settings: map[string]any{},
			want: []string{"url: missing", "secret_env or secret_file: missing"}},
		{name: "file scheme", settings: map[string]any{"url": "file:///etc/passwd",
			"secret_env": "HOOK_SECRET"}, want: []string{`url: scheme "file" not allowed`}},
		{name: "empty secret variable", settings: map[string]any{"url": "https://x.test",
			"secret_env": "UNSET"},
			want: []string{"secret_env: environment variable UNSET is empty"}},
		{name: "missing secret file", settings: map[string]any{"url": "https://x.test",
			"secret_file": dir + "/none"}, want: []string{"secret_file:"}},
		{name: "both secrets", settings: map[string]any{"url": "https://x.test",
			"secret_env": "HOOK_SECRET", "secret_file": "f"}, want: []string{"set only one"}},
		{name: "unknown key", settings: map[string]any{"url": "https://x.test",
			"secret_env": "HOOK_SECRET", "retries": 3}, want: []string{"unknown setting retries"}},
		{name: "signature header override", settings: map[string]any{"url": "https://x.test",
			"secret_env": "HOOK_SECRET", "headers": map[string]any{"X-Jitbot-Signature": "x"}},
			want: []string{"headers.X-Jitbot-Signature: set by jitbot"}},
		{name: "bad bounds", settings: map[string]any{"url": "https://x.test",
			"secret_env": "HOOK_SECRET", "max_attempts": -1, "backoff_min": "10s"},
			want: []string{"max_attempts", "backoff_min, backoff_max"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New("hook", tt.settings, grants.Env{
				Getenv: func(n string) string {
					return map[string]string{"HOOK_SECRET": testSecret}[n]
				},
			})
			if err == nil {
				t.Fatalf("New() = nil error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New() error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("New() error shows the secret: %v", err)
			}
		})
	}
}

func TestSecretFileAndHeaders(t *testing.T) {
	clock := clockwork.NewFakeClockAt(time.Now())
	var gotKey atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhook.Verify([]byte(testSecret), req.Header.Get(webhook.SignatureHeader),
			body, clock.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		gotKey.Store(req.Header.Get("X-Api-Key"))
	}))
	t.Cleanup(srv.Close)

	file := t.TempDir() + "/secret"
	if err := writeFile(file, testSecret+"\n"); err != nil {
		t.Fatal(err)
	}
	p, err := webhook.New("hook", map[string]any{
		"url": srv.URL, "secret_file": file, "headers": map[string]any{"X-Api-Key": "k1"},
	}, grants.Env{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Grant(t.Context(), grants.Grant{ID: "g_1"}); err != nil {
		t.Fatalf("Grant() = %v", err)
	}
	if gotKey.Load() != "k1" {
		t.Errorf("receiver saw X-Api-Key %q, want k1", gotKey.Load())
	}
}

func writeFile(path, content string) error {
	return os.WriteFile(path, []byte(content), 0o600)
}
