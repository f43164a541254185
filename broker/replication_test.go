package broker

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// A SYNC_MASTER answers SEND_OK only once a slave listed by the name
// server holds the message, SLAVE_NOT_AVAILABLE (11) at once without one,
// and FLUSH_SLAVE_TIMEOUT (12) when the slave stops confirming; the
// message is stored in every case.
func TestSyncMasterAnswers(t *testing.T) {
	b, cfg := startSyncMaster(t, 300*time.Millisecond)
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	send := func() int16 {
		return pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), []byte("hello")).Code
	}

	if code := send(); code != remoting.RespSlaveNotAvailable {
		t.Fatalf("no slave: code %d, want 11", code)
	}

	s, slaveStore := startStoreSlave(t, b, cfg)
	for i := range 20 {
		if code := send(); code != remoting.RespSuccess {
			t.Fatalf("send %d with a slave: code %d", i, code)
		}
		if got, want := slaveStore.MaxPhysOffset(), b.store.MaxPhysOffset(); got != want {
			t.Fatalf("SEND_OK with the slave at %d of %d", got, want)
		}
	}
	copied := slaveStore.MaxPhysOffset()
	s.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return len(b.repl.master.Load().Slaves()) == 0 }, "the master to see the slave go")
	if code := send(); code != remoting.RespSlaveNotAvailable {
		t.Fatalf("slave gone: code %d, want 11", code)
	}

	// A slave that connects and then confirms nothing: 12 after
	// slaveTimeout. It reports what the slave had copied (more, bytes the
	// master never shipped, would be refused: its log diverged).
	c, err := net.Dial("tcp", b.repl.master.Load().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep [ha.ReportSize]byte
	ha.PutReport(&rep, copied)
	if _, err := c.Write(rep[:]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		st := b.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its report
	}, "the silent slave to be trusted and its report read")
	before := b.store.MaxPhysOffset()
	began := time.Now()
	if code := send(); code != remoting.RespFlushSlaveTimeout {
		t.Fatalf("silent slave: code %d, want 12", code)
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Fatalf("answered 12 after %v, before slaveTimeout", d)
	}
	if b.store.MaxPhysOffset() <= before {
		t.Fatal("a send answered 12 was not stored on the master")
	}
}

// A SYNC_MASTER broker and a slave broker registered with one name
// server: the slave learns the master's HA address from the name server,
// copies the master's backlog, every SEND_OK is already on the slave, and
// SlaveSynchronize brings the topic, and the slave serves the messages
// to a pull.
func TestMasterSlaveBrokers(t *testing.T) {
	ns := startNameServer(t, nil)
	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr = ns.Addr()
	mcfg.BrokerRole = config.SyncMaster
	master := startBroker(t, mcfg)
	pc := newTestClient(t, master.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "2", "writeQueueNums": "2", "perm": "6"}, nil)
	send := func(q int, body string) *remoting.Command {
		return pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", q, ""), []byte(body))
	}
	if code := send(0, "before the slave").Code; code != remoting.RespSlaveNotAvailable {
		t.Fatalf("no slave yet: code %d, want 11", code)
	}

	slave, _ := startSlave(t, ns.Addr(), 50*time.Millisecond, func(c *config.Config) {
		c.MappedFileSizeCommitLog = mcfg.MappedFileSizeCommitLog
	})
	eventually(t, 10*time.Second, "the slave to follow and be trusted", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].LagBytes == 0
	})
	for i := range 50 {
		resp := send(i%2, "m"+strconv.Itoa(i))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("send %d: code %d %s", i, resp.Code, resp.Remark)
		}
		if got, want := slave.store.MaxPhysOffset(), master.store.MaxPhysOffset(); got < want {
			t.Fatalf("SEND_OK for send %d with the slave at %d of %d", i, got, want)
		}
	}
	if err := slave.store.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// SlaveSynchronize brings the topic; then the slave serves pulls.
	sc := newTestClient(t, slave.Addr())
	total := 0
	eventually(t, 10*time.Second, "the slave to serve every message", func() bool {
		total = 0
		for q := range 2 {
			resp := sc.Call(remoting.CodePullMessage, pullExt("G", "HA", q, 0, 0, 0), nil)
			if resp.Code == remoting.RespSuccess {
				total += len(decodeAll(t, resp.Body))
			}
		}
		return total == 51
	})
	if total != 51 {
		t.Fatalf("the slave serves %d messages, want 51", total)
	}
	// The runtime tables say so.
	mt, st := master.runtimeInfo(time.Now()), slave.runtimeInfo(time.Now())
	if mt["haSlaveCount"] != "1" || st["haConnected"] != "true" || st["haEnd"] != strconv.FormatInt(master.store.MaxPhysOffset(), 10) {
		t.Fatalf("runtime tables: master %v slave %v", mt, st)
	}
	for k, v := range mt {
		if strings.HasPrefix(k, "haSlave.") && !strings.Contains(v, " lagBytes=0 ") {
			t.Fatalf("master reports %s = %s", k, v)
		}
	}
	// A peer on the HA port the name server does not list is not counted
	// as a slave.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", master.repl.master.Load().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep [ha.ReportSize]byte
	if _, err := c.Write(rep[:]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the stranger's report to be read", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 2 && (st[0].Acked == 0 || st[1].Acked == 0)
	})
	mt = master.runtimeInfo(time.Now())
	if mt["haSlaveCount"] != "1" || mt["haUntrustedPeerCount"] != "1" {
		t.Fatalf("with a stranger: haSlaveCount %q, haUntrustedPeerCount %q", mt["haSlaveCount"], mt["haUntrustedPeerCount"])
	}
}

