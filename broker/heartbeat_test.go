package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

func heartbeatBody(clientID, group string, subVersion int64, topics ...string) []byte {
	subs := ""
	for i, tp := range topics {
		if i > 0 {
			subs += ","
		}
		subs += fmt.Sprintf(`{"classFilterMode":false,"topic":%q,"subString":"*","tagsSet":[],"codeSet":[],"subVersion":%d,"expressionType":"TAG"}`, tp, subVersion)
	}
	return fmt.Appendf(nil, `{"clientID":%q,"producerDataSet":[{"groupName":"PG"}],"consumerDataSet":[{"groupName":%q,
"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","unitMode":false,
"subscriptionDataSet":[%s]}]}`, clientID, group, subs)
}

// notifyCounter counts NOTIFY_CONSUMER_IDS_CHANGED received by a client.
func notifyCounter(c *testClient) *atomic.Int32 {
	var n atomic.Int32
	c.c.Handle(remoting.CodeNotifyConsumerIDsChanged, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		if req.IsOneway() && req.ExtFields["consumerGroup"] == "G" {
			n.Add(1)
		}
		return nil
	})
	return &n
}

func consumerList(t *testing.T, c *testClient, group string) []string {
	resp := c.call(remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": group}, nil)
	var body struct {
		ConsumerIDList []string `json:"consumerIdList"`
	}
	if resp.Code == remoting.RespSuccess {
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			t.Fatal(err)
		}
	}
	return body.ConsumerIDList
}

