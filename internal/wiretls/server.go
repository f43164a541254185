package wiretls

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/wharfmq/wharf/internal/loglimit"
)

// RecordTypeHandshake is the first byte of every TLS connection (a
// handshake record, RFC 8446 5.1). A remoting frame begins with its
// length, big-endian, whose first byte is 0x00 for any frame below 16 MiB.
const RecordTypeHandshake = 0x16

// DefaultHandshakeTimeout bounds the wait for a connection's first byte and
// its TLS handshake.
const DefaultHandshakeTimeout = 30 * time.Second

// ErrPlaintextRefused is returned by Server.Handshake for a plaintext
// connection to an enforcing port.
var ErrPlaintextRefused = errors.New("tls: plaintext connection refused (tls.server.mode=enforcing)")

// Server applies a server mode to the connections a port accepts. It is
// safe for concurrent use.
type Server struct {
	mode    Mode
	cfg     *tls.Config
	log     *slog.Logger
	timeout time.Duration
	limit   loglimit.Limit // lines a stranger can cause once per connection
}

// NewServer returns the mode's gatekeeper for one port. cfg is needed
// (non-nil) unless mode is Disabled; name says which port in log lines
// ("remoting", "ha"). A nil log means slog.Default().
func NewServer(mode Mode, cfg *tls.Config, name string, log *slog.Logger) (*Server, error) {
	if mode != Disabled && cfg == nil {
		return nil, fmt.Errorf("tls: %s port: tls.server.mode=%v without a TLS configuration", name, mode)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Server{mode: mode, cfg: cfg, log: log.With("port", name), timeout: DefaultHandshakeTimeout}, nil
}

// Mode returns the server mode.
func (s *Server) Mode() Mode { return s.mode }

// Handshake decides how an accepted connection is served, on that
// connection's own goroutine (a slow client must not hold up the accept
// loop). In Disabled mode nc is returned as it is. Otherwise it reads the
// first byte: a TLS handshake is completed and the *tls.Conn returned; a
// plaintext connection is returned with the byte put back (permissive), or
// closed with one log line (enforcing). Cancelling ctx aborts the wait. On
// error nc has been closed.
func (s *Server) Handshake(ctx context.Context, nc net.Conn) (net.Conn, error) {
	if s.mode == Disabled {
		return nc, nil
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	_ = nc.SetDeadline(time.Now().Add(s.timeout))
	var first [1]byte
	if _, err := io.ReadFull(nc, first[:]); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("tls: first byte from %s: %w", nc.RemoteAddr(), err)
	}
	pc := &prefixConn{Conn: nc, first: first[0], pending: true}
	if first[0] != RecordTypeHandshake {
		if s.mode == Enforcing {
			if ok, dropped := s.limit.Allow(time.Second); ok {
				s.log.Warn("tls: plaintext connection refused: tls.server.mode=enforcing accepts TLS only",
					"remote", nc.RemoteAddr().String(), "first_byte", first[0], "refusals_not_logged", dropped)
			}
			_ = nc.Close()
			return nil, ErrPlaintextRefused
		}
		_ = nc.SetDeadline(time.Time{})
		return pc, nil
	}
	tc := tls.Server(pc, s.cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if ok, dropped := s.limit.Allow(time.Second); ok {
			s.log.Warn("tls: handshake failed", "remote", nc.RemoteAddr().String(), "err", err, "failures_not_logged", dropped)
		}
		_ = nc.Close()
		return nil, fmt.Errorf("tls: handshake with %s: %w", nc.RemoteAddr(), err)
	}
	_ = nc.SetDeadline(time.Time{})
	return tc, nil
}

// prefixConn gives back the byte Handshake read before the rest of the
// stream. Only the connection's reader reads it.
type prefixConn struct {
	net.Conn
	first   byte
	pending bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if c.pending && len(p) > 0 {
		// The byte alone: reading more now could block on a peer that
		// waits for our answer to what it sent.
		c.pending = false
		p[0] = c.first
		return 1, nil
	}
	return c.Conn.Read(p)
}
