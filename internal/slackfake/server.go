// Package slackfake is a test double of Slack for jitbot's tests and its demo.
//
// A Server listens on 127.0.0.1 and speaks the parts of Slack that jitbot
// uses: the Web API methods it calls and Socket Mode (apps.connections.open,
// the websocket, hello, pings, envelopes, acks and disconnects). Point the
// real slack-go client at APIURL and drive the bot as a person would with
// SlashCommand, Click and SubmitView. The server enforces Slack's documented
// limits (block counts and text sizes, the 3 second ack, trigger lifetimes)
// and records everything for inspection. All methods are safe for concurrent
// use.
package slackfake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
)

// Errors returned by the driving methods.
var (
	// ErrAckTimeout means the bot did not ack an envelope within the budget.
	ErrAckTimeout = errors.New("no ack within the ack budget")
	// ErrNoSuchAction means a click named a button that is not on the message.
	ErrNoSuchAction = errors.New("no such action on the message")
	// ErrNotFound means a message, view or user named by a call is unknown.
	ErrNotFound = errors.New("not found")
	// ErrClosed means the server was closed.
	ErrClosed = errors.New("slackfake server closed")
)

// Defaults used when an Options field is zero.
const (
	DefaultAckTimeout   = 3 * time.Second
	DefaultTriggerTTL   = 3 * time.Second
	DefaultPingInterval = 10 * time.Second
)

// User is a workspace member the server knows.
type User struct {
	ID       string
	Name     string // handle, e.g. "alice"
	RealName string
	Email    string // empty means the profile carries no email field
	TZ       string // IANA zone, e.g. "Europe/Berlin"; empty means UTC
}

// Channel is a public or private channel the server knows.
type Channel struct {
	ID   string
	Name string
}

// Options configures a Server. AppToken and BotToken are required.
type Options struct {
	AppToken string // xapp-...; the only token apps.connections.open accepts
	BotToken string // xoxb-...; the only token the other methods accept

	Users      []User
	Channels   []Channel
	UserGroups map[string][]string // user group id -> member user ids

	TeamID, TeamDomain string // default T0JITBOT / jitbot
	AppID, BotID       string // default A0JITBOT / B0JITBOT
	BotUserID          string // default U0JITBOT

	// AckTimeout is how long a driving call waits for an ack; Slack's is 3 s.
	AckTimeout time.Duration
	// TriggerTTL is how long a trigger_id stays usable; Slack's is 3 s.
	TriggerTTL time.Duration
	// PingInterval is how often the websocket is pinged. A connection that
	// misses three pongs in a row is closed.
	PingInterval time.Duration
	// Clock dates messages and trigger ids; nil means the real clock.
	// Ack budgets and latencies always use real time.
	Clock clockwork.Clock

	// Logf, if set, receives one line per API call and socket event.
	// Tokens are never logged.
	Logf func(format string, args ...any)
	// OnEvent, if set, is called for each Event in order, from one
	// goroutine owned by the server. It may call Server methods.
	OnEvent func(Event)
}

// Server is a running Slack emulator. Create it with New and stop it with
// Close.
type Server struct {
	opts  Options
	clock clockwork.Clock
	http  *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	closed   bool
	users    map[string]User
	channels map[string]Channel
	ims      map[string]string // user id -> IM channel id
	imUsers  map[string]string // IM channel id -> user id
	messages map[string][]*Message
	ephems   []Ephemeral
	views    map[string]*View
	viewSeq  int
	triggers map[string]*trigger
	calls    []Call
	inject   map[string][]injection
	lastTS   int64
	events   []Event
	pending  []Event // events not yet handed to OnEvent
	latency  []time.Duration
	files    fileState
	sock     socketState

	eventWake chan struct{}
	eventDone chan struct{}
}

// New starts a Server on 127.0.0.1. It panics if the options lack a token,
// as a test setup error.
func New(opts Options) *Server {
	if opts.AppToken == "" || opts.BotToken == "" {
		panic("slackfake: Options.AppToken and Options.BotToken are required")
	}
	setDefaults(&opts)
	s := &Server{
		opts:      opts,
		clock:     opts.Clock,
		changed:   make(chan struct{}),
		users:     make(map[string]User),
		channels:  make(map[string]Channel),
		ims:       make(map[string]string),
		imUsers:   make(map[string]string),
		messages:  make(map[string][]*Message),
		views:     make(map[string]*View),
		triggers:  make(map[string]*trigger),
		inject:    make(map[string][]injection),
		eventWake: make(chan struct{}, 1),
		eventDone: make(chan struct{}),
	}
	for _, u := range opts.Users {
		s.users[u.ID] = u
	}
	for _, c := range opts.Channels {
		s.channels[c.ID] = c
	}
	s.files.init()
	s.sock.init()

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.serveAPI)
	mux.HandleFunc("/link/", s.serveSocket)
	mux.HandleFunc("/upload/v1/", s.serveUpload)
	s.http = httptest.NewServer(mux)
	go s.runEvents()
	return s
}

func setDefaults(o *Options) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&o.TeamID, "T0JITBOT")
	def(&o.TeamDomain, "jitbot")
	def(&o.AppID, "A0JITBOT")
	def(&o.BotID, "B0JITBOT")
	def(&o.BotUserID, "U0JITBOT")
	if o.AckTimeout <= 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.TriggerTTL <= 0 {
		o.TriggerTTL = DefaultTriggerTTL
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
}

// APIURL returns the Web API base URL, ending in "/api/", to pass to
// slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.http.URL + "/api/" }

// Close drops every websocket, stops the listener and delivers the
// remaining events to OnEvent. It may be called more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()

	s.sock.closeAll()
	s.http.Close()
	s.sock.wg.Wait()
	close(s.eventWake)
	<-s.eventDone
}

// notifyLocked wakes every WaitFor. The caller holds s.mu.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// nextTSLocked returns a message timestamp that is unique and later than
// every one issued before. The caller holds s.mu.
func (s *Server) nextTSLocked() string {
	us := s.clock.Now().UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnvelopeID returns an id shaped like Slack's (a UUID).
func newEnvelopeID() string {
	h := randomHex(16)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
