package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// shortLevels are the delay levels of these tests: level n is n*100 ms up
// to 900 ms, then 1 s.
const shortLevels = "100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms 900ms 1s 1s 1s 1s 1s 1s 1s 1s 1s"

// shortLevel is the delay of level n under shortLevels.
func shortLevel(n int) time.Duration { return time.Duration(min(n, 10)) * 100 * time.Millisecond }

func shortConfig(dir string) config.Config {
	cfg := testConfig(dir)
	cfg.MessageDelayLevel = shortLevels
	return cfg
}

// sendBackExt is the header the Go client sends with CONSUMER_SEND_MSG_BACK:
// originTopic is the message's topic, the original one (its RETRY_TOPIC)
// for a message read from the retry topic.
func sendBackExt(group, originTopic string, offset int64, delayLevel, maxTimes int) map[string]string {
	return map[string]string{
		"group": group, "offset": strconv.FormatInt(offset, 10), "delayLevel": strconv.Itoa(delayLevel),
		"originMsgId": "", "originTopic": originTopic, "unitMode": "false", "maxReconsumeTimes": strconv.Itoa(maxTimes),
		"bname": "broker-a",
	}
}

// physOf is the CommitLog offset of the record a send response names.
func physOf(t *testing.T, resp *remoting.Command) int64 {
	t.Helper()
	_, phys, err := msg.ParseOffsetMsgID(resp.ExtFields["msgId"])
	if err != nil {
		t.Fatal(err)
	}
	return phys
}

