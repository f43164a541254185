package ha

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// The connection plumbing both replication protocols share (this
// package's classic one and package autoswitch's): a master's accept
// loop, a slave's one outgoing connection, and how a connection's end is
// told from a fault.

// AcceptLoop accepts connections on ln until closing is closed and hands
// each to serve, which reports false when the service has closed meanwhile
// (AcceptLoop then closes the connection and returns). A failed Accept is
// logged and retried after a pause.
func AcceptLoop(ln net.Listener, closing <-chan struct{}, log *slog.Logger, serve func(net.Conn) bool) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-closing:
				return
			default:
			}
			log.Warn("HA accept failed", "err", err)
			select {
			case <-closing:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if !serve(nc) {
			nc.Close()
			return
		}
	}
}

// Dialed is a slave's connection to its master, kept so that Close can
// end a read blocked on it. The zero value is ready.
type Dialed struct {
	// TLS, if set, makes the connection a TLS one (tls.enable on a
	// slave); set it before the first Dial.
	TLS    *tls.Config
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

// Dial connects to addr and keeps the connection; after Close it returns
// (nil, nil).
func (d *Dialed) Dial(addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 3 * time.Second}
	var conn net.Conn
	var err error
	if d.TLS != nil {
		// The handshake is under the dialer's timeout too.
		conn, err = tls.DialWithDialer(&nd, "tcp", addr, d.TLS)
	} else {
		conn, err = nd.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		conn.Close()
		return nil, nil
	}
	d.conn = conn
	return conn, nil
}

// Release forgets conn and closes it.
func (d *Dialed) Release(conn net.Conn) {
	d.mu.Lock()
	if d.conn == conn {
		d.conn = nil
	}
	d.mu.Unlock()
	conn.Close()
}

// Close closes the kept connection and refuses new ones; it reports
// whether this was the first Close.
func (d *Dialed) Close() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.closed = true
	if d.conn != nil {
		d.conn.Close()
	}
	return true
}

// IsClosedErr is true for the ways a connection ends that are no fault:
// the peer closed, or we did.
func IsClosedErr(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// FirstErr returns the first of errs that is a fault (not IsClosedErr),
// else nil.
func FirstErr(errs ...error) error {
	for _, e := range errs {
		if !IsClosedErr(e) {
			return e
		}
	}
	return nil
}

// ServeConn runs one slave's connection on a master: send on a goroutine
// counted in wg, read on the caller's, until either ends. Either ending
// closes conn, which ends the other: a connection whose sender failed
// ships nothing, yet its reports would keep it counted in sync (every
// SYNC_MASTER send would wait out slaveTimeout), and a write that timed
// out may have left half a frame. done is closed once read returns, the
// sender's cue to stop. It returns the first fault of the two (FirstErr).
func ServeConn(wg *sync.WaitGroup, conn net.Conn, done chan struct{}, send, read func() error) error {
	sendDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := send()
		if err != nil {
			conn.Close()
		}
		sendDone <- err
	}()
	err := read()
	close(done)
	conn.Close()
	return FirstErr(err, <-sendDone)
}
