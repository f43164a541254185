package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// registerFakeSlave makes ns list a slave of broker-a on 127.0.0.1, so
// the master trusts a peer on loopback.
func registerFakeSlave(t *testing.T, ns *nameserver.Server, cfg config.Config) {
	t.Helper()
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
}

// asyncSend sends one message to topic HA on another goroutine and
// delivers the reply code (-1 on a transport error).
func asyncSend(pc *testClient, body string) <-chan int16 {
	ch := make(chan int16, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := pc.c.Invoke(ctx, pc.addr, remoting.NewRequest(remoting.CodeSendMessage, testkit.SendHeader("HA", 0, ""), []byte(body)))
		if err != nil {
			ch <- -1
			return
		}
		ch <- resp.Code
	}()
	return ch
}

// TestWriteFence: with the fence up a master refuses sends and topic
// changes with 14 and appends nothing; a SYNC_MASTER send already waiting
// for its slave when the fence goes up is answered 14 even though the
// slave then confirms it; with the fence down sends are SEND_OK again.
func TestWriteFence(t *testing.T) {
	b, _ := startSyncMaster(t, 5*time.Second)
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)

	// A slave on the HA port that confirms only when told to.
	c, err := net.Dial("tcp", b.repl.master.Load().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	report := func(off int64) {
		t.Helper()
		var rep [ha.ReportSize]byte
		ha.PutReport(&rep, off)
		if _, err := c.Write(rep[:]); err != nil {
			t.Fatal(err)
		}
	}
	report(b.store.MaxPhysOffset())
	eventually(t, 5*time.Second, "the slave to be trusted", func() bool {
		st := b.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its first report
	})

	var up atomic.Bool
	b.SetWriteFence(up.Load)

	// Fence up: refused before anything is appended.
	up.Store(true)
	before := b.store.MaxPhysOffset()
	for _, code := range []int16{remoting.CodeSendMessage, remoting.CodeSendMessageV2} {
		ext := testkit.SendHeader("HA", 0, "")
		if code == remoting.CodeSendMessageV2 {
			ext = map[string]string{"a": "PG", "b": "HA", "c": "TBW102", "d": "4", "e": "0", "f": "0",
				"g": "0", "h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": "false"}
		}
		expectCode(t, pc.Call(code, ext, []byte("fenced")), remoting.RespServiceNotAvailable, "send while fenced")
	}
	expectCode(t, pc.Call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HB", "readQueueNums": "1",
		"writeQueueNums": "1", "perm": "6"}, nil), remoting.RespServiceNotAvailable, "topic creation while fenced")
	if got := b.store.MaxPhysOffset(); got != before {
		t.Fatalf("the fenced master appended: end %d, was %d", got, before)
	}
	if _, ok := b.topics.Get("HB"); ok {
		t.Fatal("the fenced master created a topic")
	}
	if rt := b.runtimeInfo(time.Now()); rt["writeFenced"] != "true" {
		t.Fatalf("runtime info writeFenced = %q", rt["writeFenced"])
	}

	// Fence down: a send waits for the slave; the fence goes up while it
	// waits; the slave confirms; the answer is 14, not SEND_OK.
	up.Store(false)
	got := asyncSend(pc, "waiting")
	eventually(t, 5*time.Second, "the send to be appended", func() bool { return b.store.MaxPhysOffset() > before })
	up.Store(true)
	report(b.store.MaxPhysOffset())
	select {
	case code := <-got:
		if code != remoting.RespServiceNotAvailable {
			t.Fatalf("a send confirmed by the slave after the fence went up: code %d, want 14", code)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("no answer to the waiting send")
	}

	// Fence down again: SEND_OK once the slave confirms.
	up.Store(false)
	before = b.store.MaxPhysOffset()
	got = asyncSend(pc, "after")
	eventually(t, 5*time.Second, "the send to be appended", func() bool { return b.store.MaxPhysOffset() > before })
	report(b.store.MaxPhysOffset())
	select {
	case code := <-got:
		if code != remoting.RespSuccess {
			t.Fatalf("send with the fence down: code %d, want SEND_OK", code)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("no answer to the send")
	}
	b.SetWriteFence(nil)
}

// TestRoleChangeRules: role changes need a started broker, refuse an
// older epoch and a conflicting change at the same epoch, and repeat as
// no-ops.
func TestRoleChangeRules(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := openBroker(t, cfg)
	if err := b.BecomeMaster(context.Background(), 1); err == nil {
		t.Fatal("BecomeMaster before Start succeeded")
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "RoleT", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	if err := b.BecomeSlave(context.Background(), b.Addr(), 1, 1); err == nil {
		t.Fatal("BecomeSlave of itself succeeded")
	}
	if err := b.BecomeSlave(context.Background(), "127.0.0.1:1", 0, 1); err == nil {
		t.Fatal("BecomeSlave with brokerId 0 succeeded")
	}
	if err := b.BecomeMaster(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := b.BecomeMaster(context.Background(), 3); err != nil {
		t.Fatalf("BecomeMaster again at the same epoch: %v", err)
	}
	if err := b.BecomeMaster(context.Background(), 2); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("BecomeMaster at an older epoch: %v, want ErrStaleEpoch", err)
	}
	if err := b.BecomeSlave(context.Background(), "127.0.0.1:1", 1, 3); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("BecomeSlave at the master's own epoch: %v, want ErrStaleEpoch", err)
	}
	if slave, id, epoch, _ := b.Role(); slave || id != 0 || epoch != 3 {
		t.Fatalf("role: slave %t id %d epoch %d", slave, id, epoch)
	}
	if err := b.BecomeSlave(context.Background(), "127.0.0.1:1", 2, 4); err != nil {
		t.Fatal(err)
	}
	if err := b.BecomeSlave(context.Background(), "127.0.0.1:1", 2, 4); err != nil {
		t.Fatalf("BecomeSlave again: %v", err)
	}
	if slave, id, epoch, master := b.Role(); !slave || id != 2 || epoch != 4 || master != "127.0.0.1:1" {
		t.Fatalf("role: slave %t id %d epoch %d master %s", slave, id, epoch, master)
	}
	expectCode(t, pc.Call(remoting.CodeSendMessage, testkit.SendHeader("RoleT", 0, ""), []byte("x")),
		remoting.RespServiceNotAvailable, "send to the demoted broker")
	if err := b.BecomeMaster(context.Background(), 4); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("BecomeMaster at the slave's own epoch: %v, want ErrStaleEpoch", err)
	}
	if err := b.BecomeMaster(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	pc.MustOK(remoting.CodeSendMessage, testkit.SendHeader("RoleT", 0, ""), []byte("y"))
	if rt := b.runtimeInfo(time.Now()); rt["brokerRole"] != config.AsyncMaster || rt["brokerId"] != "0" || rt["masterEpoch"] != "5" {
		t.Fatalf("runtime info: %v", rt)
	}
	b.Close()
	if err := b.BecomeMaster(context.Background(), 6); err == nil {
		t.Fatal("BecomeMaster after Close succeeded")
	}
}

// TestDemoteUnderLoad: senders keep a SYNC_MASTER busy while it is
// demoted and its slave promoted. Every send answered SEND_OK is on the
// new master; once BecomeSlave has returned, the old master answers every
// send 14 and appends none. (Raw clients, so it also runs under -race.)
func TestDemoteUnderLoad(t *testing.T) {
	const topic, senders = "Load", 4
	ns := startNameServer(t, nil)
	acfg := testConfig(t.TempDir())
	acfg.NamesrvAddr = ns.Addr()
	acfg.BrokerRole = config.SyncMaster
	a := startBroker(t, acfg)
	b, _ := startSlave(t, ns.Addr(), 100*time.Millisecond, func(c *config.Config) {
		c.MappedFileSizeCommitLog = acfg.MappedFileSizeCommitLog
	})
	newTestClient(t, a.Addr()).MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": topic,
		"readQueueNums": "4", "writeQueueNums": "4", "perm": "6"}, nil)
	eventually(t, 10*time.Second, "the slave to follow and be trusted", func() bool {
		st := a.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].LagBytes == 0
	})

	type result struct {
		body string
		code int16
		sent time.Time // when the request was sent
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		oks     atomic.Int64
		wg      sync.WaitGroup
	)
	for s := range senders {
		pc := newTestClient(t, a.Addr())
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && !stop.Load(); i++ {
				body := fmt.Sprintf("s%d-%d", s, i)
				sent := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := pc.c.Invoke(ctx, pc.addr, remoting.NewRequest(remoting.CodeSendMessage,
					testkit.SendHeader(topic, i%4, ""), []byte(body)))
				cancel()
				code := int16(-1)
				if err == nil {
					code = resp.Code
				}
				if code == remoting.RespSuccess {
					oks.Add(1)
				}
				mu.Lock()
				results = append(results, result{body, code, sent})
				mu.Unlock()
			}
		}()
	}
	eventually(t, 10*time.Second, "100 sends acknowledged", func() bool { return oks.Load() >= 100 })
	if err := a.BecomeSlave(context.Background(), b.Addr(), 1, 2); err != nil {
		t.Fatal(err)
	}
	demoted := time.Now()
	end := a.store.MaxPhysOffset()
	eventually(t, 10*time.Second, "sends after the demotion", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range results {
			if r.sent.After(demoted) {
				n++
			}
		}
		return n >= 20
	})
	stop.Store(true)
	wg.Wait()
	if got := a.store.MaxPhysOffset(); got != end {
		t.Fatalf("the demoted master appended: end %d, %d at demotion", got, end)
	}
	if err := b.BecomeMaster(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	stored := storedBodies(t, b, topic, 4)
	acked, after := 0, 0
	for _, r := range results {
		if r.sent.After(demoted) {
			after++
			if r.code != remoting.RespServiceNotAvailable {
				t.Fatalf("send %s sent after the demotion: code %d, want 14", r.body, r.code)
			}
		}
		if r.code == remoting.RespSuccess {
			acked++
			if stored[r.body] == 0 {
				t.Fatalf("acknowledged send %s is not on the new master", r.body)
			}
		}
	}
	t.Logf("%d sends acknowledged before the demotion, all on the new master; %d after it refused", acked, after)
}

