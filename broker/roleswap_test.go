package broker

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

var swapPollFlag = flag.Bool("roleswap-poll", false,
	"TestRoleSwapAtRunTime also waits (up to 45 s) for a producer started before the swap to find the new master on its 30 s route poll")

// storedBodies reads every message of topic's queues 0..queues-1 from b's
// store, dispatched, and counts them by body.
func storedBodies(t *testing.T, b *Broker, topic string, queues int32) map[string]int {
	t.Helper()
	waitDispatched(t, b)
	out := map[string]int{}
	for q := range queues {
		off := int64(0)
		for range 10000 {
			res, err := b.store.Get(topic, q, off, 32, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Count == 0 {
				break
			}
			for _, r := range decodeAll(t, res.Data) {
				out[string(r.Body)]++
			}
			off = res.NextOffset
		}
	}
	return out
}

// routeIDs returns the brokerAddrs of topic's only broker name, as the
// name server at ns routes them.
func routeIDs(t *testing.T, ns *testClient, topic string) map[string]string {
	t.Helper()
	resp := ns.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	if resp.Code != remoting.RespSuccess {
		return nil
	}
	var rd struct {
		BrokerDatas []struct {
			BrokerAddrs map[string]string `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(resp.Body, &rd); err != nil || len(rd.BrokerDatas) != 1 {
		t.Fatalf("route of %s: %s (%v)", topic, resp.Body, err)
	}
	return rd.BrokerDatas[0].BrokerAddrs
}

// goSend sends n messages prefix-from..prefix-(from+n-1) with p and
// returns the bodies answered SEND_OK; any other outcome fails the test.
func goSend(t *testing.T, p rocketmqProducer, topic, prefix string, from, n int, acked map[string]int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		body := fmt.Sprintf("%s-%d", prefix, i)
		res, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
		if res.Status != primitive.SendOK {
			t.Fatalf("send %s: status %d", body, res.Status)
		}
		acked[body]++
	}
}

// TestRoleSwapAtRunTime: a SYNC_MASTER and its slave, registered with a
// name server, swap roles while running. The old master's writes stop
// (fence), the slave catches up and becomes master at epoch 2, the old
// master becomes its slave (brokerId 1) and refuses sends with 14 from
// the moment it is demoted. The name server routes brokerId 0 to the new
// master, on both name servers, and ignores the old master's stale claim
// to it; a producer of the official Go client that fetches the route
// afresh (the 30 s route poll of a running one, shortened) sends SEND_OK
// through it, replicated to the old master. Every acknowledged message is
// readable on both brokers. Then they swap back at epoch 3 (the HA port
// opens again on the first broker, the services restart), and a send to
// it is replicated to the second.
func TestRoleSwapAtRunTime(t *testing.T) {
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	const topic, queues = "Swap", 2
	ns, ns2 := startNameServer(t, nil), startNameServer(t, nil)
	nsc, nsc2 := newTestClient(t, ns.Addr()), newTestClient(t, ns2.Addr())
	namesrv := ns.Addr() + ";" + ns2.Addr()
	acfg := testConfig(t.TempDir())
	acfg.NamesrvAddr = namesrv
	acfg.BrokerRole = config.SyncMaster
	a := openBroker(t, acfg)
	a.reg.period = 200 * time.Millisecond
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b, _ := startSlave(t, namesrv, 200*time.Millisecond, func(c *config.Config) {
		c.MappedFileSizeCommitLog = acfg.MappedFileSizeCommitLog
	})
	cl := &cluster{ns: ns, cfg: acfg, b: a}
	cl.createTopic(t, topic, queues)
	eventually(t, 10*time.Second, "the slave to follow and be trusted", func() bool {
		st := a.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].LagBytes == 0
	})

	acked := map[string]int{}
	p1 := cl.producer(t, producer.WithInstanceName("before"))
	goSend(t, p1, topic, "before", 0, 40, acked)
	eventually(t, 10*time.Second, "the slave to sync the topic", func() bool { _, ok := b.topics.Get(topic); return ok })

	// The switch, as a controller drives it: stop the old master's
	// writes, let the slave catch up, promote it, demote the old master.
	a.SetWriteFence(func() bool { return true })
	eventually(t, 10*time.Second, "the slave to hold the whole log", func() bool {
		return b.store.MaxPhysOffset() == a.store.MaxPhysOffset()
	})
	if err := b.BecomeMaster(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	// The old master, not yet told, registers as brokerId 0 again (its
	// stateVersion is 0): every name server keeps the epoch-2 master.
	a.reg.roleChanged(context.Background())
	for _, c := range []*testClient{nsc, nsc2} {
		if ids := routeIDs(t, c, topic); ids["0"] != b.Addr() {
			t.Fatalf("route after the old master's stale claim: %v, want 0 = %s", ids, b.Addr())
		}
	}
	if err := a.BecomeSlave(context.Background(), b.Addr(), 1, 2); err != nil {
		t.Fatal(err)
	}
	a.SetWriteFence(nil) // the role alone refuses now
	ac := newTestClient(t, a.Addr())
	end := a.store.MaxPhysOffset()
	expectCode(t, ac.Call(remoting.CodeSendMessage, testkit.SendHeader(topic, 0, ""), []byte("to the demoted")),
		remoting.RespServiceNotAvailable, "send to the demoted master")
	if got := a.store.MaxPhysOffset(); got != end {
		t.Fatalf("the demoted master appended a send: end %d, was %d", got, end)
	}
	// BecomeMaster and BecomeSlave return once registered with every
	// name server.
	for _, c := range []*testClient{nsc, nsc2} {
		if ids := routeIDs(t, c, topic); ids["0"] != b.Addr() || ids["1"] != a.Addr() || len(ids) != 2 {
			t.Fatalf("route after the swap: %v, want {0: %s, 1: %s}", ids, b.Addr(), a.Addr())
		}
	}
	eventually(t, 10*time.Second, "the old master to follow the new one", func() bool {
		st := b.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].LagBytes == 0
	})

	p2 := cl.producer(t, producer.WithInstanceName("after"))
	goSend(t, p2, topic, "after", 0, 40, acked)
	if *swapPollFlag {
		// The producer from before the swap still sends to the old
		// master, which refuses (14, retried on the same broker name: the
		// only one); its route poll (every 30 s) moves it to the new one.
		start, tick := time.Now(), time.NewTicker(200*time.Millisecond)
		ok := 0
		for i := 0; ok < 5 && time.Since(start) < 45*time.Second; i++ {
			<-tick.C
			body := fmt.Sprintf("poll-%d", i)
			if res, err := p1.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(body))); err == nil && res.Status == primitive.SendOK {
				acked[body]++
				ok++
			}
		}
		tick.Stop()
		if ok < 5 {
			t.Fatalf("the producer from before the swap got %d SEND_OK within 45 s", ok)
		}
		t.Logf("the producer from before the swap sends through the new master again after %v", time.Since(start).Round(time.Second))
	}
	// Every SEND_OK is already on the slave (SYNC_MASTER), dispatched soon.
	for name, br := range map[string]*Broker{"new master": b, "old master": a} {
		got := storedBodies(t, br, topic, queues)
		for body := range acked {
			if got[body] == 0 {
				t.Fatalf("%s lacks acknowledged message %s (%d of %d stored)", name, body, len(got), len(acked))
			}
		}
	}
	mt, at := b.runtimeInfo(time.Now()), a.runtimeInfo(time.Now())
	if mt["brokerRole"] != config.SyncMaster || mt["brokerId"] != "0" || mt["masterEpoch"] != "2" ||
		at["brokerRole"] != config.Slave || at["brokerId"] != "1" || at["masterAddr"] != b.Addr() {
		t.Fatalf("runtime info: new master %v, old master %v", mt, at)
	}

	// And back, at epoch 3.
	eventually(t, 10*time.Second, "the first broker to hold the whole log", func() bool {
		return a.store.MaxPhysOffset() == b.store.MaxPhysOffset()
	})
	if err := a.BecomeMaster(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if err := b.BecomeSlave(context.Background(), a.Addr(), 1, 3); err != nil {
		t.Fatal(err)
	}
	bc := newTestClient(t, b.Addr())
	expectCode(t, bc.Call(remoting.CodeSendMessage, testkit.SendHeader(topic, 1, ""), []byte("to the demoted")),
		remoting.RespServiceNotAvailable, "send to the second demoted broker")
	for _, c := range []*testClient{nsc, nsc2} {
		if ids := routeIDs(t, c, topic); ids["0"] != a.Addr() || ids["1"] != b.Addr() {
			t.Fatalf("route after swapping back: %v", ids)
		}
	}
	eventually(t, 10*time.Second, "the second broker to follow the first", func() bool {
		st := a.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its first report
	})
	for i := range 5 {
		body := "back-" + strconv.Itoa(i)
		resp := ac.Call(remoting.CodeSendMessage, testkit.SendHeader(topic, i%queues, ""), []byte(body))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("send %s to the master again: code %d %s", body, resp.Code, resp.Remark)
		}
		acked[body]++
	}
	got := storedBodies(t, b, topic, queues)
	for body := range acked {
		if got[body] == 0 {
			t.Fatalf("the second broker lacks acknowledged message %s", body)
		}
	}
}
