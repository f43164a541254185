package broker

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// masterChanges records OnMasterChange calls.
type masterChanges struct {
	mu  sync.Mutex
	got [][2]string
}

func (m *masterChanges) add(addr, ha string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, [2]string{addr, ha})
}

func (m *masterChanges) last() ([2]string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.got) == 0 {
		return [2]string{}, 0
	}
	return m.got[len(m.got)-1], len(m.got)
}

// startSlave starts a slave (brokerId 1) of broker-a registered with
// namesrv, whose registrar polls every period (the configuration clamps
// it to 10 s and more), reporting master changes to the returned record.
func startSlave(t *testing.T, namesrv string, period time.Duration, mut func(*config.Config)) (*Broker, *masterChanges) {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr, cfg.BrokerRole, cfg.BrokerID = namesrv, config.Slave, 1
	if mut != nil {
		mut(&cfg)
	}
	s := openBroker(t, cfg)
	s.reg.period = period
	ch := &masterChanges{}
	s.OnMasterChange(ch.add)
	if err := s.Start(); err != nil {
		s.Close()
		t.Fatalf("start slave: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close slave: %v", err)
		}
	})
	return s, ch
}

// replicate stands in for the HA client: it appends n messages to the
// slave's store directly, as replication will, and waits for dispatch.
func replicate(t *testing.T, s *Broker, topic string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.store.Put(&msg.Message{Topic: topic, Body: []byte("replicated-" + strconv.Itoa(i)),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555"), StoreHost: s.storeHost}); err != nil {
			t.Fatal(err)
		}
	}
	waitDispatched(t, s)
}

func routeAddrs(t *testing.T, ns *testClient, topic string) (map[string]string, int) {
	t.Helper()
	resp := ns.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil)
	if resp.Code != remoting.RespSuccess {
		return nil, 0
	}
	var rd struct {
		BrokerDatas []struct {
			BrokerAddrs map[string]string `json:"brokerAddrs"`
		} `json:"brokerDatas"`
		QueueDatas []json.RawMessage `json:"queueDatas"`
	}
	if err := json.Unmarshal(resp.Body, &rd); err != nil || len(rd.BrokerDatas) != 1 {
		t.Fatalf("route of %s: %s (%v)", topic, resp.Body, err)
	}
	return rd.BrokerDatas[0].BrokerAddrs, len(rd.QueueDatas)
}

