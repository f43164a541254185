package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/internal/loglimit"
	"github.com/wharfmq/wharf/internal/metricsrv"
	"github.com/wharfmq/wharf/remoting"
)

// Defaults of Options, as a Java 4.x name server.
const (
	DefaultListen       = ":9876"
	DefaultBrokerExpiry = 120 * time.Second
	DefaultScanInterval = 10 * time.Second
)

// Options configures a Server. The zero value serves on DefaultListen.
type Options struct {
	// Listen is the TCP address to serve on; "" means DefaultListen and
	// "127.0.0.1:0" picks a free port.
	Listen string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// WrapListener, if set, wraps the listening socket: a TLS server mode
	// (package internal/wiretls, Server.Listen). Nil serves plaintext.
	WrapListener func(net.Listener) net.Listener
	// BrokerExpiry drops a broker address that has not registered for this
	// long; 0 means DefaultBrokerExpiry.
	BrokerExpiry time.Duration
	// ScanInterval is how often expiry is checked; 0 means
	// DefaultScanInterval.
	ScanInterval time.Duration
	// Hosted, if set, is a service served on the name server's port too:
	// the embedded controller (enableControllerInNamesrv). The server
	// registers its handlers, starts it in Start, tells it of every
	// closed connection, and closes it in Close.
	Hosted Hosted
	// ACLFile, if set, turns ACL on: a plain_acl.yml (package acl, scope
	// NameServer). Route and cluster queries stay open to all; broker
	// registration and other requests need a signed request of an account;
	// requests that change what every client sees (topic delete, KV
	// put/delete, write-permission changes) need an admin account. The
	// file is watched; New fails, naming it, if it is missing or invalid.
	ACLFile string
	// MetricsAddr, if set, is the "host:port" of the metrics listener:
	// Prometheus /metrics, /healthz and /readyz (package metricsrv).
	MetricsAddr string
}

// Hosted is a service a name server runs beside itself and serves on its
// own port (package controller's Controller).
type Hosted interface {
	Register(rs *remoting.Server)
	ConnClosed(c *remoting.Conn)
	Start() error
	Close() error
}

// authorizedHosted is a Hosted service with a port of its own (the
// controller's peer port): with ACL on, the name server hands it its
// check, so that port refuses what the name server's refuses.
type authorizedHosted interface {
	SetAuthorize(func(*remoting.Conn, *remoting.Command) *remoting.Command)
}

// Server is a name server: a remoting server with the route registry
// behind it and the goroutine that expires silent brokers.
type Server struct {
	opts Options
	log  *slog.Logger
	reg  *registry
	rs   *remoting.Server
	acl  *acl.Checker // nil: ACL off
	// idClaims limits the warning of a brokerId taken from a live broker.
	idClaims loglimit.PerKey[brokerID]

	mu struct {
		sync.Mutex
		started, closed bool
	}
	requests requestCounts     // by code; built in New, read-only after
	metrics  *metricsrv.Server // nil unless Options.MetricsAddr
	quit     chan struct{}     // closed by Close to stop the expiry loop
	wg       sync.WaitGroup    // the expiry loop
}

