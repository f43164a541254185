package testkit

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

// LogEnv names the environment variable that raises the test log level:
// "debug" logs everything, any other non-empty value logs from Info.
// Unset, tests log warnings and errors only, shown when a test fails or
// with -v.
const LogEnv = "WHARF_TEST_LOG"

// Logger returns a logger that writes through t.Log until the test ends
// (its cleanups included) and drops what a leftover goroutine logs after.
func Logger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	switch v := os.Getenv(LogEnv); {
	case strings.EqualFold(v, "debug"):
		level = slog.LevelDebug
	case v != "":
		level = slog.LevelInfo
	}
	w := &tlogWriter{t: t}
	// Registered first, so it runs after the cleanups that close servers.
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// tlogWriter passes whole log lines to t.Log; t.Log panics once the test
// has completed, hence the done flag.
type tlogWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tlogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// LogLines keeps the lines a CaptureLog logger wrote, for tests that
// assert on what a server logged.
type LogLines = loglines.Lines

// CaptureLog returns a logger that writes Info and above both through
// t.Log (as Logger does, whatever LogEnv says) and into the returned
// LogLines.
func CaptureLog(t testing.TB) (*slog.Logger, *LogLines) {
	lines := &LogLines{}
	w := &tlogWriter{t: t}
	t.Cleanup(w.stop)
	h := slog.NewTextHandler(io.MultiWriter(w, lines), &slog.HandlerOptions{Level: slog.LevelInfo})
	return slog.New(h), lines
}
