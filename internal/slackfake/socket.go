package slackfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxAckFrame is the size at which Slack silently drops a Socket Mode
// response frame.
const maxAckFrame = 20 * 1024

// approxConnectionTime is what hello reports as the seconds a connection
// may live before Slack refreshes it.
const approxConnectionTime = 18060

// ErrNotConnected means no Socket Mode connection was open to deliver to.
var ErrNotConnected = errors.New("no socket mode connection")

// socketState tracks websocket tickets, live connections and ack waiters.
// It has its own lock so that socket traffic never waits on s.mu.
type socketState struct {
	mu       sync.Mutex
	tickets  map[string]bool
	conns    []*wsConn // live connections, oldest first
	connects int
	waiters  map[string]chan ackFrame
	ready    chan struct{} // closed and replaced when a connection opens
	wg       sync.WaitGroup
}

type wsConn struct {
	ws       *websocket.Conn
	wmu      sync.Mutex // serialises data frames
	draining bool       // sent disconnect; takes no new envelopes
	lastPong time.Time
	pongMu   sync.Mutex
	done     chan struct{} // closed when the connection has ended
}

type ackFrame struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	at         time.Time
}

func (st *socketState) init() {
	st.tickets = make(map[string]bool)
	st.waiters = make(map[string]chan ackFrame)
	st.ready = make(chan struct{})
}

// newTicket issues a single-use websocket ticket.
func (st *socketState) newTicket() string {
	t := randomHex(12)
	st.mu.Lock()
	st.tickets[t] = true
	st.mu.Unlock()
	return t
}

func (st *socketState) takeTicket(t string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	ok := st.tickets[t]
	delete(st.tickets, t)
	return ok
}

// Connections returns how many websocket connections have been accepted
// since the server started, counting reconnects.
func (s *Server) Connections() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return s.sock.connects
}

// LiveConnections returns how many websocket connections are open now.
func (s *Server) LiveConnections() int {
	s.sock.mu.Lock()
	defer s.sock.mu.Unlock()
	return len(s.sock.conns)
}

var upgrader = websocket.Upgrader{
	// slack-go sends the Origin of Slack's own site; any origin is fine here.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	if !s.sock.takeTicket(r.URL.Query().Get("ticket")) {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.logf("socket upgrade failed: %v", err)
		return
	}
	c := &wsConn{ws: ws, lastPong: time.Now(), done: make(chan struct{})}
	ws.SetPongHandler(func(string) error {
		c.pongMu.Lock()
		c.lastPong = time.Now()
		c.pongMu.Unlock()
		return nil
	})
	if err := s.sendHello(c); err != nil {
		s.logf("socket hello failed: %v", err)
		_ = ws.Close()
		return
	}
	s.sock.wg.Add(2)
	go s.pingLoop(c)
	s.readLoop(c)
}

// sendHello registers the connection and greets it as Slack does.
func (s *Server) sendHello(c *wsConn) error {
	s.sock.mu.Lock()
	s.sock.conns = append(s.sock.conns, c)
	s.sock.connects++
	n := len(s.sock.conns)
	close(s.sock.ready)
	s.sock.ready = make(chan struct{})
	s.sock.mu.Unlock()

	hello := map[string]any{
		"type":            "hello",
		"num_connections": n,
		"debug_info": map[string]any{
			"host":                        "slackfake",
			"build_number":                1,
			"approximate_connection_time": approxConnectionTime,
		},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	}
	s.logf("socket connected num_connections=%d", n)
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
	return c.writeJSON(hello)
}

func (c *wsConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.ws.WriteJSON(v)
}

// readLoop reads acks until the connection ends, then forgets it.
func (s *Server) readLoop(c *wsConn) {
	defer s.sock.wg.Done()
	defer s.dropConn(c)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if len(data) >= maxAckFrame {
			s.logf("socket dropped an ack frame of %d bytes", len(data))
			continue
		}
		var ack ackFrame
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.logf("socket ignored a frame that is not an ack")
			continue
		}
		ack.at = time.Now()
		s.sock.mu.Lock()
		ch, ok := s.sock.waiters[ack.EnvelopeID]
		delete(s.sock.waiters, ack.EnvelopeID)
		s.sock.mu.Unlock()
		if !ok {
			s.logf("socket ack for unknown or late envelope %s", ack.EnvelopeID)
			continue
		}
		ch <- ack
	}
}

func (s *Server) dropConn(c *wsConn) {
	_ = c.ws.Close()
	close(c.done)
	s.sock.mu.Lock()
	for i, x := range s.sock.conns {
		if x == c {
			s.sock.conns = append(s.sock.conns[:i], s.sock.conns[i+1:]...)
			break
		}
	}
	s.sock.mu.Unlock()
	s.logf("socket closed")
	s.mu.Lock()
	if !s.closed {
		s.notifyLocked()
	}
	s.mu.Unlock()
}

// pingLoop keeps the connection alive as Slack does and closes it when
// the client stops answering.
func (s *Server) pingLoop(c *wsConn) {
	defer s.sock.wg.Done()
	every := s.opts.PingInterval
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		c.pongMu.Lock()
		silent := time.Since(c.lastPong)
		c.pongMu.Unlock()
		if silent > 3*every {
			s.logf("socket ping timeout after %s", silent)
			_ = c.ws.Close()
			return
		}
		deadline := time.Now().Add(every)
		if err := c.ws.WriteControl(websocket.PingMessage, []byte("ping"), deadline); err != nil {
			return
		}
	}
}

// Disconnect sends a disconnect frame with the given reason (for example
// "refresh_requested") on every live connection, as Slack does before it
// rotates a connection. Those connections take no more envelopes; the
// client is expected to open a new one. It returns ErrNotConnected when
// no connection is open.
func (s *Server) Disconnect(reason string) error {
	s.sock.mu.Lock()
	var live []*wsConn
	for _, c := range s.sock.conns {
		if !c.draining {
			c.draining = true
			live = append(live, c)
		}
	}
	s.sock.mu.Unlock()
	if len(live) == 0 {
		return ErrNotConnected
	}
	frame := map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "slackfake"},
	}
	for _, c := range live {
		if err := c.writeJSON(frame); err != nil {
			return fmt.Errorf("send disconnect %s: %w", reason, err)
		}
	}
	s.logf("socket disconnect sent reason=%s", reason)
	return nil
}

// liveConn waits until a connection that takes envelopes is open and
// returns the newest one.
func (s *Server) liveConn(ctx context.Context) (*wsConn, error) {
	for {
		if s.isClosed() {
			return nil, ErrClosed
		}
		s.sock.mu.Lock()
		for i := len(s.sock.conns) - 1; i >= 0; i-- {
			if c := s.sock.conns[i]; !c.draining {
				s.sock.mu.Unlock()
				return c, nil
			}
		}
		ready := s.sock.ready
		s.sock.mu.Unlock()

		select {
		case <-ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for socket connection: %w: %w",
				ErrNotConnected, ctx.Err())
		}
	}
}

// closeAll closes every live connection.
func (st *socketState) closeAll() {
	st.mu.Lock()
	conns := append([]*wsConn(nil), st.conns...)
	close(st.ready)
	st.ready = make(chan struct{})
	st.mu.Unlock()
	for _, c := range conns {
		_ = c.ws.Close()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