// TestDemotionWaitsForAppends: a demotion waits for the appends under way
// before it follows another master; one whose context ends first is undone
// and the broker stays master.
func TestDemotionWaitsForAppends(t *testing.T) {
	b := startBroker(t, testConfig(t.TempDir()))
	pc := newTestClient(t, b.Addr())
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "RoleT", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)

	// An append under way outlasts the demotion's context: undone.
	if !b.appends.enter() {
		t.Fatal("the master's append gate is shut")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := b.BecomeSlave(ctx, "127.0.0.1:1", 1, 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("demotion with an append under way: %v, want the context's deadline", err)
	}
	if slave, _, epoch, _ := b.Role(); slave || epoch != 0 {
		t.Fatalf("after the abandoned demotion: slave %t epoch %d", slave, epoch)
	}
	b.appends.leave()
	pc.Send("RoleT", 0, "", "still master")

	// An append under way that ends: the demotion waits for it.
	if !b.appends.enter() {
		t.Fatal("the append gate stayed shut after the abandoned demotion")
	}
	done := make(chan error, 1)
	go func() { done <- b.BecomeSlave(context.Background(), "127.0.0.1:1", 1, 1) }()
	testkit.Never(t, 200*time.Millisecond, func() bool { return len(done) > 0 }, "demotion returned with an append under way")
	b.appends.leave()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demotion still waiting after the append ended")
	}
	expectCode(t, pc.Call(remoting.CodeSendMessage, testkit.SendHeader("RoleT", 0, ""), []byte("x")),
		remoting.RespServiceNotAvailable, "send after the demotion")
}

