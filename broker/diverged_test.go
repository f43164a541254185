package broker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// TestSlaveOfAMasterThatLostItsTail: an ASYNC_MASTER under ASYNC_FLUSH
// ships records before it syncs them; a power cut loses them on the
// master while its slave keeps them. The master, restarted over what
// survived, takes new sends at those offsets: it never follows that slave
// on from its end (the slave would hold the lost records, then the
// master's), however far its own end grows, and logs why; a slave whose
// store was moved aside copies the master's log again.
func TestSlaveOfAMasterThatLostItsTail(t *testing.T) {
	ns := startNameServer(t, nil)
	cfg := plConfig(config.AsyncFlush, time.Hour, 1<<20) // nothing synced by the interval
	cfg.NamesrvAddr = ns.Addr()
	cfg.BrokerRole = config.AsyncMaster
	fs := vfs.NewCrashableMem()
	b := plStart(t, cfg, fs)
	registerFakeSlave(t, ns, cfg)
	c := newTestClient(t, b.Addr())
	createTopic(t, c, "Lost", 1)
	send := func(c *testClient, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			expectCode(t, c.send("Lost", 0, "", fmt.Sprintf("message %d", i)), remoting.RespSuccess, "send")
		}
	}
	s, slave := startStoreSlave(t, b, cfg)
	send(c, 0, 200)
	shipped := b.store.ReadableOffset()
	testkit.Eventually(t, 5*time.Second, func() bool { return slave.ReadableOffset() == shipped }, "the slave to copy the log")
	s.Close()

	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	b.Close()
	b2 := plStart(t, cfg, crashed)
	t.Cleanup(func() { b2.Close() })
	lostAt := b2.store.ReadableOffset()
	if lostAt >= shipped {
		t.Fatalf("the power cut lost nothing (end %d, shipped %d): the test needs a lost tail", lostAt, shipped)
	}
	m := b2.repl.master.Load()
	s2 := ha.NewSlave(ha.SlaveOptions{MasterAddr: m.Addr, Log: slave, Logger: testLogger(t), Redial: 20 * time.Millisecond})
	s2.Start()
	defer s2.Close()
	c2 := newTestClient(t, b2.Addr())
	followed := func() bool {
		return slave.ReadableOffset() != shipped || slices.ContainsFunc(m.Slaves(), func(s ha.SlaveStatus) bool { return s.Acked >= 0 })
	}
	for i := 200; b2.store.ReadableOffset() <= shipped+4096; i += 50 {
		send(c2, i, i+50)
		if followed() {
			break
		}
	}
	testkit.Never(t, time.Second, followed, "the master that lost [%d, %d) follows the slave that holds it: slave end %d, status %+v",
		lostAt, shipped, slave.ReadableOffset(), m.Slaves())

	s2.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the refused slave to be gone")
	fresh, copyStore := startStoreSlave(t, b2, cfg)
	defer fresh.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return copyStore.ReadableOffset() == b2.store.ReadableOffset() },
		"a slave with a fresh store to copy the master's log")
}