// A SYNC_MASTER send is answered by the goroutine that reads the slave's
// report, which answers every send the report covers: a client that
// sends and never reads its replies must not delay anybody else's. The
// stuck client's sends go one at a time (each waits until the previous
// one is stored) until its socket can take no more replies; another
// client's sends are then still answered SEND_OK at once.
func TestSyncMasterClientNotReadingDelaysNoOther(t *testing.T) {
	b, cfg := startSyncMaster(t, 5*time.Second)
	s, _ := startStoreSlave(t, b, cfg)
	defer s.Close()
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	if code := pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), []byte("first")).Code; code != remoting.RespSuccess {
		t.Fatalf("first send: code %d", code)
	}

	// The stuck client: a small receive buffer, and it never reads.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return errors.Join(err, serr)
	}}
	stuck, err := d.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	frame, err := remoting.EncodeFrame(remoting.NewRequest(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), make([]byte, 16)))
	if err != nil {
		t.Fatal(err)
	}
	// It sends one request at a time (each stored before the next) until
	// the broker stops reading it: ~6 MB of replies is more than the two
	// sockets hold (4 MB at most on Linux), and 1 MiB waiting for the
	// writer stops the reader.
	sent := 0
	for sent < 20000 && !stuckHeld(t, b, stuck, frame) {
		sent++
	}
	if sent == 20000 {
		t.Fatal("the broker kept reading a client that reads none of its replies")
	}

	for i := range 20 {
		began := time.Now()
		if code := pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), []byte("after")).Code; code != remoting.RespSuccess {
			t.Fatalf("send %d beside the stuck client: code %d after %v", i, code, time.Since(began))
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Fatalf("send %d beside the stuck client answered after %v", i, took)
		}
	}

	// Every send the broker took from the stuck client is answered once
	// it reads.
	if err := stuck.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fr := remoting.NewFrameReader(bufio.NewReader(stuck))
	for i := range sent {
		resp, err := fr.ReadCommand()
		if err != nil {
			t.Fatalf("the stuck client's reply %d of %d: %v", i, sent, err)
		}
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("the stuck client's reply %d: code %d %s", i, resp.Code, resp.Remark)
		}
	}
}