// readQueue returns every record of a queue, read through the engine.
func readQueue(t *testing.T, b *Broker, topic string, queueID int32) []msg.Record {
	t.Helper()
	st, ok := b.store.QueueState(topic, queueID)
	if !ok {
		return nil
	}
	var out []msg.Record
	for off := st.Min; off < st.Max; {
		res, err := b.store.Get(topic, queueID, off, 32, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Count == 0 {
			t.Fatalf("%s/%d@%d: %v", topic, queueID, off, res.Status)
		}
		out = append(out, decodeAll(t, res.Data)...)
		off = res.NextOffset
	}
	return out
}

func prop(r msg.Record, key string) string {
	v, _ := r.Property(key)
	return v
}

func TestSendBackRetryThenDLQ(t *testing.T) {
	b := startBroker(t, shortConfig(t.TempDir()))
	c := newTestClient(t, b.Addr())
	resp := c.send("RT", 0, props("TAGS", "tagA", "KEYS", "k1 k2", "UNIQ_KEY", "U1"), "body-1")
	phys, origID := physOf(t, resp), resp.ExtFields["msgId"]

	expectCode(t, c.call(remoting.CodeConsumerSendMsgBack, sendBackExt("G", "RT", phys, 0, 16), nil), remoting.RespSuccess, "send back 1")
	if tc, ok := b.topics.Get("%RETRY%G"); !ok || tc.Perm != body.PermRead|body.PermWrite || tc.WriteQueueNums != 1 {
		t.Fatalf("retry topic %+v %v", tc, ok)
	}
	// Stored behind level 3 (3 + reconsumeTimes 0), delivery time in the tags code.
	waitDispatched(t, b)
	sched := readQueue(t, b, systopic.Schedule, 2)
	if len(sched) != 1 || prop(sched[0], "REAL_TOPIC") != "%RETRY%G" || prop(sched[0], "REAL_QID") != "0" ||
		prop(sched[0], "DELAY") != "3" || sched[0].ReconsumeTimes != 1 {
		t.Fatalf("schedule queue of level 3: %d records %+v", len(sched), sched)
	}
	e, ok, err := b.store.Meta().EntryAt(systopic.Schedule, 2, 0)
	if err != nil || !ok || e.TagsCode != sched[0].StoreTimestamp+300 {
		t.Fatalf("tags code %d, want store time %d + 300 (%v %v)", e.TagsCode, sched[0].StoreTimestamp, ok, err)
	}

	var retried []msg.Record
	eventually(t, 5*time.Second, "retry delivered", func() bool {
		retried = readQueue(t, b, "%RETRY%G", 0)
		return len(retried) == 1
	})
	r := retried[0]
	if string(r.Body) != "body-1" || r.ReconsumeTimes != 1 || prop(r, PropRetryTopic) != "RT" ||
		prop(r, PropOriginMessageID) != origID || prop(r, "TAGS") != "tagA" || prop(r, "KEYS") != "k1 k2" ||
		prop(r, "UNIQ_KEY") != "U1" || prop(r, "REAL_TOPIC") != "%RETRY%G" {
		t.Fatalf("retried record: body %q reconsume %d props %q", r.Body, r.ReconsumeTimes, r.Properties)
	}
	if _, ok := r.Property("DELAY"); ok {
		t.Fatalf("retried record still has DELAY: %q", r.Properties)
	}
	if n := strings.Count(string(r.Properties), msg.PropCRC32); n != 1 {
		t.Fatalf("retried record has %d checksum properties: %q", n, r.Properties)
	}
	if r.StoreTimestamp < sched[0].StoreTimestamp+300 {
		t.Fatalf("delivered at %d, due %d", r.StoreTimestamp, sched[0].StoreTimestamp+300)
	}
	// A consumer pulls the retry topic like any other.
	pull := c.call(remoting.CodePullMessage, pullExt("G", "%RETRY%G", 0, 0, 0, 0), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull retry topic")
	if got := decodeAll(t, pull.Body); len(got) != 1 || string(got[0].Body) != "body-1" {
		t.Fatalf("pulled %d records", len(got))
	}

	// Second failure: level 4, same origin id and retry topic.
	expectCode(t, c.call(remoting.CodeConsumerSendMsgBack, sendBackExt("G", "RT", r.PhysOffset, 0, 2), nil), remoting.RespSuccess, "send back 2")
	eventually(t, 5*time.Second, "second retry delivered", func() bool {
		retried = readQueue(t, b, "%RETRY%G", 0)
		return len(retried) == 2
	})
	r2 := retried[1]
	if r2.ReconsumeTimes != 2 || prop(r2, PropOriginMessageID) != origID || prop(r2, PropRetryTopic) != "RT" {
		t.Fatalf("second retry: reconsume %d props %q", r2.ReconsumeTimes, r2.Properties)
	}
	if n := len(readQueue(t, b, systopic.Schedule, 3)); n != 1 {
		t.Fatalf("level 4 queue holds %d records", n)
	}

	// Third failure with maxReconsumeTimes 2: straight to the DLQ.
	expectCode(t, c.call(remoting.CodeConsumerSendMsgBack, sendBackExt("G", "RT", r2.PhysOffset, 0, 2), nil), remoting.RespSuccess, "send back 3")
	waitDispatched(t, b)
	dlq := readQueue(t, b, "%DLQ%G", 0)
	if len(dlq) != 1 || string(dlq[0].Body) != "body-1" || dlq[0].ReconsumeTimes != 3 || prop(dlq[0], PropRetryTopic) != "RT" ||
		prop(dlq[0], PropOriginMessageID) != origID {
		t.Fatalf("DLQ: %d records %+v", len(dlq), dlq)
	}
	if _, ok := dlq[0].Property("DELAY"); ok {
		t.Fatalf("DLQ record has DELAY: %q", dlq[0].Properties)
	}
	if tc, ok := b.topics.Get("%DLQ%G"); !ok || tc.Perm != body.PermRead|body.PermWrite || tc.WriteQueueNums != 1 || tc.ReadQueueNums != 1 {
		t.Fatalf("DLQ topic %+v %v", tc, ok)
	}
	// delayLevel -1 (orderly consumers past their limit): DLQ at once.
	expectCode(t, c.call(remoting.CodeConsumerSendMsgBack, sendBackExt("G", "RT", phys, -1, 16), nil), remoting.RespSuccess, "send back -1")
	waitDispatched(t, b)
	if dlq = readQueue(t, b, "%DLQ%G", 0); len(dlq) != 2 || dlq[1].ReconsumeTimes != 1 {
		t.Fatalf("DLQ after delayLevel -1: %d records", len(dlq))
	}
}

func TestSendBackBadRequests(t *testing.T) {
	cfg := shortConfig(t.TempDir())
	cfg.AutoCreateSubscriptionGroup = false
	b := startBroker(t, cfg)
	if _, _, err := b.groups.GetOrCreate("G", true); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, b.Addr())
	resp := c.send("BT", 0, "", "payload")
	phys := physOf(t, resp)
	other := physOf(t, c.send("OT", 0, "", "other topic"))
	waitDispatched(t, b)
	end := b.store.CommitLog().End()

	without := func(key string) map[string]string {
		ext := sendBackExt("G", "BT", phys, 0, 16)
		delete(ext, key)
		return ext
	}
	with := func(key, v string) map[string]string {
		ext := sendBackExt("G", "BT", phys, 0, 16)
		ext[key] = v
		return ext
	}
	cases := []struct {
		name   string
		ext    map[string]string
		code   int16
		remark string
	}{
		{"no fields", map[string]string{}, remoting.RespSystemError, "group"},
		{"missing group", without("group"), remoting.RespSystemError, "group"},
		{"empty group", with("group", ""), remoting.RespSystemError, "group"},
		{"missing offset", without("offset"), remoting.RespSystemError, "offset"},
		{"offset not a number", with("offset", "12x"), remoting.RespSystemError, "offset"},
		{"missing delayLevel", without("delayLevel"), remoting.RespSystemError, "delayLevel"},
		{"huge delayLevel", with("delayLevel", "99999999999"), remoting.RespSystemError, "delayLevel"},
		{"bad maxReconsumeTimes", with("maxReconsumeTimes", "many"), remoting.RespSystemError, "maxReconsumeTimes"},
		{"negative offset", with("offset", "-5"), remoting.RespSystemError, "look message by offset failed"},
		{"offset at the end of the log", with("offset", strconv.FormatInt(end, 10)), remoting.RespSystemError, "look message by offset failed"},
		{"offset beyond the log", with("offset", "1099511627776"), remoting.RespSystemError, "look message by offset failed"},
		{"offset inside a record", with("offset", strconv.FormatInt(phys+3, 10)), remoting.RespSystemError, "look message by offset failed"},
		// The record is not the message given back: not copied.
		{"offset of another topic's message", with("offset", strconv.FormatInt(other, 10)), remoting.RespSystemError, "look message by offset failed"},
		{"unknown group", with("group", "Nope"), remoting.RespSubscriptionGroupNotExist, "subscription group not exist, Nope"},
	}
	for _, tc := range cases {
		resp := c.call(remoting.CodeConsumerSendMsgBack, tc.ext, nil)
		if resp.Code != tc.code || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("%s: code %d remark %q, want code %d and a remark with %q", tc.name, resp.Code, resp.Remark, tc.code, tc.remark)
		}
	}
	// Nothing was stored, and the same connection still serves a good request.
	if st, ok := b.store.QueueState("%RETRY%G", 0); ok && st.Max != 0 {
		t.Fatalf("retry queue got %d entries", st.Max)
	}
	if st, _ := b.store.QueueState(systopic.Schedule, 2); st.Max != 0 {
		t.Fatalf("schedule queue got %d entries", st.Max)
	}
	expectCode(t, c.call(remoting.CodeConsumerSendMsgBack, sendBackExt("G", "BT", phys, 0, 16), nil), remoting.RespSuccess, "valid send back")
	if _, ok := b.topics.Get("%RETRY%Nope"); ok {
		t.Fatal("retry topic created for an unknown group")
	}
}

