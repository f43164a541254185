// Package loglimit bounds log lines that a stranger can cause at will (a
// connection, a bad frame, a refused peer): one line per interval gets
// through and says how many were held back since the last one.
package loglimit

import (
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
	return l.Allow(every)
}