// TestPendingRole: a broker started with no role (controller mode)
// refuses sends, follows nobody and is not registered, whatever its file
// says; BecomeMaster registers it as brokerId 0 with stateVersion = epoch
// and it takes sends.
func TestPendingRole(t *testing.T) {
	ns := startNameServer(t, nil)
	nsc := newTestClient(t, ns.Addr())
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	_, haPort, _ := net.SplitHostPort(testkit.FreePort(t))
	cfg.HAListenPort, _ = strconv.Atoi(haPort) // bound only once it is master
	b := startBroker(t, cfg, WithPendingRole())
	pc := newTestClient(t, b.Addr())
	expectCode(t, pc.Call(remoting.CodeSendMessage, testkit.SendHeader("TBW102x", 0, ""), []byte("x")),
		remoting.RespServiceNotAvailable, "send to a broker with no role")
	if b.repl.master.Load() != nil || b.repl.slave.Load() != nil {
		t.Fatal("a broker with no role replicates")
	}
	if rt := b.runtimeInfo(time.Now()); rt["brokerRole"] != rolePending || rt["brokerId"] != "-1" {
		t.Fatalf("runtime info: %v", rt)
	}
	b.reg.registerWithin(5 * time.Second)
	registered := func() map[int64]string {
		resp := nsc.call(remoting.CodeGetBrokerClusterInfo, nil, nil)
		var ci struct {
			BrokerAddrTable map[string]struct {
				BrokerAddrs map[int64]string `json:"brokerAddrs"`
			} `json:"brokerAddrTable"`
		}
		if err := json.Unmarshal(resp.Body, &ci); err != nil {
			t.Fatal(err)
		}
		return ci.BrokerAddrTable[cfg.BrokerName].BrokerAddrs
	}
	if got := registered(); len(got) != 0 {
		t.Fatalf("a broker with no role is registered: %v", got)
	}
	if err := b.BecomeMaster(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if got := registered(); len(got) != 1 || got[0] != b.Addr() {
		t.Fatalf("registered after BecomeMaster: %v", got)
	}
	if got := b.repl.master.Load().Addr(); got != net.JoinHostPort("127.0.0.1", haPort) {
		t.Fatalf("HA port %s, want the configured %s", got, haPort)
	}
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "RoleT", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	// Master as RocketMQ 5 makes it: SYNC_MASTER (a send that does not
	// wait for a slave is SEND_OK).
	if rt := b.runtimeInfo(time.Now()); rt["brokerRole"] != config.SyncMaster || rt["brokerId"] != "0" || rt["masterEpoch"] != "1" {
		t.Fatalf("runtime info after BecomeMaster: %v", rt)
	}
	pc.Send("RoleT", 0, props("WAIT", "false"), "as master")

	// enableControllerMode implies it, whatever brokerRole says.
	ccfg := testConfig(t.TempDir())
	ccfg.EnableControllerMode, ccfg.ControllerAddr = true, "127.0.0.1:1"
	cb := openBroker(t, ccfg)
	defer cb.Close()
	if r := cb.role(); !r.pending || !r.slave {
		t.Fatalf("a controller-mode broker starts with role %+v", *r)
	}
}

// TestPromoteHook: BecomeMaster runs the promote hook after replication
// has stopped; a hook error aborts the promotion and the broker follows
// its master again.
func TestPromoteHook(t *testing.T) {
	ns := startNameServer(t, nil)
	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr = ns.Addr()
	master := startBroker(t, mcfg)
	slave, _ := startSlave(t, ns.Addr(), 100*time.Millisecond, nil)
	eventually(t, 10*time.Second, "the slave to follow", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its first report
	})
	var calls []int32
	var following []bool
	fail := errors.New("truncation failed")
	slave.SetPromoteHook(func(epoch int32) error {
		calls = append(calls, epoch)
		following = append(following, slave.repl.slave.Load() != nil)
		if len(calls) == 1 {
			return fail
		}
		return nil
	})
	if err := slave.BecomeMaster(context.Background(), 2); !errors.Is(err, fail) {
		t.Fatalf("promotion with a failing hook: %v", err)
	}
	if s, _, _, _ := slave.Role(); !s {
		t.Fatal("a failed promotion left the broker master")
	}
	eventually(t, 10*time.Second, "the slave to follow again", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its first report
	})
	if err := slave.BecomeMaster(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0] != 2 || calls[1] != 2 || following[0] || following[1] {
		t.Fatalf("hook calls %v, replication running during them %v", calls, following)
	}
	if s, id, epoch, _ := slave.Role(); s || id != 0 || epoch != 2 {
		t.Fatalf("after promotion: slave %t id %d epoch %d", s, id, epoch)
	}
}