// TestSlaveBesideMaster: a master and its slave registered with one name
// server. The route lists both; the slave learns its master from the
// REGISTER_BROKER replies; it refuses every append and master-owned admin
// write with 14 and stores nothing; it stores offset commits (15) but
// not the commit flags of pulls; when the master goes, the route keeps
// the slave and the queues, the slave learns it, and the official Go
// producer does not send to the slave.
func TestSlaveBesideMaster(t *testing.T) {
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	ns := startNameServer(t, nil)
	nsc := newTestClient(t, ns.Addr())
	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr = ns.Addr()
	_, haPort, _ := net.SplitHostPort(testkit.FreePort(t))
	mcfg.HAListenPort, _ = strconv.Atoi(haPort) // an explicit haListenPort
	master := startBroker(t, mcfg)
	newTestClient(t, master.Addr()).send("HaT", 0, "", "on the master")
	slave, changes := startSlave(t, ns.Addr(), 50*time.Millisecond, nil)

	// Route: {0: master, 1: slave}, the master's queues.
	eventually(t, 10*time.Second, "route {0: master, 1: slave}", func() bool {
		addrs, _ := routeAddrs(t, nsc, "HaT")
		return len(addrs) == 2 && addrs["0"] == master.Addr() && addrs["1"] == slave.Addr()
	})
	eventually(t, 10*time.Second, "slave learns its master", func() bool {
		a, h := slave.MasterAddrs()
		return a == master.Addr() && h == master.HAServerAddr()
	})
	if got, _ := changes.last(); got != [2]string{master.Addr(), master.HAServerAddr()} {
		t.Fatalf("OnMasterChange got %v", got)
	}
	slavePort, _ := strconv.Atoi(slave.Addr()[strings.LastIndexByte(slave.Addr(), ':')+1:])
	if master.HAServerAddr() != "127.0.0.1:"+haPort || slave.HAServerAddr() != "127.0.0.1:"+strconv.Itoa(slavePort+1) {
		t.Fatalf("HA addresses master %s slave %s", master.HAServerAddr(), slave.HAServerAddr())
	}

	// Replication and SlaveSynchronize bring the master's message and topic.
	eventually(t, 10*time.Second, "the slave to hold the master's log and topic", func() bool {
		_, ok := slave.topics.Get("HaT")
		return ok && slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})

	// Appends and master-owned admin writes: 14, nothing stored.
	sc := newTestClient(t, slave.Addr())
	topicsBefore, _ := slave.topics.Snapshot()
	for _, code := range []int16{remoting.CodeSendMessage, remoting.CodeSendMessageV2, remoting.CodeSendBatchMessage,
		remoting.CodeConsumerSendMsgBack, remoting.CodeEndTransaction, remoting.CodeSendReplyMessage, remoting.CodeSendReplyMessageV2,
		remoting.CodeUpdateAndCreateTopic, remoting.CodeDeleteTopicInBroker, remoting.CodeInvokeBrokerToResetOffset} {
		ext := sendExt("SlaveT", 0, "")
		ext["topic"], ext["group"], ext["timestamp"], ext["readQueueNums"], ext["writeQueueNums"] = "SlaveT", "G", "-1", "4", "4"
		resp := sc.call(code, ext, []byte("x"))
		if resp.Code != remoting.RespServiceNotAvailable || !strings.Contains(resp.Remark, "is a slave") {
			t.Errorf("code %d on the slave: %d %q, want 14 saying it is a slave", code, resp.Code, resp.Remark)
		}
	}
	if end, want := slave.store.MaxPhysOffset(), master.store.MaxPhysOffset(); end != want {
		t.Fatalf("the slave's log ends at %d, its master's at %d: it appended bytes of its own", end, want)
	}
	if _, ok := slave.topics.Get("SlaveT"); ok || len(func() map[string]body.TopicConfig { m, _ := slave.topics.Snapshot(); return m }()) != len(topicsBefore) {
		t.Fatal("a refused request created a topic on the slave")
	}
	// A consumer heartbeat creates no retry topic on the slave.
	hb := `{"clientID":"c1","consumerDataSet":[{"groupName":"SlaveG","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING",` +
		`"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[],"unitMode":false}],"producerDataSet":[]}`
	expectCode(t, sc.call(remoting.CodeHeartBeat, nil, []byte(hb)), remoting.RespSuccess, "heartbeat on the slave")
	if _, ok := slave.topics.Get("%RETRY%SlaveG"); ok {
		t.Fatal("a heartbeat created a retry topic on the slave")
	}

	// Offsets: 15 is stored, a pull's commit flag is not.
	mc := newTestClient(t, master.Addr())
	mc.send("HaT", 0, "", "second")
	mc.send("HaT", 0, "", "third")
	eventually(t, 10*time.Second, "the slave to copy the new messages", func() bool {
		return slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})
	if err := slave.store.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	expectCode(t, sc.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "SlaveG", "topic": "HaT",
		"queueId": "0", "commitOffset": "2"}, nil), remoting.RespSuccess, "UPDATE_CONSUMER_OFFSET on the slave")
	if off, ok, err := slave.store.ConsumerOffset("SlaveG", "HaT", 0); err != nil || !ok || off != 2 {
		t.Fatalf("slave offset after 15: %d %v %v, want 2", off, ok, err)
	}
	ext := pullExt("SlaveG", "HaT", 0, 0, pullCommitOffset, 0)
	ext["commitOffset"] = "3"
	resp := sc.call(remoting.CodePullMessage, ext, nil)
	expectCode(t, resp, remoting.RespSuccess, "pull from the slave")
	if n := len(decodeAll(t, resp.Body)); n != 3 || extInt(t, resp, "suggestWhichBrokerId") != 0 {
		t.Fatalf("slave pull: %d messages, suggest %s", n, resp.ExtFields["suggestWhichBrokerId"])
	}
	if off, _, _ := slave.store.ConsumerOffset("SlaveG", "HaT", 0); off != 2 {
		t.Fatalf("a pull's commit flag moved the slave's offset to %d", off)
	}

	// The master goes: the route keeps the slave and the queues, and the
	// slave learns it has no master.
	seen := func() int { _, n := changes.last(); return n }()
	master.Close()
	eventually(t, 10*time.Second, "route {1: slave} with queues", func() bool {
		addrs, queues := routeAddrs(t, nsc, "HaT")
		return len(addrs) == 1 && addrs["1"] == slave.Addr() && queues == 1
	})
	eventually(t, 10*time.Second, "slave learns the master is gone", func() bool {
		a, h := slave.MasterAddrs()
		got, n := changes.last()
		return a == "" && h == "" && n > seen && got == [2]string{}
	})

	// The official producer finds no master to send to and does not fall
	// back to the slave.
	end := slave.store.MaxPhysOffset()
	p := (&cluster{ns: ns}).producer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := p.SendSync(ctx, primitive.NewMessage("HaT", []byte("to nobody"))); err == nil {
		t.Fatalf("send with no master succeeded: %v", res)
	}
	if got := slave.store.MaxPhysOffset(); got != end {
		t.Fatalf("the slave's CommitLog grew from %d to %d after the producer's try", end, got)
	}
}

