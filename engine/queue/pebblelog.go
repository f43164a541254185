package queue

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// pebbleErrorEvery is the least time between two error lines of one kind
// from Pebble.
const pebbleErrorEvery = 10 * time.Second

// pebbleLogger routes Pebble's logs to slog: its info lines at Debug, its
// errors at Error. On a full disk Pebble retries a failing flush or
// compaction at once and logs every failure (thousands of lines in 2 s were
// seen), so errors are limited to one line per format string per
// pebbleErrorEvery; the next line that passes counts those suppressed.
type pebbleLogger struct {
	l   *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	seen map[string]*errorKind // by format string
}

type errorKind struct {
	last       time.Time
	suppressed int
}

func newPebbleLogger(l *slog.Logger) *pebbleLogger {
	return &pebbleLogger{l: l, now: time.Now, seen: map[string]*errorKind{}}
}

// Infof logs at Debug.
func (p *pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

// Errorf logs at Error, at most once per format per pebbleErrorEvery.
func (p *pebbleLogger) Errorf(format string, args ...any) {
	suppressed, ok := p.allow(format)
	if !ok {
		return
	}
	if suppressed > 0 {
		p.l.Error(fmt.Sprintf(format, args...), "component", "pebble", "suppressedSinceLast", suppressed)
		return
	}
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf logs and panics, as Pebble expects, with a *pebbleFatal that
// Open alone recovers (recoverFatal).
func (p *pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble")
	panic(&pebbleFatal{msg: msg})
}

// allow says whether a line of this format may be logged now, and how many
// were suppressed since the last one.
func (p *pebbleLogger) allow(format string) (suppressed int, ok bool) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.seen[format]
	if k == nil {
		if len(p.seen) >= 256 { // Pebble's formats are constants; bound it anyway
			clear(p.seen)
		}
		p.seen[format] = &errorKind{last: now}
		return 0, true
	}
	if now.Sub(k.last) < pebbleErrorEvery {
		k.suppressed++
		return 0, false
	}
	suppressed, k.suppressed, k.last = k.suppressed, 0, now
	return suppressed, true
}
