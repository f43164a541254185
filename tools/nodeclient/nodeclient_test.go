package nodeclient

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// spec is one message the node producer sends (produce.js's messages).
type spec struct {
	Body       string            `json:"body"`
	Tags       string            `json:"tags,omitempty"`
	Keys       []string          `json:"keys,omitempty"`
	Props      map[string]string `json:"props,omitempty"`
	DelayLevel int               `json:"delayLevel,omitempty"`
}

// TestAliOns runs ali-ons against one wharf standalone process; each
// subtest has its own topic and groups.
func TestAliOns(t *testing.T) {
	env := requireNode(t)
	s := startWharf(t)
	t.Run("ProduceThenConsume", func(t *testing.T) { testProduceThenConsume(t, env, s) })
	t.Run("TagFilterAndCommittedOffsets", func(t *testing.T) { testTagFilterAndOffsets(t, env, s) })
	t.Run("GoProducerNodeConsumer", func(t *testing.T) { testGoToNode(t, env, s) })
	t.Run("RetryAfterThrow", func(t *testing.T) { testRetry(t, env, s) })
	t.Run("DelayLevel", func(t *testing.T) { testDelay(t, env, s) })
	t.Run("Broadcast", func(t *testing.T) { testBroadcast(t, env, s) })
	t.Run("TwoConsumersShareQueues", func(t *testing.T) { testShared(t, env, s) })
	t.Run("Namespace", func(t *testing.T) { testNamespace(t, env, s) })
	t.Run("RestartAfterIdle", func(t *testing.T) { testRestartAfterIdle(t, env, s) })
}

// produce sends specs with the node producer and checks every send was
// SEND_OK with a queue and offset on the topic's queues.
func produce(t *testing.T, env nodeEnv, s *server, topic, group string, specs []spec, queues int32) []event {
	t.Helper()
	events := runNode(t, env, "produce.js", map[string]any{"nameSrv": s.namesrv, "topic": topic, "group": group, "messages": specs}, 20*time.Second)
	sent := only(events, "sent")
	if len(sent) != len(specs) {
		t.Fatalf("node producer reported %d sends, want %d", len(sent), len(specs))
	}
	seen := map[string]bool{}
	for i, e := range sent {
		if e.I != i || e.Status != "SEND_OK" || e.MsgID == "" || e.QueueID < 0 || e.QueueID >= queues || e.QueueOffset < 0 {
			t.Fatalf("send %d: %+v, want SEND_OK with a message id on one of %d queues", i, e, queues)
		}
		pos := fmt.Sprintf("%d/%d", e.QueueID, e.QueueOffset)
		if seen[pos] {
			t.Fatalf("send %d: queue offset %s given twice", i, pos)
		}
		seen[pos] = true
	}
	return sent
}

// mixed returns n specs: tags TagA, TagB, TagC in turn, two keys each, a
// user property, and bodies with non-ASCII text.
func mixed(prefix string, n int) []spec {
	tags := []string{"TagA", "TagB", "TagC"}
	specs := make([]spec, n)
	for i := range specs {
		specs[i] = spec{
			Body:  fmt.Sprintf("%s body %d: héllo wörld ✓", prefix, i),
			Tags:  tags[i%3],
			Keys:  []string{fmt.Sprintf("%s-k%d", prefix, i), fmt.Sprintf("%s-order-%d", prefix, i)},
			Props: map[string]string{"seq": fmt.Sprint(i), "origin": "node"},
		}
	}
	return specs
}

// consumeCfg is consume.js's settings.
func consumeCfg(s *server, topic, group, expr string, expect int, linger time.Duration) map[string]any {
	return map[string]any{"nameSrv": s.namesrv, "topic": topic, "group": group, "expr": expr, "expect": expect, "linger": linger.Milliseconds()}
}

// byBody indexes consumed messages by body, counting deliveries.
func byBody(msgs []event) (map[string]event, map[string]int) {
	first := map[string]event{}
	count := map[string]int{}
	for _, m := range msgs {
		if _, ok := first[m.Body]; !ok {
			first[m.Body] = m
		}
		count[m.Body]++
	}
	return first, count
}