func TestSendToRetryTopicAppliesDLQRule(t *testing.T) {
	b := startBroker(t, shortConfig(t.TempDir()))
	c := newTestClient(t, b.Addr())
	// The Go client's fallback: SEND to %RETRY%G with reconsumeTimes+1, max and DELAY.
	ext := sendExt("%RETRY%G", 0, props("DELAY", "1", "RETRY_TOPIC", "T"))
	ext["reconsumeTimes"], ext["maxReconsumeTimes"] = "1", "3"
	expectCode(t, c.call(remoting.CodeSendMessage, ext, []byte("again")), remoting.RespSuccess, "retry send")
	ext = sendExt("%RETRY%G", 0, props("DELAY", "5", "RETRY_TOPIC", "T"))
	ext["reconsumeTimes"], ext["maxReconsumeTimes"] = "3", "3"
	expectCode(t, c.call(remoting.CodeSendMessage, ext, []byte("dead")), remoting.RespSuccess, "send past max")
	waitDispatched(t, b)
	if dlq := readQueue(t, b, "%DLQ%G", 0); len(dlq) != 1 || string(dlq[0].Body) != "dead" || dlq[0].ReconsumeTimes != 3 {
		t.Fatalf("DLQ %+v", dlq)
	}
	eventually(t, 5*time.Second, "delayed retry", func() bool {
		rs := readQueue(t, b, "%RETRY%G", 0)
		return len(rs) == 1 && string(rs[0].Body) == "again"
	})
	// A normal topic with the Go producer's maxReconsumeTimes=0 is untouched (trap T13).
	c.send("Plain", 0, "", "x")
	waitDispatched(t, b)
	if n := len(readQueue(t, b, "Plain", 0)); n != 1 {
		t.Fatalf("plain topic holds %d", n)
	}
}

// startRetryCluster is startCluster with the short delay levels.
func startRetryCluster(t *testing.T) *cluster {
	t.Helper()
	return startClusterWith(t, shortConfig(t.TempDir()))
}

// delivery is one call of a consumer's handler for one message.
type delivery struct {
	body, topic, msgID string
	reconsume          int32
	at                 time.Time
	storeTs            int64
}

type deliveries struct {
	mu sync.Mutex
	ds []delivery
}

func (d *deliveries) add(m *primitive.MessageExt) {
	d.mu.Lock()
	d.ds = append(d.ds, delivery{string(m.Body), m.Topic, m.MsgId, m.ReconsumeTimes, time.Now(), m.StoreTimestamp})
	d.mu.Unlock()
}

func (d *deliveries) byBody() map[string][]delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string][]delivery{}
	for _, x := range d.ds {
		out[x.body] = append(out[x.body], x)
	}
	return out
}

