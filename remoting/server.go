package remoting

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Server defaults.
const (
	// DefaultIdleTimeout closes a connection that sent nothing for this
	// long between whole frames. Go clients heartbeat every 30 s and close
	// their own side after 120 s of silence, so 180 s only reaps
	// connections already dead.
	DefaultIdleTimeout = 180 * time.Second
	// DefaultFrameTimeout closes a connection that went silent this long in
	// the middle of a frame (a frame begun and not finished: RELIABILITY.md
	// T16). No client pauses inside a frame, so this is shorter than the
	// idle timeout.
	DefaultFrameTimeout = 60 * time.Second
	// DefaultDrainTimeout bounds Shutdown's wait for connections to finish
	// the requests they have already sent.
	DefaultDrainTimeout = 2 * time.Second
	// drainQuiet is how long a connection must send nothing during
	// Shutdown to count as drained. On loopback or a LAN a request already
	// sent arrives within it.
	drainQuiet = 200 * time.Millisecond
	// DefaultWriteTimeout bounds one frame write, so a peer that stops
	// reading cannot hold a connection's write lock forever.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultMaxInflight bounds handler goroutines per connection. Held
	// long polls return nil quickly and do not count.
	DefaultMaxInflight = 4096
)

// ServerOptions configures a Server. The zero value is usable.
type ServerOptions struct {
	// Logger receives connection and handler errors; nil means slog.Default().
	Logger *slog.Logger
	// Version is stamped on responses whose Version is 0; 0 means
	// DefaultVersion (409, as a 4.9.8 Java broker).
	Version int16
	// Language is stamped on responses whose Language is empty; "" means
	// DefaultLanguage.
	Language string
	// IdleTimeout: 0 means DefaultIdleTimeout, negative disables it.
	IdleTimeout time.Duration
	// FrameTimeout bounds the silence inside a frame once its first byte
	// has arrived: 0 means DefaultFrameTimeout, negative disables it.
	FrameTimeout time.Duration
	// WriteTimeout: 0 means DefaultWriteTimeout, negative disables it.
	WriteTimeout time.Duration
	// MaxInflight per connection: 0 means DefaultMaxInflight, negative
	// means unlimited. Requests over the limit get SYSTEM_BUSY.
	MaxInflight int
	// OnConnect runs in the connection's reader goroutine before the first
	// frame is read.
	OnConnect func(*Conn)
	// OnClose runs once per connection after it closed, for whatever
	// reason (the broker unregisters the client's producers and consumers).
	OnClose func(*Conn)
	// Authorize, when set, sees every request before its handler, on the
	// connection's reader goroutine: it returns nil to let the request
	// run, or the refusal to send instead (nothing is sent for a oneway
	// request). Nil costs nothing (ACL off).
	Authorize func(*Conn, *Command) *Command
}

// Server accepts connections and serves requests by code.
type Server struct {
	ep        endpoint
	onConnect func(*Conn)
	onClose   func(*Conn)

	mu struct {
		sync.Mutex
		ln     net.Listener
		conns  map[*Conn]struct{}
		closed bool
		// drainEnd is set once Shutdown began: connections accepted
		// after it drain too.
		drainEnd time.Time
	}
}

// NewServer returns a server that is not yet listening.
func NewServer(opts ServerOptions) *Server {
	s := &Server{onConnect: opts.OnConnect, onClose: opts.OnClose}
	s.ep.init(opts.Logger, opts.Language, opts.Version)
	s.ep.idleTimeout = orDefault(opts.IdleTimeout, DefaultIdleTimeout)
	s.ep.frameTimeout = orDefault(opts.FrameTimeout, DefaultFrameTimeout)
	s.ep.server = true // its connections were accepted: a TLS client is told apart
	s.ep.writeTimeout = orDefault(opts.WriteTimeout, DefaultWriteTimeout)
	switch {
	case opts.MaxInflight == 0:
		s.ep.maxInflight = DefaultMaxInflight
	case opts.MaxInflight > 0:
		s.ep.maxInflight = int64(opts.MaxInflight)
	}
	s.mu.conns = make(map[*Conn]struct{})
	s.ep.authorize = opts.Authorize
	return s
}

