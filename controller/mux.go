package controller

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
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

func newMux(ln net.Listener, log *slog.Logger) *mux {
	m := &mux{ln: ln, log: log, done: make(chan struct{}), sniffed: map[net.Conn]struct{}{},
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