// stuckHeld writes one send request on c and says whether the broker
// held it back: the write or the store did not happen within a second.
func stuckHeld(t *testing.T, b *Broker, c net.Conn, frame []byte) bool {
	t.Helper()
	before := b.store.MaxPhysOffset()
	if err := c.SetWriteDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(frame); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true
		}
		t.Fatal(err)
	}
	for wait := time.Now(); b.store.MaxPhysOffset() <= before; time.Sleep(20 * time.Microsecond) {
		if time.Since(wait) > time.Second {
			return true
		}
	}
	return false
}

// startSyncMaster starts a name server and a SYNC_MASTER broker-a with
// slaveTimeout, the name server listing a slave of it on 127.0.0.1.
func startSyncMaster(t *testing.T, slaveTimeout time.Duration) (*Broker, config.Config) {
	t.Helper()
	ns := startNameServer(t, nil)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.BrokerRole = config.SyncMaster
	b := startBroker(t, cfg)
	b.repl.slaveTimeout = slaveTimeout
	registerFakeSlave(t, ns, cfg)
	return b, cfg
}

// startStoreSlave follows b's HA port with an ha.Slave over a store of
// its own, once it is connected and trusted; the caller closes it.
func startStoreSlave(t *testing.T, b *Broker, cfg config.Config) (*ha.Slave, *engine.Store) {
	t.Helper()
	store := testkit.OpenStore(t, func(o *engine.Options) { o.SegmentSize = cfg.MappedFileSizeCommitLog })
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: b.repl.master.Load().Addr, Log: store, Logger: testLogger(t),
		Redial: 20 * time.Millisecond})
	s.Start()
	testkit.Eventually(t, 10*time.Second, func() bool {
		st := b.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0
	}, "the slave to connect, be trusted and report")
	return s, store
}

// Under SYNC_MASTER the broker's own writes count as done only once a
// slave holds them: the delay scheduler keeps its progress back (it may
// deliver again, never lose) and a send-back is answered SYSTEM_ERROR (the
// client then sends the retry itself) while no slave is in sync; with a
// slave both go through. The progress reaches a slave apart from the log,
// so a slave promoted after the master's death would otherwise resume
// past re-delivered messages it never received.
func TestSyncMasterOwnWritesWaitForTheSlave(t *testing.T) {
	ns := startNameServer(t, nil)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.BrokerRole = config.SyncMaster
	cfg.MessageDelayLevel = "50ms 100ms"
	b := startBroker(t, cfg)
	b.repl.slaveTimeout = 300 * time.Millisecond
	registerFakeSlave(t, ns, cfg)
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	delayed := func() {
		t.Helper()
		if code := pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, props("DELAY", "1")), []byte("later")).Code; code != remoting.RespSuccess && code != remoting.RespSlaveNotAvailable {
			t.Fatalf("delayed send: code %d", code)
		}
	}
	delayed()
	eventually(t, 5*time.Second, "the delayed message delivered", func() bool {
		st, _ := b.store.QueueState("HA", 0)
		return st.Max == 1
	})
	time.Sleep(200 * time.Millisecond) // a persist would have run
	if p, _ := b.sched.Progress(); p[1] != 0 {
		t.Fatalf("delay progress %v stored with no slave holding the delivered message", p)
	}
	// The delivered message, sent back by a consumer of HA.
	e, ok, err := b.store.EntryAt("HA", 0, 0)
	if err != nil || !ok {
		t.Fatalf("HA/0 entry 0: %v %v", ok, err)
	}
	back := sendBackExt("G", "HA", e.Phys, 0, 16)
	if resp := pc.Call(remoting.CodeConsumerSendMsgBack, back, nil); resp.Code != remoting.RespSystemError {
		t.Fatalf("send-back with no slave: code %d %q, want 1", resp.Code, resp.Remark)
	}

	s, _ := startStoreSlave(t, b, cfg)
	defer s.Close()
	delayed()
	eventually(t, 5*time.Second, "the delay progress stored once a slave holds the deliveries", func() bool {
		p, _ := b.sched.Progress()
		return p[1] == 2
	})
	if resp := pc.Call(remoting.CodeConsumerSendMsgBack, back, nil); resp.Code != remoting.RespSuccess {
		t.Fatalf("send-back with a slave: code %d %q", resp.Code, resp.Remark)
	}
}
