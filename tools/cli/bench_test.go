package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
)

// TestBenchCommand runs `wharf bench produce` and `consume` against an
// in-process broker and checks the summary lines.
func TestBenchCommand(t *testing.T) {
	b := brokertest.Start(t, nil)

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		root := NewRoot()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	out := run("bench", "produce", "--broker", b.Addr(), "--topic", "CliBench", "--queues", "2",
		"--mode", "batch", "--batch", "8", "--conc", "2", "--window", "2", "--count", "100", "--size", "256", "--header", "rocketmq", "--quiet")
	if !strings.Contains(out, "produce mode=batch header=rocketmq size=256 conc=2 window=2 batch=8 queues=2 keys=bench-") ||
		!strings.Contains(out, "N msgs=100 errors=0") {
		t.Fatalf("produce printed %q", out)
	}
	if err := b.Store().WaitDispatched(5 * time.Second); err != nil { // consume reads what the queues hold
		t.Fatal(err)
	}
	out = run("bench", "consume", "--broker", b.Addr(), "--topic", "CliBench", "--quiet")
	if !strings.Contains(out, "stored=100 msgs=100 errors=0") || !strings.Contains(out, "MB/s=") {
		t.Fatalf("consume printed %q", out)
	}
	// --json, with the short flags admin uses.
	out = run("bench", "consume", "-b", b.Addr(), "-t", "CliBench", "--quiet", "--json")
	var sum benchSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || sum.Op != "consume" || sum.Msgs != 100 || sum.Errors != 0 || sum.Bytes != 25600 ||
		!strings.Contains(sum.SummaryLine, "msgs=100") {
		t.Fatalf("consume --json printed %q (%v)", out, err)
	}
}
