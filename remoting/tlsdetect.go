package remoting

import (
	"errors"
	"sync"
	"time"
)

// tlsHandshakeRecord is the first byte of a TLS connection (a handshake
// record). A frame begins with its length, whose first byte is 0x00 below
// 16 MiB, so a first byte of 0x16 is a TLS client, never a frame.
const tlsHandshakeRecord = 0x16

// errTLSOnPlaintext ends a plaintext server connection whose peer began a
// TLS handshake.
var errTLSOnPlaintext = errors.New("remoting: TLS handshake on a plaintext port")

// logLimiter lets through at most one line a second and counts the rest:
// any stranger can cause the line once per connection. The zero value is
// ready.
type logLimiter struct {
	mu      sync.Mutex
	last    time.Time
	dropped int
}

func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < time.Second {
		l.dropped++
		return false, 0
	}
	d := l.dropped
	l.last, l.dropped = now, 0
	return true, d
}
