package wiretls

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Listen returns ln with the server mode applied: Accept hands out
// connections whose Handshake succeeded, TLS or plaintext. Handshakes run
// on goroutines of their own, so a client that connects and stays silent
// holds up no one. In Disabled mode ln itself is returned. The returned
// listener owns ln; its Close stops and waits for every goroutine it
// started.
func (s *Server) Listen(ln net.Listener) net.Listener {
	if s.mode == Disabled {
		return ln
	}
	l := &listener{inner: ln, gate: s, ready: make(chan net.Conn), done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

type listener struct {
	inner  net.Listener
	gate   *Server
	ready  chan net.Conn // connections past their handshake
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // acceptLoop and the handshakes

	done      chan struct{} // closed when acceptLoop stopped; err is set
	err       error
	closeOnce sync.Once
	closeErr  error
}

func (l *listener) acceptLoop() {
	defer l.wg.Done()
	defer close(l.done)
	var delay time.Duration
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				l.err = fmt.Errorf("tls listener: %w", net.ErrClosed)
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			l.gate.log.Warn("tls: accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
			}
			continue
		}
		delay = 0
		l.wg.Add(1)
		go l.handshake(nc)
	}
}

func (l *listener) handshake(nc net.Conn) {
	defer l.wg.Done()
	c, err := l.gate.Handshake(l.ctx, nc)
	if err != nil {
		return // Handshake closed it and logged what deserved a line
	}
	select {
	case l.ready <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// Accept returns the next connection past its handshake.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

// Close closes the inner listener, aborts handshakes in progress and
// waits for them.
func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		l.closeErr = l.inner.Close()
		l.wg.Wait()
	})
	return l.closeErr
}

func (l *listener) Addr() net.Addr { return l.inner.Addr() }
