package cli

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/engine"
)

// timings matches what differs between two runs of check on one store.
var timings = regexp.MustCompile(`[0-9.]+(ns|µs|ms|s)\b|[0-9]+ MB/s`)

// runSplit executes the wharf command line in-process and returns stdout
// and stderr apart.
func runSplit(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("wharf %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// TestProgressOfflineTools: inspect check and replay draw a bar on stderr
// with --progress always, and with auto (a test's stderr is no terminal)
// print nothing there and the same stdout as with --progress never.
func TestProgressOfflineTools(t *testing.T) {
	dir, _ := populateDir(t)

	out, errOut := runSplit(t, "inspect", "check", "--data", dir, "--progress", "always")
	t.Logf("check stderr: %q", errOut)
	if !strings.Contains(out, "400 records") || !strings.Contains(errOut, "check 400 records") || !strings.Contains(errOut, "kB") {
		t.Fatalf("check --progress always: stdout\n%s\nstderr %q", out, errOut)
	}
	if strings.Contains(out, "records\r") || strings.Contains(out, "kB/s") {
		t.Fatalf("progress leaked to stdout:\n%s", out)
	}
	never, errOut := runSplit(t, "inspect", "check", "--data", dir, "--progress", "never")
	if errOut != "" {
		t.Fatalf("check --progress never wrote to stderr: %q", errOut)
	}
	auto, errOut := runSplit(t, "inspect", "check", "--data", dir)
	if errOut != "" || timings.ReplaceAllString(auto, "T") != timings.ReplaceAllString(never, "T") {
		t.Fatalf("check (auto): stderr %q, stdout\n%s\nwant\n%s", errOut, auto, never)
	}
	out, errOut = runSplit(t, "inspect", "check", "--data", dir, "--json", "--progress", "always")
	var rep engine.CheckReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.CommitLog.Records != 400 || !strings.Contains(errOut, "check 400 records") {
		t.Fatalf("check --json --progress always: %v\nstdout %s\nstderr %q", err, out, errOut)
	}

	small := []string{"replay", "--data", dir, "--index-slots", "1024", "--index-entries", "4096"}
	out, errOut = runSplit(t, append(small, "--progress", "always")...)
	t.Logf("replay stderr: %q", errOut)
	if !strings.Contains(out, "into 400 queue entries") || !strings.Contains(errOut, "replay 400 records") || !strings.Contains(errOut, "kB") {
		t.Fatalf("replay --progress always: stdout\n%s\nstderr %q", out, errOut)
	}
	out, errOut = runSplit(t, append(small, "--json")...)
	var rr struct{ Report engine.RebuildReport }
	if err := json.Unmarshal([]byte(out), &rr); err != nil || rr.Report.Records != 400 || errOut != "" {
		t.Fatalf("replay --json (auto): %v\nstdout %s\nstderr %q", err, out, errOut)
	}
	if _, err := run(t, "inspect", "check", "--data", dir, "--progress", "sometimes"); err == nil || !strings.Contains(err.Error(), "auto, always or never") {
		t.Fatalf("--progress sometimes: %v", err)
	}
}

// TestProgressBench: bench produce draws a bar with --progress always,
// and is silent on stderr with auto; --json still parses.
func TestProgressBench(t *testing.T) {
	b := brokertest.Start(t, nil)
	args := []string{"bench", "produce", "--broker", b.Addr(), "--topic", "ProgBench", "--queues", "2",
		"--count", "100", "--size", "256", "--broker-pid", "-1"}
	out, errOut := runSplit(t, append(args, "--progress", "always")...)
	t.Logf("produce stderr: %q", errOut)
	if !strings.Contains(out, "N msgs=100 errors=0") || !strings.Contains(errOut, "produce 100 records") || !strings.Contains(errOut, "kB") {
		t.Fatalf("produce --progress always: stdout\n%s\nstderr %q", out, errOut)
	}
	out, errOut = runSplit(t, append(args, "--json")...)
	var sum benchSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Msgs != 100 || errOut != "" {
		t.Fatalf("produce --json (auto): %v\nstdout %s\nstderr %q", err, out, errOut)
	}
	if err := b.Store().WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	out, errOut = runSplit(t, "bench", "consume", "--broker", b.Addr(), "--topic", "ProgBench", "--broker-pid", "-1", "--progress", "always")
	if !strings.Contains(out, "msgs=200") || !strings.Contains(errOut, "consume 200 records") {
		t.Fatalf("consume --progress always: stdout\n%s\nstderr %q", out, errOut)
	}
}
