package broker

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// A SYNC_MASTER answers SEND_OK only once a slave listed by the name
// server holds the message, SLAVE_NOT_AVAILABLE (11) at once without one,
// and FLUSH_SLAVE_TIMEOUT (12) when the slave stops confirming; the
// message is stored in every case.
func TestSyncMasterAnswers(t *testing.T) {
	ns := startNameServer(t, nil)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.BrokerRole = config.SyncMaster
	b := startBroker(t, cfg)
	b.repl.slaveTimeout = 300 * time.Millisecond

	// The name server lists a slave of this broker on 127.0.0.1.
	body, err := nameserver.EncodeRegisterBody(nil, nameserver.DataVersion{Timestamp: 1, Counter: 1})
	if err != nil {
		t.Fatal(err)
	}
	nc := testkit.NewClient(t, ns.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := nc.RC.Invoke(ctx, ns.Addr(), nameserver.RegisterRequest(cfg.BrokerName, "127.0.0.1:1", cfg.BrokerClusterName, 1, body))
	if err != nil || resp.Code != remoting.RespSuccess {
		t.Fatalf("register the slave: %v %v", resp, err)
	}

	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	send := func() int16 {
		return pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), []byte("hello")).Code
	}

	if code := send(); code != remoting.RespSlaveNotAvailable {
		t.Fatalf("no slave: code %d, want 11", code)
	}

	slaveStore := testkit.OpenStore(t, func(o *engine.Options) { o.SegmentSize = cfg.MappedFileSizeCommitLog })
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: b.repl.master.Load().Addr, Log: slaveStore, Logger: testLogger(t),
		Redial: 20 * time.Millisecond})
	s.Start()
	testkit.Eventually(t, 10*time.Second, func() bool { st := b.repl.master.Load().Slaves(); return len(st) == 1 && st[0].Trusted },
		"the slave to connect and be trusted")
	for i := range 20 {
		if code := send(); code != remoting.RespSuccess {
			t.Fatalf("send %d with a slave: code %d", i, code)
		}
		if got, want := slaveStore.MaxPhysOffset(), b.store.MaxPhysOffset(); got != want {
			t.Fatalf("SEND_OK with the slave at %d of %d", got, want)
		}
	}
	s.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return len(b.repl.master.Load().Slaves()) == 0 }, "the master to see the slave go")
	if code := send(); code != remoting.RespSlaveNotAvailable {
		t.Fatalf("slave gone: code %d, want 11", code)
	}

	// A slave that connects and then confirms nothing: 12 after slaveTimeout.
	c, err := net.Dial("tcp", b.repl.master.Load().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep [ha.ReportSize]byte
	ha.PutReport(&rep, b.store.MaxPhysOffset())
	if _, err := c.Write(rep[:]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { st := b.repl.master.Load().Slaves(); return len(st) == 1 && st[0].Trusted },
		"the silent slave to be trusted")
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
}
