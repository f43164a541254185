package e2e

import (
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// sendSome runs the load against the name servers until n messages are
// acked (or 20 s pass).
func sendSome(t *testing.T, l *ledger, namesrv, topics []string, n int) {
	t.Helper()
	stop := make(chan struct{})
	done := make(chan struct{})
	ld := &load{l: l, namesrv: namesrv, topics: topics}
	go func() {
		defer close(done)
		ld.run(t, stop)
	}()
	ok := testkit.Within(20*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.acked) >= n
	})
	close(stop)
	<-done
	if !ok {
		t.Fatalf("fewer than %d messages acked within 20 s", n)
	}
}

// TestGroupMasterSmoke runs what works before replication: a group's
// master with HA keys and two name servers registers on both, is killed
// with -9 and restarted, and serves every acked message again.
func TestGroupMasterSmoke(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	namesrv := []string{startNameServer(t).Addr(), startNameServer(t).Addr()}
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	// ASYNC_MASTER: a SYNC_MASTER without a slave will answer 11 once
	// replication lands.
	g := newGroup(t, groupOpts{brokerName: "broker-a", namesrv: namesrv})
	g.start(t, masterNode)
	topics := []string{"E2E_HA_T0"}
	if err := g.probe(masterNode).createTopic(ctx5s(t), topics[0], 4); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{0: g.addr(masterNode)}
	waitRoute(t, nsc, namesrv, topics[0], "broker-a", want)

	l := &ledger{}
	sendSome(t, l, namesrv, topics, 40)
	g.kill(t, masterNode)
	// A config change between runs applies at the next start.
	g.setup(masterNode).setKey(t, "slaveTimeout", "2000")
	g.restart(t, masterNode)
	rep := checkThrough(t, g.probe(masterNode), l, "broker-a", 5*time.Second)
	t.Log(rep)
	if rep.found != rep.acked || rep.acked < 40 {
		t.Errorf("read back %d of %d acked", rep.found, rep.acked)
	}
	if d := duplicatesAcross(rep); d != rep.duplicates {
		t.Errorf("duplicates across one report %d, in it %d", d, rep.duplicates)
	}
	waitRoute(t, nsc, namesrv, topics[0], "broker-a", want)
	g.terminate(t, masterNode)
}

// TestHASmoke starts a SYNC_MASTER and its slave: the slave serves and
// registers (the route lists ids 0 and 1 on both name servers), and every
// SEND_OK message is readable through the slave.
func TestHASmoke(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	namesrv := []string{startNameServer(t).Addr(), startNameServer(t).Addr()}
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	g := newGroup(t, groupOpts{brokerName: "broker-a", masterRole: "SYNC_MASTER", namesrv: namesrv})
	g.start(t, masterNode)
	topics := []string{"E2E_HA_T0"}
	if err := g.probe(masterNode).createTopic(ctx5s(t), topics[0], 4); err != nil {
		t.Fatal(err)
	}
	g.start(t, slaveNode)
	waitRoute(t, nsc, namesrv, topics[0], "broker-a", map[int64]string{0: g.addr(masterNode), 1: g.addr(slaveNode)})

	l := &ledger{}
	sendSome(t, l, namesrv, topics, 40)
	rep := checkThrough(t, g.probe(slaveNode), l, "broker-a", 10*time.Second)
	t.Log(rep)
	if rep.found != rep.acked {
		t.Errorf("slave holds %d of %d acked", rep.found, rep.acked)
	}
}