// checkOnce checks that one consumer that never failed a message got n
// distinct messages, each delivered once.
func checkOnce(t *testing.T, n int, got map[string]event, count map[string]int) {
	t.Helper()
	if len(got) != n {
		t.Errorf("node consumer got %d distinct messages, want %d", len(got), n)
	}
	for body, c := range count {
		if c != 1 {
			t.Errorf("%q delivered %d times to one consumer that never failed, want once", body, c)
		}
	}
}

// checkDelivered checks that each spec arrived with its topic, tags, keys and
// user properties.
func checkDelivered(t *testing.T, topic string, specs []spec, got map[string]event) {
	t.Helper()
	for i, sp := range specs {
		m, ok := got[sp.Body]
		if !ok {
			t.Errorf("message %d (%q) never delivered", i, sp.Body)
			continue
		}
		if m.Topic != topic || m.Tags != sp.Tags || m.Keys != strings.Join(sp.Keys, " ") {
			t.Errorf("message %d: topic %q tags %q keys %q, want %q %q %q", i, m.Topic, m.Tags, m.Keys, topic, sp.Tags, strings.Join(sp.Keys, " "))
		}
		for k, v := range sp.Props {
			if m.Props[k] != v {
				t.Errorf("message %d: property %s = %q, want %q (all: %v)", i, k, m.Props[k], v, m.Props)
			}
		}
	}
}

// goPullAll reads every message of topic with the official Go client's pull
// consumer (PullFrom from offset 0 to each queue's end). Under -race it
// reads nothing and returns false (see raceEnabled).
func goPullAll(t *testing.T, s *server, topic string, queues int32) ([]*primitive.MessageExt, bool) {
	t.Helper()
	if raceEnabled {
		t.Log("the official Go client races internally: its cross-check is left out under -race")
		return nil, false
	}
	group := "GoCheck-" + topic
	c, err := consumer.NewPullConsumer(consumer.WithGroupName(group), consumer.WithInstance(group),
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.namesrv})))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, consumer.MessageSelector{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	mqs, err := c.GetTopicRouteInfo(topic)
	if err != nil {
		t.Fatal(err)
	}
	if int32(len(mqs)) != queues {
		t.Fatalf("Go client sees %d queues of %s, want %d", len(mqs), topic, queues)
	}
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	var all []*primitive.MessageExt
	for _, mq := range mqs {
		// Pull up to the queue's end, never at it: a pull there is held
		// (long polling) until its timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		end, err := s.admin.MaxOffset(ctx, s.broker, topic, int32(mq.QueueId))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		for off, pulls := int64(0), 0; off < end; pulls++ {
			if pulls == 100 { // a few pulls per queue are enough
				t.Fatalf("queue %d: still at offset %d of %d after 100 pulls", mq.QueueId, off, end)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			res, err := c.PullFrom(ctx, mq, off, 32)
			cancel()
			if err != nil {
				t.Fatalf("PullFrom %s queue %d offset %d: %v", topic, mq.QueueId, off, err)
			}
			if res.Status != primitive.PullFound {
				t.Fatalf("PullFrom %s queue %d offset %d of %d: status %v", topic, mq.QueueId, off, end, res.Status)
			}
			all = append(all, res.GetMessageExts()...)
			off = res.NextBeginOffset
		}
	}
	return all, true
}