func TestHeartbeatConsumersAndNotify(t *testing.T) {
	b := startBroker(t, config.Config{})
	c1, c2 := newTestClient(t, b.Addr()), newTestClient(t, b.Addr())
	n1, n2 := notifyCounter(c1), notifyCounter(c2)

	expectCode(t, c1.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.1@1", "G", 1, "T", "%RETRY%G")), remoting.RespSuccess, "hb1")
	if tc, ok := b.topics.Get("%RETRY%G"); !ok || tc.WriteQueueNums != 1 || tc.Perm != 6 {
		t.Fatalf("retry topic %+v %v", tc, ok)
	}
	if _, ok := b.groups.Get("G"); !ok {
		t.Fatal("group config not created")
	}
	eventually(t, 5*time.Second, "notify on join", func() bool { return n1.Load() == 1 })
	// The same heartbeat again changes nothing: no notification (trap T18).
	c1.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.1@1", "G", 1, "T", "%RETRY%G"))
	expectCode(t, c2.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.2@2", "G", 1, "T", "%RETRY%G")), remoting.RespSuccess, "hb2")
	eventually(t, 5*time.Second, "both notified of the second member", func() bool { return n1.Load() == 2 && n2.Load() == 1 })
	if ids := consumerList(t, c1, "G"); !slices.Equal(ids, []string{"10.0.0.1@1", "10.0.0.2@2"}) {
		t.Fatalf("consumer list %q", ids)
	}
	// A higher subVersion notifies; a lower one does not.
	c1.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.1@1", "G", 5, "T", "%RETRY%G"))
	eventually(t, 5*time.Second, "notify on subVersion", func() bool { return n1.Load() == 3 && n2.Load() == 2 })
	c2.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.2@2", "G", 2, "T", "%RETRY%G"))
	// Nothing to wait for: watch for a notification that must not come.
	testkit.Never(t, 100*time.Millisecond, func() bool { return n1.Load() != 3 }, "a notification for an older subVersion")
	if n1.Load() != 3 {
		t.Fatalf("a notification for an older subVersion")
	}
	// Closing a connection removes its client at once and tells the rest.
	c2.c.Close()
	eventually(t, 5*time.Second, "member removed on close", func() bool {
		return slices.Equal(consumerList(t, c1, "G"), []string{"10.0.0.1@1"}) && n1.Load() == 4
	})
	// UNREGISTER_CLIENT removes it too.
	c1.call(remoting.CodeUnregisterClient, map[string]string{"clientID": "10.0.0.1@1", "consumerGroup": "G"}, nil)
	if resp := c1.call(remoting.CodeGetConsumerListByGroup, map[string]string{"consumerGroup": "G"}, nil); resp.Code != remoting.RespSystemError {
		t.Fatalf("empty group: code %d", resp.Code)
	}
}

func TestClientExpiry(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := openBroker(t, cfg)
	b.clientExpiry, b.scanInterval = 300*time.Millisecond, 50*time.Millisecond
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := newTestClient(t, b.Addr())
	c.call(remoting.CodeHeartBeat, nil, heartbeatBody("10.0.0.1@1", "G", 1, "T"))
	if len(consumerList(t, c, "G")) != 1 {
		t.Fatal("not registered")
	}
	eventually(t, 5*time.Second, "client expired", func() bool { return len(b.clients.ConsumerIDs("G")) == 0 })
}

func TestHeartbeatBadBody(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	for _, body := range []string{"", "{", `{"clientID":5}`, `{"consumerDataSet":[{"groupName":"G"}]}`, `[1,2]`} {
		resp := c.call(remoting.CodeHeartBeat, nil, []byte(body))
		if resp.Code != remoting.RespSystemError || resp.Remark == "" {
			t.Errorf("body %q: code %d remark %q", body, resp.Code, resp.Remark)
		}
	}
}

func TestLockBatch(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	// The locks' clock runs aged ahead of time.Now (expiry below).
	var aged atomic.Int64
	b.locks = client.NewLocks(client.LockMaxLive, func() time.Time { return time.Now().Add(time.Duration(aged.Load())) })
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := newTestClient(t, b.Addr())
	lock := func(code int16, client string, queues ...int) []int { return lockQueues(t, c, code, client, queues...) }
	if got := lock(remoting.CodeLockBatchMQ, "A", 0, 1); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A locked %v", got)
	}
	if got := lock(remoting.CodeLockBatchMQ, "B", 1, 2); !slices.Equal(got, []int{2}) {
		t.Fatalf("B locked %v", got)
	}
	if got := lock(remoting.CodeLockBatchMQ, "A", 0, 1, 2); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("A re-locked %v", got)
	}
	lock(remoting.CodeUnlockBatchMQ, "A", 1)
	if got := lock(remoting.CodeLockBatchMQ, "B", 1); !slices.Equal(got, []int{1}) {
		t.Fatalf("B after unlock %v", got)
	}
	// Expiry after LockMaxLive: age every lock past it.
	aged.Store(int64(client.LockMaxLive + time.Millisecond))
	if got := lock(remoting.CodeLockBatchMQ, "C", 0, 1, 2); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("C after expiry %v", got)
	}
	if resp := c.call(remoting.CodeLockBatchMQ, nil, []byte("nope")); resp.Code != remoting.RespSystemError {
		t.Fatalf("bad lock body: %d", resp.Code)
	}
}