func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Handle registers h for a request code, replacing any earlier handler; a
// nil h removes it. Requests with no handler get REQUEST_CODE_NOT_SUPPORTED.
func (s *Server) Handle(code int16, h Handler) { s.ep.handle(code, h, false) }

// HandleInline is Handle for handlers that never block for long: they run
// on the connection's reader goroutine, in request order, which saves a
// goroutine per request and lets the replies to a pipelined burst leave in
// one write. A slow inline handler stalls only its own connection.
func (s *Server) HandleInline(code int16, h Handler) { s.ep.handle(code, h, true) }

// Start listens on a TCP address ("127.0.0.1:0" picks a free port) and
// serves in the background.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("remoting: listen %s: %w", addr, err)
	}
	if err := s.StartListener(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// StartListener serves connections accepted from ln in the background. The
// server owns ln from now on and closes it in Close.
func (s *Server) StartListener(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return errors.New("remoting: server closed")
	}
	if s.mu.ln != nil {
		return errors.New("remoting: server already started")
	}
	s.mu.ln = ln
	s.ep.wg.Add(1)
	go s.acceptLoop(ln)
	return nil
}

// Addr returns the listening address, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.ln == nil {
		return ""
	}
	return s.mu.ln.Addr().String()
}

// Drain is the first step of a graceful stop: it stops accepting and
// serves what every connection has already sent. Each connection is read
// until it has been quiet for a moment (its requests in the socket buffer
// are served, oneway offset commits included) and the handlers of what it
// sent have returned. It returns once every connection is drained, or when
// ctx ends (DefaultDrainTimeout if ctx has no deadline). Connections stay
// open for replies (a broker answers its held pulls) until Close; a drained
// connection reads nothing more.
func (s *Server) Drain(ctx context.Context) {
	end := time.Now().Add(DefaultDrainTimeout)
	if d, ok := ctx.Deadline(); ok {
		end = d
	}
	s.mu.Lock()
	if s.mu.closed || !s.mu.drainEnd.IsZero() {
		s.mu.Unlock()
		return
	}
	s.mu.drainEnd = end
	ln := s.mu.ln
	conns := s.connsLocked()
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close() // Close reports the error
	}
	for _, c := range conns {
		c.startDrain(end)
	}
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	for _, c := range conns {
		select {
		case <-c.readDone:
		case <-ctx.Done():
			return
		}
	}
}

// Close stops the listener, closes every connection, cancels handler
// contexts and waits for every goroutine the server started, handlers
// included. Requests not yet read are lost; Drain serves them first.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	ln := s.mu.ln
	conns := s.connsLocked()
	s.mu.Unlock()

	var err error
	if ln != nil {
		if cerr := ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("remoting: close listener: %w", cerr)
		}
	}
	// Connections close before handler contexts are cancelled, so a
	// handler woken by the cancel finds its connection already closed and
	// sends nothing half-way through shutdown.
	for _, c := range conns {
		c.closeConn()
	}
	s.ep.cancel()
	s.ep.wg.Wait()
	return err
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.ep.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ep.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.ep.log.Warn("remoting: accept failed", "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ep.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.addConn(nc)
	}
}

func (s *Server) addConn(nc net.Conn) {
	c := newConn(&s.ep, nc)
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.mu.conns[c] = struct{}{}
	s.ep.wg.Add(1)
	drainEnd := s.mu.drainEnd
	s.mu.Unlock()
	if !drainEnd.IsZero() {
		c.startDrain(drainEnd)
	}
	go c.serve(s.onConnect, s.removeConn)
}

func (s *Server) removeConn(c *Conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
	if s.onClose != nil {
		s.onClose(c)
	}
}

// Conns returns the open connections, in no particular order.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connsLocked()
}

// connsLocked returns the open connections. REQUIRES: s.mu held.
func (s *Server) connsLocked() []*Conn {
	out := make([]*Conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		out = append(out, c)
	}
	return out
}
