package e2e

import (
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// haKillsFlag sizes TestSyncMasterKill9: make test runs 3 kills of the
// master, make stress 20 (issue 11's proof).
var haKillsFlag = flag.Int("ha-kills", 0, "kill -9 cycles of the master in TestSyncMasterKill9 (0: $WHARF_E2E_HA_KILLS, else 3, 2 under -short; make stress: 20)")

// haKillCycles is -ha-kills, else $WHARF_E2E_HA_KILLS, else the make test
// size.
func haKillCycles() int {
	n := *haKillsFlag
	if n <= 0 {
		n, _ = strconv.Atoi(os.Getenv("WHARF_E2E_HA_KILLS"))
	}
	switch {
	case n > 0:
		return n
	case testing.Short():
		return 2
	}
	return 3
}

// haBodyMax caps the bodies of the replicated load: at full speed it
// writes every byte twice, on a disk other tests share.
const haBodyMax = 4 << 10

// TestSyncMasterKill9 is issue 11's kill proof: a SYNC_MASTER and its
// slave, numProducers official-client producers sending synchronously at
// full speed, and the master killed with -9 at a random moment once its
// slave confirms sends, then restarted, again and again. After each kill,
// with the master down, the slave must already hold every SEND_OK
// message (read through its port by a new client). Each cycle waits
// for a SEND_OK after the restart: the slave redials, the master finds it
// in sync, and only then answers 0 (before that it answers 11, which is
// counted). At the end the master is killed once more and every SEND_OK
// message must be on the slave, read through the slave's port by a new
// client, queue by queue: 0 lost.
func TestSyncMasterKill9(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	kills := haKillCycles()
	namesrv := []string{startNameServer(t).Addr(), startNameServer(t).Addr()}
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	g := newGroup(t, groupOpts{brokerName: "broker-a", masterRole: "SYNC_MASTER", namesrv: namesrv})
	g.start(t, masterNode)
	topics := []string{"E2E_HA_K0", "E2E_HA_K1"}
	for _, topic := range topics {
		if err := g.probe(masterNode).createTopic(ctx5s(t), topic, queuesPerTop); err != nil {
			t.Fatal(err)
		}
	}
	g.start(t, slaveNode)
	both := map[int64]string{0: g.addr(masterNode), 1: g.addr(slaveNode)}

	l := &ledger{}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	var resync []time.Duration // master start -> first SEND_OK of the cycle
	start := time.Now()
	for cycle := range kills + 1 {
		if cycle > 0 {
			g.start(t, masterNode)
		}
		started := g.procs[masterNode].started
		for _, topic := range topics {
			waitRoute(t, nsc, namesrv, topic, "broker-a", both)
		}
		l.mu.Lock()
		before := len(l.acked)
		l.mu.Unlock()
		stop := make(chan struct{})
		done := make(chan struct{})
		ld := &load{l: l, namesrv: namesrv, topics: topics, cycle: cycle, bodyMax: haBodyMax}
		go func() {
			defer close(done)
			ld.run(t, stop)
		}()
		stopLoad := func() {
			close(stop)
			select {
			case <-done:
			case <-time.After(2 * sendTimeout * 3):
				t.Fatalf("cycle %d: producers did not stop", cycle)
			}
		}
		// A SEND_OK in this cycle: the slave is back and in sync.
		if !testkit.Within(15*time.Second, func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return len(l.acked) > before
		}) {
			stopLoad()
			t.Fatalf("cycle %d: no SEND_OK within 15 s of the master's start: the master did not find its slave in sync again; master log:\n%s",
				cycle, g.procs[masterNode].logTail())
		}
		resync = append(resync, time.Since(started))
		if cycle == kills {
			stopLoad()
			break
		}
		// The fault schedule, not a synchronization: kill at a random
		// moment while sends wait for the slave.
		time.Sleep(time.Duration(50+rng.IntN(1451)) * time.Millisecond)
		g.kill(t, masterNode)
		stopLoad()
		// With the master dead the slave gets nothing more: a SEND_OK it
		// does not hold now was answered before the slave had it.
		sp := newProbe(g.addr(slaveNode))
		rep := checkThrough(t, sp, l, "broker-a", 10*time.Second)
		sp.Close()
		if rep.lost != 0 || rep.mismatched != 0 {
			t.Fatalf("kill %d: the slave holds %d of %d SEND_OK messages", cycle+1, rep.found, rep.acked)
		}
	}
	// The master dies once more: what follows is read from the slave alone.
	g.kill(t, masterNode)
	sp := newProbe(g.addr(slaveNode))
	defer sp.Close()
	rep := checkThrough(t, sp, l, "broker-a", 30*time.Second)

	l.mu.Lock()
	attempts, failures := l.attempts, l.failures
	byStatus := map[primitive.SendStatus]int{}
	for _, u := range l.unconfirmed {
		byStatus[u.status]++
	}
	unanswered := failures - len(l.unconfirmed)
	l.mu.Unlock()
	t.Logf("SYNC_MASTER kill -9 x %d in %v: sends %d, acked (SEND_OK) %d, lost on the slave %d, mismatched %d; "+
		"answered 11 (SLAVE_NOT_AVAILABLE) %d, 12 (FLUSH_SLAVE_TIMEOUT) %d, 10 (FLUSH_DISK_TIMEOUT) %d; "+
		"failed without an answer %d", kills, time.Since(start).Round(time.Millisecond), attempts, rep.acked, rep.lost,
		rep.mismatched, byStatus[primitive.SendSlaveNotAvailable], byStatus[primitive.SendFlushSlaveTimeout],
		byStatus[primitive.SendFlushDiskTimeout], unanswered)
	t.Logf("master start -> first SEND_OK, per cycle: %v", resync)
	t.Logf("slave: %s", rep)
	if rep.lost != 0 || rep.mismatched != 0 || rep.found != rep.acked {
		t.Errorf("the slave holds %d of %d SEND_OK messages (%d lost, %d mismatched)", rep.found, rep.acked, rep.lost, rep.mismatched)
	}
	if rep.acked < kills+1 {
		t.Errorf("only %d SEND_OK over %d cycles: the load did not run", rep.acked, kills+1)
	}
	g.terminate(t, slaveNode)
}