// testProduceThenConsume: the node producer sends 24 messages with tags,
// keys and properties, one of them over 4 KiB (compressed); all are SEND_OK; a node push consumer with "*" gets
// each of the 24 exactly once, and the Go client reads the same 24 with
// bodies, tags, keys, properties and queue offsets intact.
func testProduceThenConsume(t *testing.T, env nodeEnv, s *server) {
	const topic, queues, n = "NodeProduce", 4, 24
	s.createTopic(t, topic, queues)
	specs := mixed("p", n)
	// ali-ons compresses bodies of 4 KiB and more (zlib, sysFlag bit 0).
	specs[5].Body = strings.Repeat("a compressible body line ✓\n", 400)
	sent := produce(t, env, s, topic, "NodeProducerGroup", specs, queues)

	events := runNode(t, env, "consume.js", consumeCfg(s, topic, "NodeConsumeAll", "*", n, 1500*time.Millisecond), 25*time.Second)
	msgs := only(events, "msg")
	got, count := byBody(msgs)
	checkDelivered(t, topic, specs, got)
	checkOnce(t, n, got, count)
	for i, sp := range specs {
		if m, ok := got[sp.Body]; ok && (m.QueueID != sent[i].QueueID || m.QueueOffset != sent[i].QueueOffset || m.MsgID != sent[i].MsgID) {
			t.Errorf("message %d consumed at queue %d offset %d id %s, sent to %d/%d id %s",
				i, m.QueueID, m.QueueOffset, m.MsgID, sent[i].QueueID, sent[i].QueueOffset, sent[i].MsgID)
		}
	}

	// The Go client reads what ali-ons sent.
	gm, ok := goPullAll(t, s, topic, queues)
	if !ok {
		return
	}
	if len(gm) != n {
		t.Fatalf("Go client pulled %d messages, want %d", len(gm), n)
	}
	want := map[string]int{}
	for i, sp := range specs {
		want[sp.Body] = i
	}
	for _, m := range gm {
		i, ok := want[string(m.Body)]
		if !ok {
			t.Errorf("Go client pulled an unknown body %q", m.Body)
			continue
		}
		delete(want, string(m.Body))
		sp := specs[i]
		if m.GetTags() != sp.Tags || m.GetKeys() != strings.Join(sp.Keys, " ") ||
			m.GetProperty("seq") != sp.Props["seq"] || m.GetProperty("origin") != "node" {
			t.Errorf("Go client: message %d tags %q keys %q props %v", i, m.GetTags(), m.GetKeys(), m.GetProperties())
		}
		if m.Queue.QueueId != int(sent[i].QueueID) || m.QueueOffset != sent[i].QueueOffset || m.MsgId != sent[i].MsgID {
			t.Errorf("Go client: message %d at %d/%d id %s, sent to %d/%d id %s", i, m.Queue.QueueId, m.QueueOffset, m.MsgId,
				sent[i].QueueID, sent[i].QueueOffset, sent[i].MsgID)
		}
	}
}

