package broker

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

func init() { rlog.SetLogLevel("fatal") }

// cluster is a name server and one broker registered with it.
type cluster struct {
	ns  *nameserver.Server
	b   *Broker
	cfg config.Config
}

func startCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	return startClusterWith(t, testConfig(dir))
}

// startClusterWith starts a name server and a broker with cfg registered to
// it, and waits until the name server routes TBW102.
func startClusterWith(t *testing.T, cfg config.Config) *cluster {
	t.Helper()
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	ns := startNameServer(t, nil)
	cfg.NamesrvAddr = ns.Addr()
	cl := &cluster{ns: ns, cfg: cfg}
	cl.b = startBroker(t, cfg)
	cl.waitRoute(t, systopic.AutoCreate)
	return cl
}

// waitRoute waits until the name server has a route for topic.
func (cl *cluster) waitRoute(t *testing.T, topic string) {
	t.Helper()
	c := newTestClient(t, cl.ns.Addr())
	eventually(t, 10*time.Second, "route of "+topic, func() bool {
		return c.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil).Code == remoting.RespSuccess
	})
}

// createTopic creates a topic on the broker (UPDATE_AND_CREATE_TOPIC) and
// waits for its route.
func (cl *cluster) createTopic(t *testing.T, topic string, queues int) {
	t.Helper()
	c := newTestClient(t, cl.b.Addr())
	n := strconv.Itoa(queues)
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": topic, "readQueueNums": n,
		"writeQueueNums": n, "perm": "6"}, nil), remoting.RespSuccess, "create topic")
	cl.waitRoute(t, topic)
}

func (cl *cluster) resolver() primitive.NsResolver {
	return primitive.NewPassthroughResolver([]string{cl.ns.Addr()})
}

func (cl *cluster) producer(t *testing.T, opts ...producer.Option) rocketmqProducer {
	t.Helper()
	opts = append([]producer.Option{producer.WithNsResolver(cl.resolver()), producer.WithRetry(2),
		producer.WithGroupName("PG_" + strings.ReplaceAll(t.Name(), "/", "_"))}, opts...)
	p, err := producer.NewDefaultProducer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

type rocketmqProducer interface {
	SendSync(ctx context.Context, mq ...*primitive.Message) (*primitive.SendResult, error)
	SendAsync(ctx context.Context, h func(ctx context.Context, result *primitive.SendResult, err error), mq ...*primitive.Message) error
	SendOneWay(ctx context.Context, mq ...*primitive.Message) error
	Shutdown() error
}

// received collects consumed messages.
type received struct {
	mu   sync.Mutex
	msgs []*primitive.MessageExt
	busy int // callbacks that have not returned
}

// consume is a push consumer's callback: it records ms and reports them
// consumed.
func (r *received) consume(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	r.mu.Lock()
	r.busy++
	r.mu.Unlock()
	r.add(ms...)
	r.mu.Lock()
	r.busy--
	r.mu.Unlock()
	return consumer.ConsumeSuccess, nil
}

// idle reports whether no callback is running: the client advances its
// local offsets as each returns.
func (r *received) idle() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy == 0
}

func (r *received) add(ms ...*primitive.MessageExt) {
	r.mu.Lock()
	r.msgs = append(r.msgs, ms...)
	r.mu.Unlock()
}

func (r *received) bodies() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, m := range r.msgs {
		out[string(m.Body)]++
	}
	return out
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

type pushConsumer interface {
	Start() error
	Shutdown() error
	Subscribe(topic string, selector consumer.MessageSelector, f func(context.Context, ...*primitive.MessageExt) (consumer.ConsumeResult, error)) error
}

func (cl *cluster) consumer(t *testing.T, group, topic string, sel consumer.MessageSelector, r *received, opts ...consumer.Option) pushConsumer {
	t.Helper()
	opts = append([]consumer.Option{consumer.WithGroupName(group), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := consumer.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, sel, r.consume)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			c.Shutdown()
		}
	})
	return &onceShutdown{pushConsumer: c, stopped: &stopped}
}

