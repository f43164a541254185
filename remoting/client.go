package remoting

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultDialTimeout bounds one connection attempt of a Client.
const DefaultDialTimeout = 5 * time.Second

// ErrClientClosed is returned by a Client after Close.
var ErrClientClosed = errors.New("remoting: client closed")

// ClientOptions configures a Client. The zero value is usable.
type ClientOptions struct {
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// TLS, if set, makes every connection a TLS one with this
	// configuration (an empty ServerName is taken from the address).
	TLS *tls.Config
	// Version stamped on requests whose Version is 0; 0 means DefaultVersion.
	Version int16
	// Language stamped on requests whose Language is empty; "" means
	// DefaultLanguage.
	Language string
	// Sign, when set, is applied to every request this client sends
	// (Invoke and InvokeOneway), last before it is written: an ACL
	// signature over its ext fields and body.
	Sign func(*Command)
	// DialTimeout: 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout: 0 means DefaultWriteTimeout, negative disables it.
	WriteTimeout time.Duration
}

// Client keeps one shared connection per address and invokes requests on
// it. A connection that failed is dropped and redialed by the next call.
// Handlers registered with Handle serve requests the server sends us.
type Client struct {
	ep          endpoint
	dialTimeout time.Duration
	tls         *tls.Config

	mu struct {
		sync.Mutex
		conns  map[string]*dialEntry
		closed bool
	}
}

// dialEntry lets concurrent callers share one dial to an address.
type dialEntry struct {
	ready chan struct{} // closed when conn or err is set
	conn  *Conn
	err   error
}

// NewClient returns a client with no connections yet.
func NewClient(opts ClientOptions) *Client {
	c := &Client{dialTimeout: opts.DialTimeout, tls: opts.TLS}
	if c.dialTimeout <= 0 {
		c.dialTimeout = DefaultDialTimeout
	}
	c.ep.init(opts.Logger, opts.Language, opts.Version)
	c.ep.sign = opts.Sign
	c.ep.writeTimeout = orDefault(opts.WriteTimeout, DefaultWriteTimeout)
	c.mu.conns = make(map[string]*dialEntry)
	return c
}

// Handle registers h for requests with this code sent by servers; nil
// removes it.
func (c *Client) Handle(code int16, h Handler) { c.ep.handle(code, h, false) }

// Invoke sends req to addr and waits for the response matched by opaque,
// until ctx ends. See Conn.Invoke for what it changes in req.
func (c *Client) Invoke(ctx context.Context, addr string, req *Command) (*Command, error) {
	conn, err := c.Conn(ctx, addr)
	if err != nil {
		return nil, err
	}
	return conn.Invoke(ctx, req)
}

// InvokeOneway sends req to addr with the oneway flag and does not wait.
func (c *Client) InvokeOneway(addr string, req *Command) error {
	conn, err := c.Conn(context.Background(), addr)
	if err != nil {
		return err
	}
	return conn.InvokeOneway(req)
}

// Conn returns the open connection to addr, dialing it if needed.
func (c *Client) Conn(ctx context.Context, addr string) (*Conn, error) {
	for range 2 {
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return nil, ErrClientClosed
		}
		e := c.mu.conns[addr]
		if e == nil {
			e = &dialEntry{ready: make(chan struct{})}
			c.mu.conns[addr] = e
			c.mu.Unlock()
			c.dial(ctx, addr, e)
			return e.conn, e.err
		}
		c.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, fmt.Errorf("remoting: connect %s: %w", addr, ctx.Err())
		}
		if e.err != nil {
			return nil, e.err
		}
		if e.conn.writable() {
			return e.conn, nil
		}
		// Closed, or a write failed, but its reader has not removed it
		// yet: drop it, redial.
		c.dropEntry(addr, e)
	}
	return nil, fmt.Errorf("remoting: connect %s: %w", addr, ErrConnClosed)
}

// dial connects e. It runs in the first caller's goroutine; Close and that
// caller's ctx both cancel it.
func (c *Client) dial(ctx context.Context, addr string, e *dialEntry) {
	defer close(e.ready)
	dctx, cancel := context.WithTimeout(c.ep.ctx, c.dialTimeout)
	stop := context.AfterFunc(ctx, cancel)
	var nc net.Conn
	var err error
	if c.tls != nil {
		// The handshake is part of the dial, under the same timeout.
		d := tls.Dialer{Config: c.tls}
		nc, err = d.DialContext(dctx, "tcp", addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", addr)
	}
	stop()
	cancel()
	if err != nil {
		e.err = fmt.Errorf("remoting: dial %s: %w", addr, err)
		c.dropEntry(addr, e)
		return
	}
	conn := newConn(&c.ep, nc)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		_ = nc.Close()
		e.err = ErrClientClosed
		return
	}
	e.conn = conn
	c.ep.wg.Add(1)
	c.mu.Unlock()
	go conn.serve(nil, func(*Conn) { c.dropEntry(addr, e) })
}

func (c *Client) dropEntry(addr string, e *dialEntry) {
	c.mu.Lock()
	if c.mu.conns[addr] == e {
		delete(c.mu.conns, addr)
	}
	c.mu.Unlock()
}

// Close closes every connection, fails pending invokes and waits for every
// goroutine the client started, handlers included.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	var conns []*Conn
	for _, e := range c.mu.conns {
		if e.conn != nil { // set under mu by dial
			conns = append(conns, e.conn)
		}
	}
	c.mu.Unlock()
	for _, conn := range conns {
		conn.closeConn()
	}
	c.ep.cancel() // also stops dials in progress
	c.ep.wg.Wait()
	return nil
}
