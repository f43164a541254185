package e2e

import (
	"context"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// TestSigtermUnderLoad is T11: SIGTERM while 4 producers send, in both
// flush modes. The broker must exit cleanly, restart without a recovery
// scan and still hold every acked message; restart-to-first-pull time is
// reported.
func TestSigtermUnderLoad(t *testing.T) {
	skipUnderRace(t)
	for _, mode := range []string{"SYNC_FLUSH", "ASYNC_FLUSH"} {
		t.Run(mode, func(t *testing.T) { sigtermCycles(t, mode) })
	}
}

// sigtermCyclesFlag: SIGTERM-restart cycles per flush mode. Two already
// check a clean stop twice over data written by more than one process
// lifetime; make stress runs 10.
var sigtermCyclesFlag = flag.Int("sigterm-cycles", 0, "SIGTERM-restart cycles per flush mode of TestSigtermUnderLoad (0: 2; make stress: 10)")

func sigtermCycles(t *testing.T, mode string) {
	checkNoOwnGoroutines(t)
	cycles := 2
	if *sigtermCyclesFlag > 0 {
		cycles = *sigtermCyclesFlag
	}
	ns := startNameServer(t)
	setup := newBrokerSetup(t, ns.Addr(), mode)
	pc := newProbe(setup.addr)
	defer pc.Close()
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()

	proc := setup.startWithTopics(t, pc)
	l := &ledger{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var firstPulls, stops []time.Duration
	for cycle := range cycles + 1 {
		if cycle > 0 {
			proc = setup.start(t)
			// Restart to the first successful pull of an acked message.
			last := l.lastPerQueue()
			var a acked
			for _, a = range last {
				break
			}
			if len(last) == 0 {
				t.Fatalf("cycle %d: nothing was acked before SIGTERM", cycle)
			}
			d, err := proc.until(10*time.Second, func(ctx context.Context) error {
				r, err := pc.pullOne(ctx, a.topic, a.queueID, a.offset)
				if err != nil {
					return err
				}
				return checkRecord(a, r)
			})
			if err != nil {
				t.Fatalf("restart %d: %v", cycle, err)
			}
			firstPulls = append(firstPulls, d)
			verifyOnline(t, pc, l)
			if t.Failed() {
				t.Fatalf("acked messages lost after SIGTERM %d", cycle)
			}
			if log, _ := os.ReadFile(proc.logPath); !strings.Contains(string(log), "cleanLastStop=true") {
				t.Errorf("restart %d after SIGTERM did not see a clean stop; log:\n%s", cycle, proc.logTail())
			}
		}
		if cycle == cycles {
			break
		}
		for _, topic := range loadTopics {
			if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
				return routed(ctx, nsc, ns.Addr(), topic, setup.addr)
			}); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		ld := &load{l: l, nsAddr: ns.Addr(), cycle: cycle}
		go func() {
			defer close(done)
			ld.run(t, stop)
		}()
		// The fault schedule: terminate at a random moment of full load.
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		stops = append(stops, proc.terminate(t, 15*time.Second))
		close(stop)
		select {
		case <-done:
		case <-time.After(6 * sendTimeout):
			t.Fatalf("cycle %d: producers did not stop", cycle)
		}
	}
	proc.terminate(t, 15*time.Second)
	rep := verifyOffline(t, setup.store, l)
	t.Logf("T11 SIGTERM x %d under %s: acked %d, lost %d, mismatched %d, duplicates %d, stored-but-unacked %d",
		cycles, mode, rep.acked, rep.lost, rep.mismatched, rep.duplicates, rep.storedUnacked)
	t.Logf("T11 %s: SIGTERM to exit max %v; restart to first pull p50 %v max %v (goal 200 ms); final open: %s",
		mode, percentile(stops, 1).Round(time.Millisecond), percentile(firstPulls, 0.5).Round(time.Millisecond),
		percentile(firstPulls, 1).Round(time.Millisecond), rep.report)
	if rep.lost != 0 || rep.mismatched != 0 {
		t.Errorf("%d acked messages lost, %d stored with other content", rep.lost, rep.mismatched)
	}
	if rep.acked == 0 {
		t.Error("nothing acked: the load did not run")
	}
}
