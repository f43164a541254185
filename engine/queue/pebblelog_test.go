package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestPebbleErrorsRateLimited is issue 9 §4: Pebble retrying a flush on a
// full disk logs each failure; the broker's log gets one line per kind per
// interval, then one counting what it suppressed.
func TestPebbleErrorsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	p := newPebbleLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	clock := time.Unix(1000, 0)
	p.now = func() time.Time { return clock }
	enospc := errors.New("write 000123.log: no space left on device")
	for i := range 5000 {
		p.Errorf("background error: %s", enospc)
		p.Errorf("[JOB %d] flush error: %s", i, enospc)
		clock = clock.Add(time.Millisecond) // 5,000 retries in 5 s
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d lines for 10,000 errors of two kinds in 5 s, want 2:\n%s", n, buf.String())
	}
	clock = clock.Add(pebbleErrorEvery)
	p.Errorf("background error: %s", enospc)
	if !strings.Contains(buf.String(), "suppressedSinceLast=4999") {
		t.Fatalf("the next line does not count what was suppressed:\n%s", buf.String())
	}
	p.Infof("a flush %s", "finished") // Debug: not shown at Info
	if n := strings.Count(buf.String(), "\n"); n != 3 {
		t.Fatalf("%d lines, want 3", n)
	}
}
