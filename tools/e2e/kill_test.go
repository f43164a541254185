package e2e

import (
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// maxRecoveryP99 is T8's bar: process start to a served request.
const maxRecoveryP99 = time.Second

// TestKill9SyncFlush is T8: the broker process is SIGKILLed at a random
// moment while 4 official-client producers send synchronously under
// SYNC_FLUSH; after each restart the acked tail is pulled back, and at the
// end every acked message must be at its acked (topic, queue, offset) with
// an identical body and in send order.
func TestKill9SyncFlush(t *testing.T) { testKill9(t, "SYNC_FLUSH", killCycles("SYNC_FLUSH")) }

// TestKill9AsyncFlush is T9, the same under ASYNC_FLUSH: an acknowledged
// message is in the page cache (copied into the mapped segment), so the
// death of the process must not lose it either. Half T8's kills.
func TestKill9AsyncFlush(t *testing.T) { testKill9(t, "ASYNC_FLUSH", killCycles("ASYNC_FLUSH")) }

func testKill9(t *testing.T, flush string, kills int) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t) // first, so it runs after every other cleanup
	ns := startNameServer(t)
	setup := newBrokerSetup(t, ns.Addr(), flush)
	pc := newProbe(setup.addr)
	defer pc.Close()
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	goroutinesBefore := runtime.NumGoroutine()

	proc := setup.startWithTopics(t, pc)

	l := &ledger{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	var recoveries []time.Duration
	start := time.Now()
	for cycle := range kills + 1 {
		if cycle > 0 {
			proc = setup.start(t)
			rec, err := proc.until(10*time.Second, pc.serving)
			if err != nil {
				t.Fatalf("restart %d: %v", cycle, err)
			}
			recoveries = append(recoveries, rec)
			verifyOnline(t, pc, l)
			if t.Failed() {
				t.Fatalf("acked messages lost after kill %d", cycle)
			}
		}
		if cycle == kills {
			break
		}
		for _, topic := range loadTopics {
			if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
				return routed(ctx, nsc, ns.Addr(), topic, setup.addr)
			}); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
		}
		tRouted := time.Now()
		stop := make(chan struct{})
		done := make(chan struct{})
		ld := &load{l: l, nsAddr: ns.Addr(), cycle: cycle}
		go func() {
			defer close(done)
			ld.run(t, stop)
		}()
		// The fault schedule, not a synchronization: kill at a random moment.
		time.Sleep(time.Duration(50+rng.IntN(1951)) * time.Millisecond)
		proc.kill(t)
		tKilled := time.Now()
		close(stop)
		select {
		case <-done:
		case <-time.After(2 * sendTimeout * 3):
			t.Fatalf("cycle %d: producers did not stop", cycle)
		}
		if testing.Verbose() {
			t.Logf("cycle %d: load ran %v, producers stopped %v after the kill",
				cycle, tKilled.Sub(tRouted).Round(time.Millisecond), time.Since(tKilled).Round(time.Millisecond))
		}
	}
	// A clean stop, then read everything back from the files.
	proc.terminate(t, 15*time.Second)
	rep := verifyOffline(t, setup.store, l)
	elapsed := time.Since(start)

	l.mu.Lock()
	attempts, failures := l.attempts, l.failures
	l.mu.Unlock()
	t.Logf("kill -9 x %d under %s in %v: sends %d, acked %d, failed %d, lost %d, mismatched %d, "+
		"stored %d, duplicates %d, stored-but-unacked %d",
		kills, flush, elapsed.Round(time.Millisecond), attempts, rep.acked, failures, rep.lost, rep.mismatched,
		rep.stored, rep.duplicates, rep.storedUnacked)
	t.Logf("recovery (process start -> request served) over %d restarts: p50 %v p99 %v max %v",
		len(recoveries), percentile(recoveries, 0.5).Round(time.Millisecond),
		percentile(recoveries, 0.99).Round(time.Millisecond), percentile(recoveries, 1).Round(time.Millisecond))
	t.Logf("final offline open: %s", rep.report)

	if rep.lost != 0 || rep.mismatched != 0 {
		t.Errorf("%d acked messages lost, %d stored with other content", rep.lost, rep.mismatched)
	}
	if rep.acked < kills {
		t.Errorf("only %d messages acked over %d cycles: the load did not run", rep.acked, kills)
	}
	if p99 := percentile(recoveries, 0.99); p99 > maxRecoveryP99 {
		t.Errorf("recovery p99 %v exceeds %v", p99, maxRecoveryP99)
	}
	t.Logf("goroutines: %d before, %d after %d producer cycles (the Go client leaves some behind: connection "+
		"readers to the name server and 10 s sleepers that outlive Shutdown)", goroutinesBefore, runtime.NumGoroutine(), kills)
}