type onceShutdown struct {
	pushConsumer
	stopped *bool
}

func (o *onceShutdown) Shutdown() error {
	if *o.stopped {
		return nil
	}
	*o.stopped = true
	return o.pushConsumer.Shutdown()
}

func ctx10s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func all(topic, prefix string, n int) map[string]int {
	want := map[string]int{}
	for i := range n {
		want[fmt.Sprintf("%s-%d", prefix, i)] = 1
	}
	return want
}

// hasAll reports whether got holds every key of want at least once.
func hasAll(got, want map[string]int) bool {
	for k := range want {
		if got[k] == 0 {
			return false
		}
	}
	return true
}

func TestGoClientSendModesAndPushConsumer(t *testing.T) {
	cl := startCluster(t, "")
	p := cl.producer(t)
	ctx := ctx10s(t)
	topic := "GoSendModes"

	// The first send goes through TBW102: the broker creates the topic.
	for i := range 10 {
		res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("sync-%d", i))))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("SendSync %d: %v %v", i, res, err)
		}
		if len(res.OffsetMsgID) != 32 || res.MsgID == "" {
			t.Fatalf("ids %q %q", res.OffsetMsgID, res.MsgID)
		}
	}
	var wg sync.WaitGroup
	var asyncErr error
	var mu sync.Mutex
	for i := range 10 {
		wg.Add(1)
		err := p.SendAsync(ctx, func(_ context.Context, _ *primitive.SendResult, err error) {
			mu.Lock()
			if err != nil {
				asyncErr = err
			}
			mu.Unlock()
			wg.Done()
		}, primitive.NewMessage(topic, []byte(fmt.Sprintf("async-%d", i))))
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if asyncErr != nil {
		t.Fatal(asyncErr)
	}
	for i := range 10 {
		if err := p.SendOneWay(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("oneway-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	var batch []*primitive.Message
	for i := range 10 {
		batch = append(batch, primitive.NewMessage(topic, []byte(fmt.Sprintf("batch-%d", i))))
	}
	res, err := p.SendSync(ctx, batch...)
	if err != nil || len(strings.Split(res.OffsetMsgID, ",")) != 10 {
		t.Fatalf("batch: %v %v", res, err)
	}

	want := map[string]int{}
	for _, k := range []string{"sync", "async", "oneway", "batch"} {
		for b := range all(topic, k, 10) {
			want[b] = 1
		}
	}
	var r received
	cl.consumer(t, "GoSendModesCG", topic, consumer.MessageSelector{}, &r)
	start := time.Now()
	eventually(t, 20*time.Second, "all 40 messages consumed", func() bool { return hasAll(r.bodies(), want) })
	t.Logf("40 messages (10 sync, 10 async, 10 oneway, 1 batch of 10) consumed %v after consumer start; %d deliveries", time.Since(start), r.count())
}

func TestGoClientTwoConsumersShareQueues(t *testing.T) {
	cl := startCluster(t, "")
	topic, group := "GoShared", "GoSharedCG"
	cl.createTopic(t, topic, 8)
	var r1, r2 received
	cl.consumer(t, group, topic, consumer.MessageSelector{}, &r1, consumer.WithInstance("c1"))
	cl.consumer(t, group, topic, consumer.MessageSelector{}, &r2, consumer.WithInstance("c2"))
	eventually(t, 10*time.Second, "two consumers registered", func() bool { return len(cl.b.clients.ConsumerIDs(group)) == 2 })
	// A held pull from each connection means both are pulling; the second
	// rebalanced with both registered, so it pulls its share, and the
	// first gives that share up when the notification reaches it.
	eventually(t, 10*time.Second, "both consumers pulling", func() bool { return len(pullers(cl.b, topic, -1)) == 2 })

	p := cl.producer(t)
	ctx := ctx10s(t)
	const n = 200
	for i := range n {
		if _, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("m-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	want := all(topic, "m", n)
	eventually(t, 30*time.Second, "every message consumed by the group", func() bool {
		got := r1.bodies()
		for k, v := range r2.bodies() {
			got[k] += v
		}
		return hasAll(got, want)
	})
	if r1.count() == 0 || r2.count() == 0 {
		t.Fatalf("work not shared: c1 %d, c2 %d", r1.count(), r2.count())
	}
	t.Logf("%d messages over 8 queues: consumer 1 got %d, consumer 2 got %d", n, r1.count(), r2.count())
}

func TestGoClientTagFilterAndLargeBodies(t *testing.T) {
	cl := startCluster(t, "")
	p := cl.producer(t)
	ctx := ctx10s(t)
	topic := "GoTags"
	for i := range 30 {
		tag := []string{"TagA", "TagB", "TagC"}[i%3]
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s-%d", tag, i)))
		m.WithTag(tag)
		if _, err := p.SendSync(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3<<20)
	rand.Read(big[:1<<20]) // partly random: the client compresses it
	bigSum := sha256.Sum256(big)
	m := primitive.NewMessage(topic, big)
	m.WithTag("TagA")
	if _, err := p.SendSync(ctx, m); err != nil {
		t.Fatalf("3 MiB body: %v", err)
	}
	huge := make([]byte, 5<<20)
	rand.Read(huge) // incompressible: stays over 4 MiB
	_, err := p.SendSync(ctx, primitive.NewMessage(topic, huge))
	if err == nil || !strings.Contains(err.Error(), "13") || !strings.Contains(err.Error(), "4194304") {
		t.Fatalf("5 MiB body: err %v, want code 13 naming the 4194304-byte limit", err)
	}
	t.Logf("5 MiB refused: %v", err)

	var r received
	cl.consumer(t, "GoTagsCG", topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagA || TagC"}, &r)
	eventually(t, 20*time.Second, "tagged messages", func() bool {
		got := r.bodies()
		n := 0
		for k := range got {
			if strings.HasPrefix(k, "TagA-") || strings.HasPrefix(k, "TagC-") {
				n++
			}
		}
		return n == 20 && r.count() >= 21
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	sawBig := false
	for _, m := range r.msgs {
		if tag := m.GetTags(); tag != "TagA" && tag != "TagC" {
			t.Errorf("got tag %q", tag)
		}
		if len(m.Body) == len(big) {
			sawBig = sha256.Sum256(m.Body) == bigSum
		}
	}
	if !sawBig {
		t.Fatal("3 MiB body not received intact")
	}
}

func TestGoClientOrderly(t *testing.T) {
	cl := startCluster(t, "")
	topic := "GoOrderly"
	cl.createTopic(t, topic, 4)
	p := cl.producer(t, producer.WithQueueSelector(producer.NewHashQueueSelector()))
	ctx := ctx10s(t)
	keys := []string{"k0", "k1", "k2", "k3", "k4"}
	const perKey = 20
	for i := range perKey {
		for _, k := range keys {
			m := primitive.NewMessage(topic, []byte(fmt.Sprintf("%s:%d", k, i)))
			m.WithShardingKey(k)
			if _, err := p.SendSync(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var r received
	cl.consumer(t, "GoOrderlyCG", topic, consumer.MessageSelector{}, &r, consumer.WithConsumerOrder(true))
	eventually(t, 30*time.Second, "all ordered messages", func() bool { return len(r.bodies()) == len(keys)*perKey })
	r.mu.Lock()
	defer r.mu.Unlock()
	last := map[string]int{}
	for _, m := range r.msgs {
		k, n, _ := strings.Cut(string(m.Body), ":")
		i, _ := strconv.Atoi(n)
		if prev, ok := last[k]; ok && i < prev {
			t.Fatalf("key %s: %d after %d", k, i, prev)
		}
		last[k] = i
	}
	if cl.b.locks.Held("GoOrderlyCG") == 0 {
		t.Fatal("orderly consumer holds no queue locks")
	}
}

func TestGoClientRestartKeepsMessagesAndOffsets(t *testing.T) {
	dir := t.TempDir()
	cl := startCluster(t, dir)
	topic, group := "GoRestart", "GoRestartCG"
	p := cl.producer(t)
	ctx := ctx10s(t)
	for i := range 20 {
		if _, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(fmt.Sprintf("before-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	var r1 received
	c1 := cl.consumer(t, group, topic, consumer.MessageSelector{}, &r1)
	// Once the last callback has returned the client has advanced its
	// local offsets, which Shutdown persists.
	eventually(t, 20*time.Second, "first 20 consumed", func() bool { return hasAll(r1.bodies(), all(topic, "before", 20)) && r1.idle() })
	c1.Shutdown() // persists offsets to the broker (UPDATE_CONSUMER_OFFSET)
	eventually(t, 10*time.Second, "offsets of all 4 queues committed", func() bool {
		for q := range int32(4) {
			st, _ := cl.b.store.QueueState(topic, q)
			off, ok, _ := cl.b.store.ConsumerOffset(group, topic, q)
			if st.Max > 0 && (!ok || off != st.Max) {
				return false
			}
		}
		return true
	})
	p.Shutdown()
	cl.b.Close()

	cl.b = startBroker(t, cl.cfg)
	cl.waitRoute(t, topic)
	p2 := cl.producer(t, producer.WithInstanceName("p2"))
	for i := range 10 {
		if _, err := p2.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(fmt.Sprintf("after-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	var r2 received
	cl.consumer(t, group, topic, consumer.MessageSelector{}, &r2, consumer.WithInstance("second"))
	// A re-delivered "before" sits below an "after" in its queue.
	eventually(t, 20*time.Second, "the 10 new messages, every queue consumed to its end", func() bool {
		return hasAll(r2.bodies(), all(topic, "after", 10)) && cl.caughtUp(topic, 4, &r2)
	})
	for body := range r2.bodies() {
		if strings.HasPrefix(body, "before-") {
			t.Fatalf("message %s consumed again after restart: offsets lost", body)
		}
	}
	t.Logf("after restart the group got exactly the %d new messages", r2.count())
}

func TestGoClientGarbageThenClient(t *testing.T) {
	cl := startCluster(t, "")
	conn, err := (&netDialer{}).dial(cl.b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 64))
	conn.Close()
	p := cl.producer(t)
	if _, err := p.SendSync(ctx10s(t), primitive.NewMessage("GoAfterGarbage", []byte("x"))); err != nil {
		t.Fatal(err)
	}
}

// TestGoClientBroadcasting runs the consumers in a child process, because
// the Go client keeps broadcasting offsets in a directory it reads from the
// environment once, at init: the child gets a temporary one.
func TestGoClientBroadcasting(t *testing.T) {
	if os.Getenv("WHARF_BROADCAST_CHILD") != "" {
		broadcastChild(t)
		return
	}
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	cl := startCluster(t, "")
	topic := "GoBroadcast"
	cl.createTopic(t, topic, 4)
	cmd := exec.Command(os.Args[0], "-test.run=^TestGoClientBroadcasting$", "-test.v")
	cmd.Env = append(os.Environ(), "WHARF_BROADCAST_CHILD=1", "WHARF_NS="+cl.ns.Addr(),
		"rocketmq.client.localOffsetStoreDir="+t.TempDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Produce once both broadcasting consumers are registered.
	eventually(t, 20*time.Second, "two broadcasting consumers", func() bool { return len(cl.b.clients.ConsumerIDs("GoBroadcastCG")) == 2 })
	// Broadcasting consumers start at the queue's end when they first pull
	// it: wait until each holds a pull on every queue.
	eventually(t, 20*time.Second, "both consumers pulling every queue", func() bool {
		for q := range int32(4) {
			if len(pullers(cl.b, topic, q)) != 2 {
				return false
			}
		}
		return true
	})
	p := cl.producer(t)
	for i := range 20 {
		if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(fmt.Sprintf("b-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("child failed: %v\n%s", err, out.String())
		}
		t.Log(strings.TrimSpace(grepLines(out.String(), "each got")))
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("child timed out\n%s", out.String())
	}
}

func broadcastChild(t *testing.T) {
	resolver := primitive.NewPassthroughResolver([]string{os.Getenv("WHARF_NS")})
	var rs [2]received
	for i := range rs {
		c, err := consumer.NewPushConsumer(consumer.WithGroupName("GoBroadcastCG"), consumer.WithNsResolver(resolver),
			consumer.WithConsumerModel(consumer.BroadCasting), consumer.WithInstance(fmt.Sprintf("b%d", i)),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
		if err != nil {
			t.Fatal(err)
		}
		r := &rs[i]
		c.Subscribe("GoBroadcast", consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			r.add(ms...)
			return consumer.ConsumeSuccess, nil
		})
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Shutdown()
	}
	want := all("GoBroadcast", "b", 20)
	eventually(t, 40*time.Second, "both consumers got every message", func() bool {
		return hasAll(rs[0].bodies(), want) && hasAll(rs[1].bodies(), want)
	})
	t.Logf("each got all 20: %d and %d deliveries", rs[0].count(), rs[1].count())
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(slices.Compact(out), "\n")
}

// TestGoClientConsumerResumesAfterRestart: a running push consumer keeps
// consuming across a clean broker restart on the same address. Its pulls
// held at the stop are answered with an error, after which the client
// waits 3 s and reconnects; answered "nothing new" it would pull again at
// once on the closing connection and wait out its 30 s request timeout.
func TestGoClientConsumerResumesAfterRestart(t *testing.T) {
	cl := startCluster(t, "")
	topic := "GoResume"
	cl.createTopic(t, topic, 2)
	send := func(p rocketmqProducer, from, to int) {
		for i := from; i < to; i++ {
			if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(fmt.Sprintf("m-%d", i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(cl.producer(t), 0, 20)
	var r received
	cl.consumer(t, "GoResumeCG", topic, consumer.MessageSelector{}, &r)
	eventually(t, 20*time.Second, "the first 20", func() bool { return hasAll(r.bodies(), all(topic, "m", 20)) })
	eventually(t, 5*time.Second, "the consumer's pulls held", func() bool { return cl.b.hold.Held() >= 2 })

	addr := cl.b.Addr()
	cl.b.Close()
	cl.cfg.Listen = addr // same address: the client's route stays valid
	// And the same HA port: listenPort+1 is nobody's to take (a client's
	// ephemeral port may hold it).
	cl.cfg.HAListenPort = cl.b.cfg.HAListenPort
	cl.b = startBroker(t, cl.cfg)
	cl.waitRoute(t, topic)
	start := time.Now()
	send(cl.producer(t, producer.WithInstanceName("after")), 20, 40)
	eventually(t, 15*time.Second, "the 20 sent after the restart", func() bool { return hasAll(r.bodies(), all(topic, "m", 40)) })
	t.Logf("consumed again %v after the restart", time.Since(start).Round(time.Millisecond))
}

// pullers returns the connections holding a parked pull on queueID of
// topic (any queue when queueID is -1): a push consumer with nothing to
// consume keeps one parked on each queue it was given.
func pullers(b *Broker, topic string, queueID int32) map[uint64]bool {
	conns := map[uint64]bool{}
	for _, w := range b.hold.Waiting(topic, queueID) {
		conns[w.ConnID] = true
	}
	return conns
}

// caughtUp reports whether the consumer feeding r has consumed queues
// 0..queues-1 of topic to their ends: it holds a pull at the end of each
// (so it has pulled all there is) and none of its callbacks is running.
func (cl *cluster) caughtUp(topic string, queues int32, r *received) bool {
	for q := range queues {
		st, _ := cl.b.store.QueueState(topic, q)
		if !slices.Contains(heldOffsets(cl.b, topic, q), st.Max) {
			return false
		}
	}
	return r.idle()
}

// heldOffsets returns the offsets the pulls parked on queueID of topic wait at.
func heldOffsets(b *Broker, topic string, queueID int32) []int64 {
	var offs []int64
	for _, w := range b.hold.Waiting(topic, queueID) {
		offs = append(offs, w.Offset)
	}
	return offs
}