// testTagFilterAndOffsets: of 30 messages (10 each of TagA, TagB, TagC) a
// consumer subscribed to "TagA || TagB" gets the 20 A and B ones, each
// exactly once, no TagC; after it closes, the group's committed offset of
// every queue is past the last A or B message there. A second consumer process of the group,
// started after the first exited, gets none of the 20 again (after a clean
// close RocketMQ redelivers nothing: the bound is 0) but does get the 2 new
// TagA messages sent while it runs.
func testTagFilterAndOffsets(t *testing.T, env nodeEnv, s *server) {
	const topic, group, queues, n = "NodeTags", "NodeTagGroup", 4, 30
	s.createTopic(t, topic, queues)
	specs := mixed("t", n)
	sent := produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	var ab []spec
	// lastAB is, per queue, the offset of the last TagA or TagB message.
	lastAB := map[int32]int64{}
	for i, sp := range specs {
		if sp.Tags != "TagC" {
			ab = append(ab, sp)
			lastAB[sent[i].QueueID] = max(lastAB[sent[i].QueueID], sent[i].QueueOffset)
		}
	}
	if len(lastAB) != queues {
		t.Fatalf("TagA and TagB messages went to %d queues, want all %d", len(lastAB), queues)
	}

	events := runNode(t, env, "consume.js", consumeCfg(s, topic, group, "TagA || TagB", len(ab), 1500*time.Millisecond), 25*time.Second)
	msgs := only(events, "msg")
	got, count := byBody(msgs)
	checkDelivered(t, topic, ab, got)
	for _, m := range msgs {
		if m.Tags != "TagA" && m.Tags != "TagB" {
			t.Errorf("consumer of TagA || TagB got tag %q: %q", m.Tags, m.Body)
		}
	}
	if len(got) != len(ab) {
		t.Errorf("got %d distinct messages, want %d", len(got), len(ab))
	}
	for body, c := range count {
		if c != 1 {
			t.Errorf("%q delivered %d times, want once", body, c)
		}
	}

	// Offsets: the consumer committed each queue past the last message it
	// consumed there, and not beyond the queue's end. (ali-ons commits
	// "last consumed + 1"; it commits past TagC messages filtered on the
	// broker only when a pull answers PULL_NOT_FOUND or
	// PULL_RETRY_IMMEDIATELY, and a pull at the queue's end is held until
	// the consumer closes, so trailing TagC messages may stay below.)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for q := range int32(queues) {
		maxOff, err := s.admin.MaxOffset(ctx, s.broker, topic, q)
		if err != nil {
			t.Fatal(err)
		}
		off, ok, err := s.admin.ConsumerOffset(ctx, s.broker, group, topic, q)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || off < lastAB[q]+1 || off > maxOff {
			t.Errorf("queue %d: committed offset %d (found %v), want %d (past the last TagA or TagB message) to %d (the queue's end)",
				q, off, ok, lastAB[q]+1, maxOff)
		}
	}

	// A second consumer of the group gets nothing old, and the new ones.
	second := startNode(t, env, "consume.js", consumeCfg(s, topic, group, "TagA || TagB", 2, 2000*time.Millisecond), 25*time.Second)
	second.waitFor(t, "ready", 15*time.Second)
	fresh := []spec{
		{Body: "t fresh 0", Tags: "TagA", Keys: []string{"t-fresh-0"}},
		{Body: "t fresh 1", Tags: "TagC", Keys: []string{"t-fresh-1"}},
		{Body: "t fresh 2", Tags: "TagA", Keys: []string{"t-fresh-2"}},
	}
	produce(t, env, s, topic, "NodeProducerGroup", fresh, queues)
	msgs2 := only(second.wait(t), "msg")
	got2, count2 := byBody(msgs2)
	for body := range got2 {
		if _, old := got[body]; old {
			t.Errorf("second consumer got %q again, which the first consumer consumed and committed", body)
		}
	}
	checkDelivered(t, topic, []spec{fresh[0], fresh[2]}, got2)
	if len(msgs2) != 2 || count2[fresh[0].Body] != 1 || count2[fresh[2].Body] != 1 {
		t.Errorf("second consumer got %d messages %v, want the 2 new TagA ones once each", len(msgs2), slices.Sorted(maps.Keys(count2)))
	}
}

