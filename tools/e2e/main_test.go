package e2e

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

// killsFlag sizes T8/T9. make test runs RELIABILITY.md's CI size of T8, 20
// kills under SYNC_FLUSH, and 4 under ASYNC_FLUSH (T9 is nightly); make
// stress runs 100 (50 under ASYNC_FLUSH).
var killsFlag = flag.Int("kills", 0, "SIGKILL cycles of TestKill9SyncFlush, half of it for TestKill9AsyncFlush (0: $WHARF_E2E_KILLS, else 20 and 4, 5 and 2 under -short; make stress: 100)")

// wharf is the server binary, built once for this run.
var wharf testkit.WharfBuild

func TestMain(m *testing.M) {
	flag.Parse()
	rlog.SetLogLevel("fatal") // the client logs every failed send of a kill cycle
	dir, err := os.MkdirTemp("", "wharf-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	wharf.Dir = dir
	// Fails the run if a test leaves a goroutine of its own behind (the
	// official Go client's are listed in IgnoreGoClient).
	goleak.VerifyTestMain(m, append(testkit.IgnoreGoClient(), goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))...)
}

// wharfBinary returns the server binary, building it on first use.
func wharfBinary(t *testing.T) string { return wharf.Path(t) }

// killCycles is the number of SIGKILL cycles to run under flush mode
// mode: -kills or $WHARF_E2E_KILLS (half of it under ASYNC_FLUSH), else
// the make test size.
func killCycles(mode string) int {
	n := *killsFlag
	if n <= 0 {
		n, _ = strconv.Atoi(os.Getenv("WHARF_E2E_KILLS"))
	}
	switch {
	case n > 0 && mode == "ASYNC_FLUSH":
		return max(1, n/2)
	case n > 0:
		return n
	case testing.Short() && mode == "ASYNC_FLUSH":
		return 2
	case testing.Short():
		return 5
	case mode == "ASYNC_FLUSH":
		return 4
	}
	return 20
}

func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("the official Go client races internally; run without -race")
	}
}
