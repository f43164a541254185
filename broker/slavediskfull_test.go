package broker

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/vfstest"
	"github.com/wharfmq/wharf/remoting"
)

// TestSlaveDiskFull is issue 11's full-disk proof: the slave of a
// SYNC_MASTER keeps its store on a small tmpfs, which a ballast file and
// the replicated sends fill past the slave's full ratio. The slave stops
// confirming and the master answers 11 or 12, never SEND_OK for a record
// the slave does not hold; once the ballast is removed, replication
// resumes, the master answers SEND_OK again and the slave holds all the
// master wrote, the unconfirmed records included.
func TestSlaveDiskFull(t *testing.T) {
	const fsSize = 48 << 20
	mnt := vfstest.MountTmpfs(t, fsSize)
	ns := startNameServer(t, nil)
	ha := func(c *config.Config) {
		c.MappedFileSizeCommitLog = 4 << 20
		c.MaxHashSlotNum, c.MaxIndexNum = 1024, 4096
		c.HASendHeartbeatInterval = 200 * time.Millisecond
		c.HAHousekeepingInterval = 2 * time.Second
		c.SlaveTimeout = 500 * time.Millisecond
	}
	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr = ns.Addr()
	mcfg.BrokerRole = config.SyncMaster
	ha(&mcfg)
	master := startBroker(t, mcfg)
	slave, _ := startSlave(t, ns.Addr(), 50*time.Millisecond, func(c *config.Config) {
		c.StorePathRootDir = filepath.Join(mnt, "store")
		ha(c)
	})
	pc := newTestClient(t, master.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "SlaveFull", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	eventually(t, 10*time.Second, "the slave to follow and be trusted", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].LagBytes == 0
	})

	body := []byte(strings.Repeat("d", 64<<10))
	codes := map[int16]int{}
	// send sends one message and checks a SEND_OK: the slave must
	// already hold everything the master wrote (sends are sequential).
	send := func() int16 {
		t.Helper()
		resp := pc.Call(remoting.CodeSendMessage, sendExt("SlaveFull", 0, ""), body)
		codes[resp.Code]++
		if resp.Code == remoting.RespSuccess {
			if got, want := slave.store.MaxPhysOffset(), master.store.MaxPhysOffset(); got < want {
				t.Fatalf("SEND_OK with the slave at %d of the master's %d", got, want)
			}
		}
		return resp.Code
	}
	for range 10 {
		if code := send(); code != remoting.RespSuccess {
			t.Fatalf("before the disk fills: code %d", code)
		}
	}

	// A ballast takes the tmpfs to 80 %; the sends take the slave past
	// its 90 % full ratio.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	total, free := int64(st.Blocks)*int64(st.Bsize), int64(st.Bavail)*int64(st.Bsize)
	ballast := filepath.Join(mnt, "ballast")
	if n := total*8/10 - (total - free); n > 0 {
		if err := os.WriteFile(ballast, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// At most the whole tmpfs in sends, each answered within slaveTimeout.
	refusedAt := -1
	for i := range fsSize / len(body) {
		if code := send(); code != remoting.RespSuccess {
			if code != remoting.RespSlaveNotAvailable && code != remoting.RespFlushSlaveTimeout {
				t.Fatalf("send %d with the slave's disk filling: code %d, want 0, 11 or 12", i, code)
			}
			refusedAt = i
			break
		}
	}
	if refusedAt < 0 {
		t.Fatalf("the slave confirmed every send of the whole tmpfs size: codes %v", codes)
	}
	// While the disk stays full: never SEND_OK without the slave (send
	// checks), never another code.
	for i := range 10 {
		if code := send(); code != remoting.RespSlaveNotAvailable && code != remoting.RespFlushSlaveTimeout &&
			code != remoting.RespSuccess {
			t.Fatalf("send %d on the slave's full disk: code %d", i, code)
		}
	}
	info := slave.runtimeInfo(time.Now())
	t.Logf("slave full after %d sends of 64 KiB past the ballast: codes %v; slave haEnd %s, haLastError %q",
		refusedAt, codes, info["haEnd"], info["haLastError"])
	if !strings.Contains(strings.ToLower(info["haLastError"]), "disk") {
		t.Errorf("the slave's haLastError %q does not say the disk is full", info["haLastError"])
	}
	if slave.store.MaxPhysOffset() >= master.store.MaxPhysOffset() {
		t.Fatalf("the slave holds all (%d of %d) with a full disk", slave.store.MaxPhysOffset(), master.store.MaxPhysOffset())
	}

	// Space freed: the slave appends again (its guard looks again within
	// a second), catches up, and sends get SEND_OK.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "a SEND_OK after the disk is freed", func() bool { return send() == remoting.RespSuccess })
	eventually(t, 10*time.Second, "the slave to hold all the master wrote", func() bool {
		return slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})
	for i := range 10 {
		if code := send(); code != remoting.RespSuccess {
			t.Fatalf("send %d after the disk is freed: code %d", i, code)
		}
	}
	t.Logf("replication resumed: codes %v; slave and master at %d", codes, master.store.MaxPhysOffset())
}