// testGoToNode: 12 messages the official Go producer sends, with tags, keys
// and user properties (non-ASCII values included), reach a node consumer
// intact.
func testGoToNode(t *testing.T, env nodeEnv, s *server) {
	if raceEnabled {
		t.Skip("the official Go client races internally (see raceEnabled)")
	}
	const topic, queues, n = "GoToNode", 3, 12
	s.createTopic(t, topic, queues)
	p, err := producer.NewDefaultProducer(producer.WithGroupName("GoProducerGroup"), producer.WithInstanceName("GoToNode"),
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{s.namesrv})), producer.WithRetry(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	specs := make([]spec, n)
	for i := range specs {
		specs[i] = spec{
			Body:  fmt.Sprintf("from go %d — ünïcode", i),
			Tags:  []string{"GoA", "GoB"}[i%2],
			Keys:  []string{fmt.Sprintf("go-k%d", i)},
			Props: map[string]string{"seq": fmt.Sprint(i), "city": "Zürich", "empty-ish": " "},
		}
		m := primitive.NewMessage(topic, []byte(specs[i].Body))
		m.WithTag(specs[i].Tags)
		m.WithKeys(specs[i].Keys)
		for k, v := range specs[i].Props {
			m.WithProperty(k, v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := p.SendSync(ctx, m)
		cancel()
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("Go send %d: %v %v", i, res, err)
		}
	}
	events := runNode(t, env, "consume.js", consumeCfg(s, topic, "NodeFromGo", "*", n, time.Second), 25*time.Second)
	got, count := byBody(only(events, "msg"))
	checkDelivered(t, topic, specs, got)
	checkOnce(t, n, got, count)
}

// testRetry: the node handler throws on the first delivery of 2 of 5
// messages; ali-ons sends them back (CONSUMER_SEND_MSG_BACK) and they come
// again through %RETRY%group, with reconsumeTimes 1, their own topic, body,
// tags and keys, no earlier than level 3's 1 s after the failure. The
// other 3 are delivered once with reconsumeTimes 0.
func testRetry(t *testing.T, env nodeEnv, s *server) {
	const topic, group, queues, n = "NodeRetry", "NodeRetryGroup", 2, 5
	s.createTopic(t, topic, queues)
	specs := make([]spec, n)
	for i := range specs {
		specs[i] = spec{Body: fmt.Sprintf("retry body %d", i), Tags: "R", Keys: []string{fmt.Sprintf("r%d", i)}, Props: map[string]string{"seq": fmt.Sprint(i)}}
	}
	produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	failing := map[string]bool{"r1": true, "r3": true}
	cfg := consumeCfg(s, topic, group, "*", n, 2*time.Second)
	cfg["failOnce"] = slices.Sorted(maps.Keys(failing))
	events := runNode(t, env, "consume.js", cfg, 30*time.Second)

	fails := only(events, "fail")
	failAt := map[string]int64{}
	for _, f := range fails {
		if !failing[f.Keys] || f.ReconsumeTimes != 0 {
			t.Errorf("failed %q with reconsumeTimes %d, want only r1 and r3 on their first delivery", f.Keys, f.ReconsumeTimes)
		}
		failAt[f.Keys] = f.At
	}
	if len(fails) != len(failing) {
		t.Fatalf("handler failed %d times, want %d", len(fails), len(failing))
	}
	msgs := only(events, "msg")
	got, count := byBody(msgs)
	checkDelivered(t, topic, specs, got)
	for i, sp := range specs {
		m, ok := got[sp.Body]
		if !ok {
			continue
		}
		if count[sp.Body] != 1 {
			t.Errorf("message %d consumed %d times after its failures, want once", i, count[sp.Body])
		}
		key := sp.Keys[0]
		if failing[key] {
			if m.ReconsumeTimes != 1 {
				t.Errorf("retried %s: reconsumeTimes %d, want 1", key, m.ReconsumeTimes)
			}
			if wait := m.At - failAt[key]; wait < 1000 {
				t.Errorf("retried %s came back %d ms after the failure, before level 3's 1 s", key, wait)
			}
		} else if m.ReconsumeTimes != 0 {
			t.Errorf("%s never failed but has reconsumeTimes %d", key, m.ReconsumeTimes)
		}
	}

	// The broker holds the two sent-back messages in the group's retry topic.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	retried, err := s.admin.MaxOffset(ctx, s.broker, "%RETRY%"+group, 0)
	if err != nil {
		t.Fatal(err)
	}
	if retried != int64(len(failing)) {
		t.Errorf("%%RETRY%%%s holds %d messages, want %d", group, retried, len(failing))
	}
}

// testDelay: a message sent with delayTimeLevel 2 (2 s on the test broker)
// reaches the consumer no earlier than 2 s after it was born, and within
// 2 s + 8 s; a message without a delay sent with it arrives first.
func testDelay(t *testing.T, env nodeEnv, s *server) {
	const topic, queues = "NodeDelay", 2
	s.createTopic(t, topic, queues)
	cons := startNode(t, env, "consume.js", consumeCfg(s, topic, "NodeDelayGroup", "*", 2, 500*time.Millisecond), 25*time.Second)
	cons.waitFor(t, "ready", 15*time.Second)
	specs := []spec{
		{Body: "delayed by level 2", Tags: "D", Keys: []string{"d0"}, DelayLevel: 2},
		{Body: "not delayed", Tags: "N", Keys: []string{"d1"}},
	}
	sent := produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	got, count := byBody(only(cons.wait(t), "msg"))
	checkDelivered(t, topic, specs, got)
	d, now := got[specs[0].Body], got[specs[1].Body]
	if d.BornTimestamp == 0 || d.BornTimestamp > sent[0].SentAt {
		t.Fatalf("delayed message born at %d, sent at %d", d.BornTimestamp, sent[0].SentAt)
	}
	if lag := d.At - d.BornTimestamp; lag < 2000 || lag > 10000 {
		t.Errorf("delayed message consumed %d ms after it was born, want 2000..10000", lag)
	}
	if now.At == 0 || now.At > d.At {
		t.Errorf("undelayed message consumed at %d, after the delayed one at %d", now.At, d.At)
	}
	if count[specs[0].Body] != 1 || count[specs[1].Body] != 1 {
		t.Errorf("deliveries %v, want one each", count)
	}
}

// testBroadcast: two broadcasting node consumers of one group each get all
// 8 messages.
func testBroadcast(t *testing.T, env nodeEnv, s *server) {
	const topic, group, queues, n = "NodeBroadcast", "NodeBroadcastGroup", 2, 8
	s.createTopic(t, topic, queues)
	var procs []*nodeProc
	for range 2 {
		cfg := consumeCfg(s, topic, group, "*", n, time.Second)
		cfg["broadcast"] = true
		cfg["fromFirst"] = true
		p := startNode(t, env, "consume.js", cfg, 25*time.Second)
		p.waitFor(t, "ready", 15*time.Second)
		procs = append(procs, p)
	}
	specs := mixed("b", n)
	produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	for i, p := range procs {
		got, count := byBody(only(p.wait(t), "msg"))
		checkDelivered(t, topic, specs, got)
		if len(got) != n {
			t.Errorf("broadcast consumer %d got %d distinct messages, want %d", i, len(got), n)
		}
		for body, c := range count {
			if c != 1 {
				t.Errorf("broadcast consumer %d got %q %d times, want once", i, body, c)
			}
		}
	}
}

// testShared: two clustering node consumers of one group split a 4-queue
// topic. Once the broker lists both and each has rebalanced (2 s apart),
// 40 messages are sent; the consumers run until the group has all 40 and a
// second more: each consumer gets some, together all 40, and none twice (no
// queue changes hands after the messages were sent, so RocketMQ has no
// cause to redeliver: the bound is 0).
func testShared(t *testing.T, env nodeEnv, s *server) {
	const topic, group, queues, n = "NodeShared", "NodeSharedGroup", 4, 40
	s.createTopic(t, topic, queues)
	var procs []*nodeProc
	for range 2 {
		cfg := consumeCfg(s, topic, group, "*", 0, 0)
		cfg["untilStdinEnds"] = true
		p := startNode(t, env, "consume.js", cfg, 40*time.Second)
		p.waitFor(t, "ready", 15*time.Second)
		procs = append(procs, p)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		cc, err := s.admin.ConsumerConnections(ctx, s.broker, group)
		cancel()
		if err == nil && len(cc.ConnectionSet) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker does not list both consumers of %s within 10 s: %+v %v", group, cc, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2*2*time.Second + time.Second) // two rebalance intervals
	specs := mixed("s", n)
	produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	for deadline := time.Now().Add(20 * time.Second); ; {
		seen := map[string]bool{}
		for _, p := range procs {
			for _, e := range only(p.snapshot(), "msg") {
				seen[e.Body] = true
			}
		}
		if len(seen) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group consumed %d of %d messages within 20 s", len(seen), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // time for a duplicate to show
	for _, p := range procs {
		_ = p.stdin.Close()
	}
	total := map[string]int{}
	queuesOf := make([]map[int32]bool, len(procs))
	for i, p := range procs {
		got, count := byBody(only(p.wait(t), "msg"))
		if len(got) == 0 {
			t.Errorf("consumer %d got nothing: the queues were not shared", i)
		}
		queuesOf[i] = map[int32]bool{}
		for body, c := range count {
			total[body] += c
			queuesOf[i][got[body].QueueID] = true
		}
		t.Logf("consumer %d: %d messages from queues %v", i, len(got), slices.Sorted(maps.Keys(queuesOf[i])))
	}
	for q := range queuesOf[0] {
		if queuesOf[1][q] {
			t.Errorf("queue %d consumed by both consumers", q)
		}
	}
	for _, sp := range specs {
		if total[sp.Body] != 1 {
			t.Errorf("%q consumed %d times in the group, want once", sp.Body, total[sp.Body])
		}
	}
}

// testNamespace: with ali-ons's namespace option topics and groups are
// "NS%name" on the broker; a producer and a consumer of one namespace
// exchange 6 messages, the Go client finds them under the prefixed topic,
// and the offsets are committed for the prefixed group.
func testNamespace(t *testing.T, env nodeEnv, s *server) {
	const ns, topic, queues, n = "nodens", "NodeNsTopic", 2, 6
	s.createTopic(t, ns+"%"+topic, queues)
	specs := mixed("ns", n)
	events := runNode(t, env, "produce.js", map[string]any{"nameSrv": s.namesrv, "namespace": ns, "topic": topic,
		"group": "NsProducer", "messages": specs}, 20*time.Second)
	if sent := only(events, "sent"); len(sent) != n {
		t.Fatalf("node producer reported %d sends, want %d", len(sent), n)
	}
	cfg := consumeCfg(s, topic, "NsConsumer", "*", n, time.Second)
	cfg["namespace"] = ns
	got, _ := byBody(only(runNode(t, env, "consume.js", cfg, 25*time.Second), "msg"))
	checkDelivered(t, ns+"%"+topic, specs, got)
	if gm, ok := goPullAll(t, s, ns+"%"+topic, queues); ok && len(gm) != n {
		t.Errorf("Go client pulled %d messages of %s%%%s, want %d", len(gm), ns, topic, n)
	}
	// The consumer committed under the prefixed group and topic: together
	// its offsets cover the n messages.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var committed int64
	for q := range int32(queues) {
		off, ok, err := s.admin.ConsumerOffset(ctx, s.broker, ns+"%NsConsumer", ns+"%"+topic, q)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			committed += off
		}
	}
	if committed != n {
		t.Errorf("offsets committed for %s%%NsConsumer add up to %d, want %d", ns, committed, n)
	}
}

// testRestartAfterIdle: a consumer of a new group runs on an empty topic and
// stops; ali-ons then commits -1 for every queue it held at offset 0 (it
// sends "offset || -1"). The broker must keep answering QUERY_CONSUMER_OFFSET
// with 0 for those young queues, as RocketMQ does (a stored -1 is no
// offset), not -1, which ali-ons takes for a first start and answers by
// skipping to the queue's end: the messages sent while no consumer ran
// reach the group's next consumer.
func testRestartAfterIdle(t *testing.T, env nodeEnv, s *server) {
	const topic, group, queues, n = "NodeIdle", "NodeIdleGroup", 2, 6
	s.createTopic(t, topic, queues)
	// linger: the 1 s persist timer runs at least once, then close commits.
	first := runNode(t, env, "consume.js", consumeCfg(s, topic, group, "*", 0, 1500*time.Millisecond), 20*time.Second)
	if msgs := only(first, "msg"); len(msgs) != 0 {
		t.Fatalf("consumer of an empty topic got %d messages", len(msgs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for q := range int32(queues) {
		if off, ok, err := s.admin.ConsumerOffset(ctx, s.broker, group, topic, q); err != nil || !ok || off != 0 {
			t.Fatalf("queue %d after the idle run: offset %d found %v (%v), want 0 found", q, off, ok, err)
		}
	}
	specs := mixed("idle", n)
	produce(t, env, s, topic, "NodeProducerGroup", specs, queues)
	got, count := byBody(only(runNode(t, env, "consume.js", consumeCfg(s, topic, group, "*", n, time.Second), 12*time.Second), "msg"))
	checkDelivered(t, topic, specs, got)
	for body, c := range count {
		if c != 1 {
			t.Errorf("%q delivered %d times, want once", body, c)
		}
	}
}