// TestHeartbeatThenCloseLeavesNoMember: a client that sends HEART_BEAT and
// closes at once. The handler runs on its own goroutine and the close hook
// (ConnClosed) does not wait for it, so the hook often runs first; the
// registration that follows must not add a member on the dead connection
// (it was listed by GET_CONSUMER_LIST_BY_GROUP until expiry, and the
// queues rebalance gave it went unconsumed). Before the fix nearly every
// connection here left one.
func TestHeartbeatThenCloseLeavesNoMember(t *testing.T) {
	b := startBroker(t, config.Config{})
	const conns = 20
	for i := range conns {
		nc, err := net.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		f, err := remoting.EncodeFrame(remoting.NewRequest(remoting.CodeHeartBeat, nil,
			heartbeatBody(fmt.Sprintf("10.9.9.9@%d", i), fmt.Sprintf("GHOST%d", i), 1, "T")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := nc.Write(f); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	// Each handler creates the group's retry topic just before it
	// registers the consumer: once all exist, every handler is past that
	// point, and a moment later done.
	eventually(t, 10*time.Second, "every heartbeat handled", func() bool {
		for i := range conns {
			if _, ok := b.topics.Get(retry.TopicPrefix + fmt.Sprintf("GHOST%d", i)); !ok {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	ghosts := 0
	for i := range conns {
		if ids := b.clients.ConsumerIDs(fmt.Sprintf("GHOST%d", i)); len(ids) > 0 {
			ghosts++
		}
	}
	if ghosts > 0 {
		t.Errorf("%d of %d closed connections left a consumer member behind", ghosts, conns)
	}
	if pg := b.clients.ProducerGroup("PG"); pg != nil {
		t.Errorf("closed connections left %d producer members behind", len(pg))
	}
}

// lockQueues sends LOCK_BATCH_MQ or UNLOCK_BATCH_MQ (code) for queues of
// topic T in group G and returns the queue ids the reply lists, sorted.
func lockQueues(t *testing.T, c *testClient, code int16, client string, queues ...int) []int {
	t.Helper()
	var mqs []messageQueue
	for _, q := range queues {
		mqs = append(mqs, messageQueue{Topic: "T", BrokerName: "broker-a", QueueID: int32(q)})
	}
	body, _ := json.Marshal(lockBatchBody{ConsumerGroup: "G", ClientID: client, MQSet: mqs})
	resp := c.call(code, nil, body)
	expectCode(t, resp, remoting.RespSuccess, "lock")
	var out struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}
	if err := json.Unmarshal(resp.Body, &out); err != nil && code == remoting.CodeLockBatchMQ {
		t.Fatalf("lock reply body %q: %v", resp.Body, err)
	}
	var ids []int
	for _, mq := range out.LockOKMQSet {
		ids = append(ids, int(mq.QueueID))
	}
	slices.Sort(ids)
	return ids
}

// TestLockSurvivesConnectionClose: an orderly consumer A whose connection
// drops keeps its queue lock until it would expire (LockMaxLive after its
// last renewal), as Java's RebalanceLockManager does. A's client still
// trusts its own lock for up to 30 s and consumes the queue in order, so
// handing the queue to B at the close put two consumers on one ordered
// queue. A re-locking from a new connection keeps the queue; once the
// lock has expired, B gets it.
func TestLockSurvivesConnectionClose(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	var aged atomic.Int64 // the locks' clock runs aged ahead of time.Now
	b.locks = client.NewLocks(client.LockMaxLive, func() time.Time { return time.Now().Add(time.Duration(aged.Load())) })
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	a1 := newTestClient(t, b.Addr())
	a1.call(remoting.CodeHeartBeat, nil, heartbeatBody("A", "G", 1, "T"))
	if got := lockQueues(t, a1, remoting.CodeLockBatchMQ, "A", 0); !slices.Equal(got, []int{0}) {
		t.Fatalf("A locked %v", got)
	}
	a1.c.Close()
	// The close hook unregisters A's membership, then (before the fix)
	// freed its locks: wait for the first, and a moment for the second.
	eventually(t, 5*time.Second, "A's connection closed on the broker", func() bool { return len(b.clients.ConsumerIDs("G")) == 0 })
	time.Sleep(50 * time.Millisecond)

	bc := newTestClient(t, b.Addr())
	if got := lockQueues(t, bc, remoting.CodeLockBatchMQ, "B", 0); len(got) != 0 {
		t.Fatalf("B got A's queue %v right after A's connection closed", got)
	}
	aged.Store(int64(client.LockMaxLive - time.Second))
	if got := lockQueues(t, bc, remoting.CodeLockBatchMQ, "B", 0); len(got) != 0 {
		t.Fatalf("B got A's queue %v before LockMaxLive", got)
	}
	a2 := newTestClient(t, b.Addr()) // A reconnects and renews
	if got := lockQueues(t, a2, remoting.CodeLockBatchMQ, "A", 0); !slices.Equal(got, []int{0}) {
		t.Fatalf("A re-locking on a new connection got %v", got)
	}
	aged.Store(int64(2*client.LockMaxLive - 2*time.Second))
	if got := lockQueues(t, bc, remoting.CodeLockBatchMQ, "B", 0); len(got) != 0 {
		t.Fatalf("B got %v within LockMaxLive of A's renewal", got)
	}
	aged.Store(int64(2*client.LockMaxLive + time.Second))
	if got := lockQueues(t, bc, remoting.CodeLockBatchMQ, "B", 0); !slices.Equal(got, []int{0}) {
		t.Fatalf("B after A's lock expired got %v", got)
	}
}
