package controller

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/wharfmq/wharf/internal/loglimit"
)

// One port per controller carries both Raft and remoting (HA.md §7). A
// remoting frame starts with a 4-byte big-endian length below 16 MiB, so
// its first byte is always 0x00; our Raft dialer writes raftTag first. The
// mux reads one byte of each accepted connection and hands it to the Raft
// transport or to the remoting server.
const (
	raftTag     byte = 'R'
	remotingTag byte = 0x00
	// sniffTimeout bounds the wait for a new connection's first byte.
	sniffTimeout = 5 * time.Second
)

// mux owns the listener and the two virtual listeners it feeds.
type mux struct {
	ln       net.Listener
	log      *slog.Logger
	peers    *peerIPs // who may open a Raft connection
	raft     *chanListener
	remoting *chanListener
	wg       sync.WaitGroup
	done     chan struct{}
	once     sync.Once

	mu      sync.Mutex
	sniffed map[net.Conn]struct{} // connections whose first byte is awaited
	// raftConns are the inbound Raft connections: the transport does not
	// track them, so the mux closes them on close.
	raftConns map[*trackedConn]struct{}
}

// trackedConn leaves mux.raftConns when closed.
type trackedConn struct {
	*bufConn
	m *mux
}

func (c *trackedConn) Close() error {
	c.m.mu.Lock()
	delete(c.m.raftConns, c)
	c.m.mu.Unlock()
	return c.bufConn.Close()
}

func newMux(ln net.Listener, peers *peerIPs, log *slog.Logger) *mux {
	m := &mux{ln: ln, log: log, peers: peers, done: make(chan struct{}), sniffed: map[net.Conn]struct{}{},
		raftConns: map[*trackedConn]struct{}{}}
	m.raft = newChanListener(ln.Addr(), m.done)
	m.remoting = newChanListener(ln.Addr(), m.done)
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	var delay time.Duration
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("controller: accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-m.done:
				return
			}
			continue
		}
		delay = 0
		m.mu.Lock()
		m.sniffed[nc] = struct{}{}
		m.mu.Unlock()
		m.wg.Add(1)
		go m.sniff(nc)
	}
}

// sniff reads the first byte and routes the connection.
func (m *mux) sniff(nc net.Conn) {
	defer m.wg.Done()
	_ = nc.SetReadDeadline(time.Now().Add(sniffTimeout))
	br := bufio.NewReaderSize(nc, 16<<10)
	b, err := br.Peek(1)
	m.mu.Lock()
	delete(m.sniffed, nc)
	m.mu.Unlock()
	if err != nil {
		_ = nc.Close()
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	switch b[0] {
	case raftTag:
		// Raft trusts whoever speaks it: one AppendEntries with a
		// higher term from anyone deposes the leader, and a term of
		// 2^64-1 makes the next election's wrap to 0. Only the
		// configured peers' hosts may.
		if ip := remoteIP(nc); !m.peers.allowed(ip) {
			m.peers.warnRefused(m.log, ip)
			_ = nc.Close()
			return
		}
		_, _ = br.Discard(1)
		tc := &trackedConn{bufConn: &bufConn{Conn: nc, r: br}, m: m}
		m.mu.Lock()
		m.raftConns[tc] = struct{}{}
		m.mu.Unlock()
		m.raft.push(tc)
	case remotingTag:
		m.remoting.push(&bufConn{Conn: nc, r: br})
	default:
		m.log.Debug("controller: connection with an unknown first byte closed", "remote", nc.RemoteAddr(), "byte", b[0])
		_ = nc.Close()
	}
}

// close stops accepting and closes connections not yet taken; the Raft
// transport and the remoting server close the ones they took.
func (m *mux) close() {
	m.once.Do(func() {
		close(m.done)
		_ = m.ln.Close()
		m.mu.Lock()
		for nc := range m.sniffed {
			_ = nc.Close()
		}
		var rcs []*trackedConn
		for c := range m.raftConns {
			rcs = append(rcs, c)
		}
		m.mu.Unlock()
		for _, c := range rcs {
			_ = c.Close()
		}
	})
	m.wg.Wait()
	m.raft.drain()
	m.remoting.drain()
}

// bufConn is a connection whose first bytes were read into r.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	ch     chan net.Conn
	done   <-chan struct{} // the mux's
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr, done <-chan struct{}) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn, 16), done: done, closed: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	case <-l.done:
		_ = c.Close()
	}
}

// Accept implements net.Listener.
func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
	case <-l.done:
	}
	return nil, net.ErrClosed
}

// Close implements net.Listener; the real listener closes with the mux.
func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

// Addr implements net.Listener.
func (l *chanListener) Addr() net.Addr { return l.addr }

// drain closes connections pushed but never accepted.
func (l *chanListener) drain() {
	for {
		select {
		case c := <-l.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

// raftStream is the Raft StreamLayer over the mux: it accepts what the mux
// routes to Raft and dials with the Raft tag.
type raftStream struct {
	*chanListener
}

// Dial implements raft.StreamLayer.
func (s raftStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.Dial("tcp", string(addr))
	if err != nil {
		return nil, err
	}
	_ = nc.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := nc.Write([]byte{raftTag}); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("controller: raft dial %s: %w", addr, err)
	}
	_ = nc.SetWriteDeadline(time.Time{})
	return nc, nil
}

var _ io.Reader = (*bufConn)(nil)

// remoteIP is the connection's peer IP, the zero Addr if unknown.
func remoteIP(nc net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// peerIPs are the IPs of the configured controllers (controllerDLegerPeers),
// the only ones a Raft connection is taken from. A peer named by a host
// name is looked up again, at most once per peerLookupEvery, when a Raft
// connection comes from an IP not yet known.
type peerIPs struct {
	hosts []string // the peers' hosts that are not IP literals

	mu      sync.Mutex
	ips     map[netip.Addr]bool
	looked  time.Time
	refused loglimit.Limit
}

// peerLookupEvery bounds how often host names are looked up again.
const peerLookupEvery = 10 * time.Second

// newPeerIPs takes the peers' addresses (host:port).
func newPeerIPs(addrs []string) *peerIPs {
	p := &peerIPs{ips: map[netip.Addr]bool{}}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			p.ips[ip.Unmap()] = true
		} else {
			p.hosts = append(p.hosts, host)
		}
	}
	return p
}

// allowed says whether ip is a configured peer's.
func (p *peerIPs) allowed(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ips[ip] {
		return true
	}
	if len(p.hosts) == 0 || (!p.looked.IsZero() && time.Since(p.looked) < peerLookupEvery) {
		return false
	}
	p.looked = time.Now()
	for _, h := range p.hosts {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ips, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", h) // a failed lookup adds none
		cancel()
		for _, x := range ips {
			p.ips[x.Unmap()] = true
		}
	}
	return p.ips[ip]
}

// warnRefused logs a refused Raft connection, at most once per
// peerLookupEvery: anyone can connect.
func (p *peerIPs) warnRefused(log *slog.Logger, ip netip.Addr) {
	if ok, n := p.refused.Allow(peerLookupEvery); ok {
		log.Warn("controller: Raft connection from a host that is no controller of controllerDLegerPeers refused",
			"remote", ip.String(), "heldBackSinceLast", n)
	}
}
