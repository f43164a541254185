package testkit

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if a helper leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a testing.TB that records what a helper reports instead of
// ending the test.
type recorder struct {
	testing.TB
	fatal    string
	logs     []string
	cleanups []func()
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = format }
func (r *recorder) Log(args ...any)                   { r.logs = append(r.logs, args[0].(string)) }
func (r *recorder) Cleanup(f func())                  { r.cleanups = append(r.cleanups, f) }

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	var r recorder
	Eventually(&r, 5*time.Second, func() bool { return n.Add(1) == 3 }, "third look")
	if r.fatal != "" || n.Load() != 3 {
		t.Fatalf("fatal %q after %d looks", r.fatal, n.Load())
	}
	Eventually(&r, 20*time.Millisecond, func() bool { return false }, "never")
	if !strings.Contains(r.fatal, "timed out") {
		t.Fatalf("no failure on timeout: %q", r.fatal)
	}
}

func TestNeverFailsOnceTheConditionHolds(t *testing.T) {
	var r recorder
	Never(&r, 20*time.Millisecond, func() bool { return false }, "quiet")
	if r.fatal != "" {
		t.Fatalf("failed on a condition that never held: %q", r.fatal)
	}
	var n atomic.Int32
	Never(&r, 5*time.Second, func() bool { return n.Add(1) == 2 }, "second look")
	if r.fatal == "" {
		t.Fatal("no failure when the condition held")
	}
}

func TestMilliAfter(t *testing.T) {
	now := time.Now().UnixMilli()
	if got := MilliAfter(now); got <= now || time.Now().UnixMilli() < got {
		t.Fatalf("MilliAfter(%d) = %d", now, got)
	}
}

// TestLoggerStopsAtCleanup: lines go to t.Log until the test's cleanups
// have run, and are dropped after (t.Log would panic then).
func TestLoggerStopsAtCleanup(t *testing.T) {
	var r recorder
	log := Logger(&r)
	log.Warn("kept", "k", 1)
	log.Debug("below the level")
	for _, f := range r.cleanups {
		f()
	}
	log.Warn("dropped")
	if len(r.logs) != 1 || !strings.Contains(r.logs[0], "msg=kept k=1") || strings.HasSuffix(r.logs[0], "\n") {
		t.Fatalf("logged %q", r.logs)
	}
}

func TestFreePortsAreDistinctAndFree(t *testing.T) {
	addrs := FreePorts(t, 8)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s returned twice", a)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		ln.Close()
	}
}