// New returns a name server that is not yet listening.
func New(opts Options) (*Server, error) {
	if opts.BrokerExpiry < 0 || opts.ScanInterval < 0 {
		return nil, fmt.Errorf("nameserver: negative BrokerExpiry (%v) or ScanInterval (%v)", opts.BrokerExpiry, opts.ScanInterval)
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.BrokerExpiry == 0 {
		opts.BrokerExpiry = DefaultBrokerExpiry
	}
	if opts.ScanInterval == 0 {
		opts.ScanInterval = DefaultScanInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger.With("component", "nameserver"),
		reg:      newRegistry(),
		quit:     make(chan struct{}),
		requests: requestCounts{},
	}
	rsOpts := remoting.ServerOptions{Logger: opts.Logger, OnClose: s.connClosed}
	if opts.ACLFile != "" {
		c, err := acl.Open(opts.ACLFile, acl.Options{Scope: acl.NameServer, Logger: opts.Logger})
		if err != nil {
			return nil, fmt.Errorf("nameserver: %w", err)
		}
		s.acl = c
		rsOpts.Authorize = func(conn *remoting.Conn, req *remoting.Command) *remoting.Command {
			err := c.Check(acl.Request{Code: req.Code, Ext: req.ExtFields, Body: req.Body, RemoteAddr: conn.RemoteAddr()})
			if err == nil {
				return nil
			}
			return remoting.NewResponse(req, remoting.RespNoPermission, err.Error())
		}
		if h, ok := opts.Hosted.(authorizedHosted); ok {
			h.SetAuthorize(rsOpts.Authorize)
		}
	}
	s.rs = remoting.NewServer(rsOpts)
	hs := s.handlers()
	for code, h := range hs {
		h = s.requests.counted(code, h)
		hs[code] = h
		s.rs.Handle(code, h)
	}
	if opts.Hosted != nil {
		opts.Hosted.Register(s.rs)
	}
	// A broker's registrations apply in the order its connection sent
	// them: run concurrently, an unregister sent right after a register
	// (a broker stopping) could be served first and leave the broker
	// routed until it expires. Both only update the in-memory tables.
	for _, code := range []int16{remoting.CodeRegisterBroker, remoting.CodeUnregisterBroker} {
		s.rs.HandleInline(code, hs[code])
	}
	return s, nil
}

// Start listens on Options.Listen and serves in the background.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return errors.New("nameserver: server closed")
	case s.mu.started:
		return errors.New("nameserver: server already started")
	}
	if err := s.listen(); err != nil {
		return fmt.Errorf("nameserver: %w", err)
	}
	if s.opts.Hosted != nil {
		if err := s.opts.Hosted.Start(); err != nil {
			_ = s.rs.Close()
			return fmt.Errorf("nameserver: %w", err)
		}
	}
	if err := s.startMetrics(); err != nil {
		_ = s.rs.Close()
		if s.opts.Hosted != nil {
			_ = s.opts.Hosted.Close()
		}
		return fmt.Errorf("nameserver: metrics: %w", err)
	}
	s.mu.started = true
	s.wg.Add(1)
	go s.expiryLoop()
	s.log.Info("name server started", "addr", s.rs.Addr(),
		"broker_expiry", s.opts.BrokerExpiry, "scan_interval", s.opts.ScanInterval)
	return nil
}

// listen binds Options.Listen and serves it, through WrapListener if set.
func (s *Server) listen() error {
	if s.opts.WrapListener == nil {
		return s.rs.Start(s.opts.Listen)
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.opts.Listen, err)
	}
	ln = s.opts.WrapListener(ln)
	if err := s.rs.StartListener(ln); err != nil {
		_ = ln.Close()
		return err
	}
	return nil
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string { return s.rs.Addr() }

// Close stops serving, closes every connection and waits for every
// goroutine the server started. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	started := s.mu.started
	s.mu.Unlock()

	close(s.quit)
	s.wg.Wait()
	var err error
	if s.metrics != nil {
		err = s.metrics.Close()
	}
	err = errors.Join(err, s.rs.Close())
	if s.acl != nil {
		s.acl.Close()
	}
	if s.opts.Hosted != nil {
		err = errors.Join(err, s.opts.Hosted.Close())
	}
	if started {
		s.log.Info("name server stopped")
	}
	if err != nil {
		return fmt.Errorf("nameserver: %w", err)
	}
	return nil
}

// connClosed drops the brokers a closing connection registered, as Java's
// onChannelDestroy does.
// During Close every connection closes, so those drops are not news.
func (s *Server) connClosed(c *remoting.Conn) {
	if s.opts.Hosted != nil {
		s.opts.Hosted.ConnClosed(c)
	}
	level := slog.LevelInfo
	s.mu.Lock()
	if s.mu.closed {
		level = slog.LevelDebug
	}
	s.mu.Unlock()
	for _, addr := range s.reg.dropConn(c.ID()) {
		s.log.Log(context.Background(), level, "broker dropped: its connection closed", "addr", addr, "remote", c.RemoteAddr())
	}
}

// ACL returns the name server's ACL checker (its Stats for metrics), or
// nil when ACLFile is unset.
func (s *Server) ACL() *acl.Checker { return s.acl }
