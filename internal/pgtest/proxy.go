package pgtest

import (
	"net"
	"strconv"
	"sync"
)

// Proxy is a TCP relay on 127.0.0.1 in front of the server that can be told
// to stall, to stand for a backend that has stopped answering. It is safe
// for concurrent use.
type Proxy struct {
	// Port is where the proxy listens.
	Port int

	s  *Server
	l  net.Listener
	mu sync.Mutex
	// open is closed while traffic flows and replaced by a new channel
	// while the proxy stalls.
	open  chan struct{}
	conns map[net.Conn]struct{}
}

// Proxy starts a relay to the server, closed when the test ends.
func (s *Server) Proxy() *Proxy {
	s.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatalf("start proxy: %v", err)
	}
	p := &Proxy{
		Port:  l.Addr().(*net.TCPAddr).Port,
		s:     s,
		l:     l,
		open:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	close(p.open)
	var wg sync.WaitGroup
	s.t.Cleanup(func() {
		l.Close()
		p.closeAll()
		p.Stall(false)
		wg.Wait()
	})
	wg.Add(1)
	go func() { defer wg.Done(); p.accept(&wg) }()
	return p
}

// DSNFor is a connection string for login through the proxy, without a
// password.
func (p *Proxy) DSNFor(login string) string { return p.s.dsnVia(login, p.Port) }

// Stall stops (on) or resumes (off) relaying bytes in both directions.
// Bytes held while stalled are delivered when traffic resumes.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		if on {
			p.open = make(chan struct{})
		}
	default:
		if !on {
			close(p.open)
		}
	}
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Proxy) accept(wg *sync.WaitGroup) {
	target := net.JoinHostPort(p.s.Host, strconv.Itoa(p.s.Port))
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			continue
		}
		if !p.track(in, out) {
			return
		}
		wg.Add(2)
		go func() { defer wg.Done(); p.relay(out, in) }()
		go func() { defer wg.Done(); p.relay(in, out) }()
	}
}

// relay copies src to dst, waiting at the gate before each write, and
// closes both ends when either side is done.
func (p *Proxy) relay(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// track records a relayed pair so cleanup can cut it; it reports false
// (and closes both) once the proxy is shut.
func (p *Proxy) track(in, out net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		in.Close()
		out.Close()
		return false
	}
	p.conns[in], p.conns[out] = struct{}{}, struct{}{}
	return true
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
