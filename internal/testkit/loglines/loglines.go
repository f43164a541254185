// Package loglines is a log sink for tests: it keeps what a logger wrote,
// safe for the goroutines of the server under test, for assertions on
// what was logged. It imports nothing of Wharf, so the tests of any
// package (those testkit itself depends on too) can use it.
package loglines

import (
	"strings"
	"sync"
)

// Lines keeps every line written to it. The zero value is ready.
type Lines struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p; it never fails.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns every line written so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns the number of lines that contain substr.
func (l *Lines) Count(substr string) int {
	n := 0
	for line := range strings.SplitSeq(l.String(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}