// TestSuggestWhichBrokerID: suggestWhichBrokerId and offset correction as
// RocketMQ's PullMessageProcessor sets them (HA.md §4.1), for a group
// whose brokerId is 2 and whichBrokerWhenConsumeSlowly 3, on a master and
// on a slave, with slaveReadEnable off and on, and a consumer near the
// end or far behind (the bound lowered to 0 bytes, so pulling the first
// of three messages is far behind).
func TestSuggestWhichBrokerID(t *testing.T) {
	gc := meta.NewGroupConfig("SG")
	gc.BrokerID, gc.WhichBrokerWhenConsumeSlowly = 2, 3
	doc, err := json.Marshal(gc)
	if err != nil {
		t.Fatal(err)
	}
	start := func(slave, readEnable, far bool) *Broker {
		cfg := testConfig(t.TempDir())
		if slave {
			cfg.BrokerRole, cfg.BrokerID = config.Slave, 1
		}
		cfg.SlaveReadEnable = readEnable
		b := openBroker(t, cfg)
		if err := b.store.PutGroupConfig("SG", doc); err != nil {
			t.Fatal(err)
		}
		if b.groups, err = meta.OpenGroups(b.store, b.log); err != nil {
			t.Fatal(err)
		}
		if err := b.topics.Ensure(meta.NewTopicConfig("ST", 2, body.PermRead|body.PermWrite)); err != nil {
			t.Fatal(err)
		}
		if far {
			b.farBehind = 0
		}
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		replicate(t, b, "ST", 3)
		return b
	}
	for _, c := range []struct {
		name                   string
		slave, readEnable, far bool
		want                   int64
	}{
		{"master", false, false, false, 0},
		{"master far", false, false, true, 0},
		{"master slaveReadEnable", false, true, false, 2},
		{"master slaveReadEnable far", false, true, true, 3},
		{"slave", true, false, false, 0},
		{"slave far", true, false, true, 0},
		{"slave slaveReadEnable", true, true, false, 2},
		{"slave slaveReadEnable far", true, true, true, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := start(c.slave, c.readEnable, c.far)
			bc := newTestClient(t, b.Addr())
			resp := bc.call(remoting.CodePullMessage, pullExt("SG", "ST", 0, 0, 0, 0), nil)
			expectCode(t, resp, remoting.RespSuccess, "pull")
			if got := extInt(t, resp, "suggestWhichBrokerId"); got != c.want {
				t.Fatalf("suggestWhichBrokerId %d, want %d", got, c.want)
			}
			// Past the end (OFFSET_OVERFLOW_BADLY): a master moves the
			// consumer (21, next at its end); a slave never does (20, next
			// where it asked, back to the group's broker).
			resp = bc.call(remoting.CodePullMessage, pullExt("SG", "ST", 0, 100, 0, 0), nil)
			next, suggest := extInt(t, resp, "nextBeginOffset"), extInt(t, resp, "suggestWhichBrokerId")
			switch {
			case c.slave && (resp.Code != remoting.RespPullRetryImmediately || next != 100 || suggest != 2):
				t.Fatalf("slave pull past the end: code %d next %d suggest %d, want 20, 100, 2", resp.Code, next, suggest)
			case !c.slave && (resp.Code != remoting.RespPullOffsetMoved || next != 3):
				t.Fatalf("master pull past the end: code %d next %d, want 21, 3", resp.Code, next)
			}
			// Offset 5 of queue 1, never written (NO_MATCHED_LOGIC_QUEUE):
			// a master moves the consumer to 0, a slave keeps 5.
			resp = bc.call(remoting.CodePullMessage, pullExt("SG", "ST", 1, 5, 0, 0), nil)
			next = extInt(t, resp, "nextBeginOffset")
			switch {
			case c.slave && (resp.Code != remoting.RespPullRetryImmediately || next != 5):
				t.Fatalf("slave pull of an empty queue: code %d next %d, want 20, 5", resp.Code, next)
			case !c.slave && (resp.Code != remoting.RespPullOffsetMoved || next != 0):
				t.Fatalf("master pull of an empty queue: code %d next %d, want 21, 0", resp.Code, next)
			}
		})
	}
}

