package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

// killsFlag sizes T8/T9. make test runs RELIABILITY.md's CI size of T8, 20
// kills under SYNC_FLUSH, and 4 under ASYNC_FLUSH (T9 is nightly); make
// stress runs 100 (50 under ASYNC_FLUSH).
var killsFlag = flag.Int("kills", 0, "SIGKILL cycles of TestKill9SyncFlush, half of it for TestKill9AsyncFlush (0: $WHARF_E2E_KILLS, else 20 and 4, 5 and 2 under -short; make stress: 100)")

// binDir holds the wharf binary built for this run.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	rlog.SetLogLevel("fatal") // the client logs every failed send of a kill cycle
	dir, err := os.MkdirTemp("", "wharf-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binDir = dir
	// Fails the run if a test leaves a goroutine of its own behind (the
	// official Go client's are listed in IgnoreGoClient).
	goleak.VerifyTestMain(m, append(testkit.IgnoreGoClient(), goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))...)
}

var build struct {
	once sync.Once
	path string
	err  error
}

// wharfBinary builds ./tools/wharf once per test run and returns its path.
func wharfBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "go"
		}
		out := filepath.Join(binDir, "wharf")
		args := []string{"build", "-o", out}
		if invariants.Enabled {
			// The processes under test check what the test binary checks:
			// a violated invariant (a consume-queue hole, say) panics
			// the broker, where the log tail shows it.
			args = append(args, "-tags", "invariants")
		}
		cmd := exec.Command(goBin, append(args, "./tools/wharf")...)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./tools/wharf: %w\n%s", err, b)
			return
		}
		build.path = out
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.path
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 32 {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", errors.New("e2e: no go.mod above the working directory")
}

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
