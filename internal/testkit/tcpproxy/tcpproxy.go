// Package tcpproxy is a loopback TCP proxy for tests that need to break a
// link between two real processes: forward, stall (stop forwarding in both
// directions while the connections stay open), cut (reset every current
// connection) or refuse new connections. Replication tests put it between
// a slave and its master's HA port to stall or cut the stream at will.
//
// Each accepted connection is forwarded to the target by two copiers, one
// per direction. A copier reads a chunk, then passes a gate before it
// writes: while the proxy is stalled the chunk waits at the gate and the
// rest queues in the kernel's socket buffers, so after Resume every byte
// arrives in order and none is lost. A half-close (EOF) passes the gate
// like data.
package tcpproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// chunk is the most one copier holds between its read and its write.
const chunk = 32 << 10

// dialTimeout bounds the dial of the target for each new connection.
const dialTimeout = 2 * time.Second

// stallWait bounds how long Stall waits for writes already under way.
const stallWait = 5 * time.Second

// Proxy forwards connections accepted on a loopback port to a target
// address. Its methods are safe for concurrent use.
type Proxy struct {
	t      testing.TB
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every copier

	mu struct {
		sync.Mutex
		stalled  bool
		resumed  chan struct{} // closed by Resume; replaced by Stall
		drained  chan struct{} // closed when inflight drops to 0 while stalled
		inflight int           // writes that passed the gate and have not returned
		refuse   bool          // close new connections at once
		closed   bool          // Close was called
		pairs    map[*pair]struct{}
		accepted int // connections forwarded to the target, ever
		// cuts counts Cut calls: a connection accepted before a Cut but
		// registered after it (its dial was under way) is cut too.
		cuts int
	}
}

// pair is one client connection and its connection to the target.
type pair struct {
	client, server net.Conn
	done           chan struct{} // closed by shut: copiers leave the gate
	once           sync.Once
	halves         sync.WaitGroup // the two copiers
}

// shut closes both connections. With reset, it asks for an RST instead of
// an orderly FIN, as a broken network or a dead host looks to the peers.
func (pr *pair) shut(reset bool) {
	pr.once.Do(func() {
		close(pr.done)
		for _, c := range []net.Conn{pr.client, pr.server} {
			if tc, ok := c.(*net.TCPConn); ok && reset {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
	})
}

// Start listens on 127.0.0.1:0 and forwards every connection to target.
// The proxy is closed at the end of the test.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tcpproxy: listen: %v", err)
	}
	p := &Proxy{t: t, target: target, ln: ln}
	p.mu.pairs = map[*pair]struct{}{}
	p.mu.resumed = make(chan struct{})
	close(p.mu.resumed) // not stalled
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port", where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Conns is the number of connections currently forwarded.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.mu.pairs)
}

// Accepted is the number of connections forwarded to the target since
// Start (refused ones and failed dials are not counted).
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.accepted
}

// Stall stops forwarding in both directions; connections stay open and
// new ones are still accepted (and stalled too). When Stall returns, no
// further byte is written to either side until Resume: writes already
// under way are waited for (up to a few seconds, in case a peer does not
// read; the test is then told).
func (p *Proxy) Stall() {
	p.mu.Lock()
	if !p.mu.stalled {
		p.mu.stalled = true
		p.mu.resumed = make(chan struct{})
		p.mu.drained = make(chan struct{})
		if p.mu.inflight == 0 {
			close(p.mu.drained)
		}
	}
	drained := p.mu.drained
	p.mu.Unlock()
	select {
	case <-drained:
	case <-time.After(stallWait):
		p.t.Logf("tcpproxy %s: a write under way did not finish within %v of Stall (a peer does not read)", p.Addr(), stallWait)
	}
}

// Resume forwards again what queued up during a stall, in order.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.stalled {
		p.mu.stalled = false
		close(p.mu.resumed)
	}
}

// Cut resets every current connection (both peers see a reset or EOF)
// and keeps accepting new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.mu.cuts++
	pairs := make([]*pair, 0, len(p.mu.pairs))
	for pr := range p.mu.pairs {
		pairs = append(pairs, pr)
	}
	p.mu.Unlock()
	for _, pr := range pairs {
		pr.shut(true)
	}
}

// Refuse, while on, accepts each new connection and closes it at once,
// without dialing the target: a peer that is up but turns clients away.
// Current connections are left alone (Cut them too for a full outage).
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.refuse = on
}

// Close stops accepting, resets every connection and waits for the
// proxy's goroutines. It is idempotent and runs at the end of the test.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.t.Logf("tcpproxy %s: accept: %v", p.Addr(), err)
			}
			return
		}
		p.mu.Lock()
		refuse, cuts := p.mu.refuse, p.mu.cuts
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		// Dial here, not in a goroutine of its own, so Close waits for it;
		// the dial is bounded and on loopback.
		s, err := net.DialTimeout("tcp", p.target, dialTimeout)
		if err != nil {
			_ = c.Close()
			continue
		}
		pr := &pair{client: c, server: s, done: make(chan struct{})}
		p.mu.Lock()
		if p.mu.closed || p.mu.cuts != cuts {
			p.mu.Unlock()
			pr.shut(true)
			continue
		}
		p.mu.pairs[pr] = struct{}{}
		p.mu.accepted++
		p.mu.Unlock()
		pr.halves.Add(2)
		p.wg.Add(3)
		go p.copy(pr, pr.server, pr.client)
		go p.copy(pr, pr.client, pr.server)
		go p.reap(pr)
	}
}

// reap forgets a pair once both directions are done.
func (p *Proxy) reap(pr *pair) {
	defer p.wg.Done()
	pr.halves.Wait()
	pr.shut(false)
	p.mu.Lock()
	delete(p.mu.pairs, pr)
	p.mu.Unlock()
}

// copy forwards src to dst until EOF or an error, passing the gate before
// every write and before forwarding the EOF.
func (p *Proxy) copy(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	defer pr.halves.Done()
	buf := make([]byte, chunk)
	for {
		n, rerr := src.Read(buf)
		if !p.enter(pr) {
			return
		}
		var werr error
		if n > 0 {
			_, werr = dst.Write(buf[:n])
		}
		if rerr == io.EOF && werr == nil {
			// Pass the half-close on, so a peer waiting for EOF gets it.
			if tc, ok := dst.(*net.TCPConn); ok {
				werr = tc.CloseWrite()
			}
		}
		p.leave()
		switch {
		case rerr == io.EOF && werr == nil:
			return
		case rerr != nil || werr != nil:
			// A reset, or a pair shut meanwhile: pass the reset on and
			// bring the other direction down too.
			pr.shut(true)
			return
		}
	}
}

// enter waits at the gate while the proxy is stalled and counts a write
// under way. It returns false if the pair was shut meanwhile.
func (p *Proxy) enter(pr *pair) bool {
	for {
		p.mu.Lock()
		if !p.mu.stalled {
			p.mu.inflight++
			p.mu.Unlock()
			select {
			case <-pr.done:
				p.leave()
				return false
			default:
				return true
			}
		}
		resumed := p.mu.resumed
		p.mu.Unlock()
		select {
		case <-resumed:
		case <-pr.done:
			return false
		}
	}
}

// leave ends a write counted by enter.
func (p *Proxy) leave() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.inflight--
	if p.mu.inflight == 0 && p.mu.stalled {
		select {
		case <-p.mu.drained:
		default:
			close(p.mu.drained)
		}
	}
}