// TestSlaveDeliversNoDelayedMessages: a due delay-level message in the
// CommitLog is delivered (appended again under its real topic) by a
// master's schedule service, never by a slave's, which must append
// nothing of its own.
func TestSlaveDeliversNoDelayedMessages(t *testing.T) {
	for _, slave := range []bool{false, true} {
		cfg := testConfig(t.TempDir())
		cfg.MessageDelayLevel = "10ms 20ms"
		if slave {
			cfg.BrokerRole, cfg.BrokerID = config.Slave, 1
		}
		b := startBroker(t, cfg)
		m := msg.Message{Topic: "DelayT", Body: []byte("due"), Properties: props("DELAY", "1"),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555"), StoreHost: b.storeHost}
		if err := b.sched.Route(&m); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Put(&m); err != nil { // as replicated from the master
			t.Fatal(err)
		}
		end := b.store.MaxPhysOffset()
		grew := func() bool { return b.store.MaxPhysOffset() > end }
		if slave {
			testkit.Never(t, 500*time.Millisecond, grew, "the slave delivered a delayed message")
		} else {
			eventually(t, 5*time.Second, "the master delivers the delayed message", grew)
		}
	}
}

// TestMasterReplies: what a round of REGISTER_BROKER replies from several
// name servers says of the master.
func TestMasterReplies(t *testing.T) {
	order := []string{"ns1", "ns2", "ns3"}
	var m masterReplies
	if _, ok := m.pick(order, ""); ok {
		t.Fatal("a round with no answer decided something")
	}
	m.add("ns1", masterReply{}, nil)
	m.add("ns2", masterReply{addr: "m:1", ha: "m:2"}, nil)
	m.add("ns3", masterReply{addr: "x:1", ha: "x:2"}, nil)
	if r, ok := m.pick(order, ""); !ok || r != (masterReply{"m:1", "m:2"}) {
		t.Fatalf("pick %v %v: want the first name server naming a master", r, ok)
	}
	var gone masterReplies
	gone.add("ns1", masterReply{}, nil)
	gone.add("ns2", masterReply{addr: "m:1"}, errors.New("timeout")) // failed calls say nothing
	if r, ok := gone.pick(order, ""); !ok || r != (masterReply{}) {
		t.Fatalf("pick %v %v: want no master", r, ok)
	}
}