// handlerConsumer starts a clustering push consumer whose handler is fn.
func (cl *cluster) handlerConsumer(t *testing.T, group, topic string, fn func(*primitive.MessageExt) consumer.ConsumeResult, opts ...consumer.Option) {
	t.Helper()
	opts = append([]consumer.Option{consumer.WithGroupName(group), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset)}, opts...)
	c, err := consumer.NewPushConsumer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		res := consumer.ConsumeSuccess
		for _, m := range ms {
			if fn(m) != consumer.ConsumeSuccess {
				res = consumer.ConsumeRetryLater
			}
		}
		return res, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
}

func TestGoClientRetryLater(t *testing.T) {
	cl := startRetryCluster(t)
	topic, group := "GoRetry", "GoRetryCG"
	cl.createTopic(t, topic, 2)
	// The client learns a new retry topic's route only every 30 s: create
	// it (as the group's first heartbeat would) before the consumer starts.
	cl.createTopic(t, "%RETRY%"+group, 1)
	var d deliveries
	cl.handlerConsumer(t, group, topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		d.add(m)
		if m.ReconsumeTimes == 0 {
			return consumer.ConsumeRetryLater
		}
		return consumer.ConsumeSuccess
	})
	p := cl.producer(t)
	const n = 20
	for i := range n {
		m := primitive.NewMessage(topic, fmt.Appendf(nil, "r-%d", i))
		m.WithTag("TagR")
		if _, err := p.SendSync(ctx10s(t), m); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "every message redelivered once", func() bool {
		got := d.byBody()
		for i := range n {
			if !hasRetry(got[fmt.Sprintf("r-%d", i)]) {
				return false
			}
		}
		return true
	})
	minGap := time.Hour
	for body, ds := range d.byBody() {
		first, retry := ds[0], ds[len(ds)-1]
		if first.reconsume != 0 || retry.reconsume != 1 || len(ds) != 2 {
			t.Errorf("%s: deliveries %+v", body, ds)
		}
		if first.topic != topic || retry.topic != topic {
			t.Errorf("%s: topics %q then %q, want %q", body, first.topic, retry.topic, topic)
		}
		if retry.msgID != first.msgID {
			t.Errorf("%s: msgId %s then %s", body, first.msgID, retry.msgID)
		}
		gap := retry.at.Sub(first.at)
		// Store times have millisecond resolution: the due time of the
		// retry can fall up to 1 ms before first.at + level.
		if gap < shortLevel(3)-time.Millisecond {
			t.Errorf("%s: redelivered after %v, before level 3's %v", body, gap, shortLevel(3))
		}
		minGap = min(minGap, gap)
	}
	t.Logf("%d messages each redelivered once with ReconsumeTimes 1 and the original topic; shortest gap %v (level 3 = %v)",
		n, minGap, shortLevel(3))
}

func hasRetry(ds []delivery) bool {
	for _, x := range ds {
		if x.reconsume == 1 {
			return true
		}
	}
	return false
}

func TestGoClientMaxReconsumeToDLQ(t *testing.T) {
	cl := startRetryCluster(t)
	topic, group := "GoDLQ", "GoDLQCG"
	cl.createTopic(t, topic, 1)
	cl.createTopic(t, "%RETRY%"+group, 1)
	var d deliveries
	cl.handlerConsumer(t, group, topic, func(m *primitive.MessageExt) consumer.ConsumeResult {
		d.add(m)
		return consumer.ConsumeRetryLater
	}, consumer.WithMaxReconsumeTimes(2))
	p := cl.producer(t)
	const n = 5
	want := map[string]bool{}
	for i := range n {
		body := fmt.Sprintf("dead-%d-%s", i, strings.Repeat("x", 100*i))
		want[body] = true
		if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(body))); err != nil {
			t.Fatal(err)
		}
	}
	var dlq []msg.Record
	eventually(t, 30*time.Second, "all messages in the DLQ", func() bool {
		dlq = readQueue(t, cl.b, "%DLQ%"+group, 0)
		return len(dlq) >= n
	})
	for _, r := range dlq {
		if !want[string(r.Body)] || r.ReconsumeTimes != 3 || prop(r, PropRetryTopic) != topic {
			t.Errorf("DLQ record: body %.20q reconsume %d props %q", r.Body, r.ReconsumeTimes, r.Properties)
		}
		delete(want, string(r.Body))
	}
	if len(want) != 0 {
		t.Fatalf("missing from the DLQ: %v", want)
	}
	for body, ds := range d.byBody() {
		if len(ds) != 3 {
			t.Errorf("%.20s: %d deliveries, want 3 (first + 2 retries)", body, len(ds))
		}
	}
	cl.waitRoute(t, "%DLQ%"+group) // registered with the name server
	t.Logf("%d messages in %%DLQ%%%s after 3 deliveries each, bodies intact", n, group)
}
