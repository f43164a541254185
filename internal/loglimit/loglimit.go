// Package loglimit bounds log lines that a stranger can cause at will (a
// connection, a bad frame, a refused peer): one line per interval gets
// through and says how many were held back since the last one.
package loglimit

import (
	"log/slog"
	"sync"
	"time"
)

// Limit lets one line through per interval. The zero value is ready.
type Limit struct {
	mu   sync.Mutex
	last time.Time
	held int
}

// Allow reports whether a line may be logged now and, if so, how many
// were held back since the last one.
func (l *Limit) Allow(every time.Duration) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.held++
		return false, 0
	}
	n := l.held
	l.last, l.held = now, 0
	return true, n
}

// Warn logs msg with attrs at warning level if a line may be logged now,
// adding heldBackSinceLast when lines were held back.
func (l *Limit) Warn(log *slog.Logger, every time.Duration, msg string, attrs ...any) {
	if ok, n := l.Allow(every); ok {
		if n > 0 {
			attrs = append(attrs, "heldBackSinceLast", n)
		}
		log.Warn(msg, attrs...)
	}
}

// MaxKeys is how many keys a PerKey holds before it forgets them all, so
// that strangers cycling through addresses cannot grow it without bound.
const MaxKeys = 1024

// PerKey is a Limit per key (a peer's address). The zero value is ready.
type PerKey[K comparable] struct {
	mu sync.Mutex
	m  map[K]*Limit
}

// Allow is Limit.Allow for key's lines.
func (p *PerKey[K]) Allow(key K, every time.Duration) (bool, int) {
	return p.limit(key).Allow(every)
}

// Warn is Limit.Warn for key's lines.
func (p *PerKey[K]) Warn(key K, log *slog.Logger, every time.Duration, msg string, attrs ...any) {
	p.limit(key).Warn(log, every, msg, attrs...)
}

// limit returns key's Limit.
func (p *PerKey[K]) limit(key K) *Limit {
	p.mu.Lock()
	if p.m == nil || len(p.m) >= MaxKeys {
		p.m = map[K]*Limit{}
	}
	l := p.m[key]
	if l == nil {
		l = &Limit{}
		p.m[key] = l
	}
	p.mu.Unlock()
	return l
}
