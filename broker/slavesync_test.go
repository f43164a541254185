package broker

import (
	"context"
	"encoding/json"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/broker/slavesync"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// masterTables reads the four SlaveSynchronize tables from a broker with
// the body codec, failing the test on a non-SUCCESS answer.
func masterTables(t *testing.T, c *testClient) (body.TopicConfigWrapper, body.SubscriptionGroupWrapper, body.ConsumerOffsetTable, map[int32]int64) {
	t.Helper()
	var topics body.TopicConfigWrapper
	var groups body.SubscriptionGroupWrapper
	for code, v := range map[int16]any{remoting.CodeGetAllTopicConfig: &topics, remoting.CodeGetAllSubscriptionGroupConfig: &groups} {
		resp := c.call(code, nil, nil)
		expectCode(t, resp, remoting.RespSuccess, "get all")
		if err := json.Unmarshal(resp.Body, v); err != nil {
			t.Fatalf("code %d body: %v", code, err)
		}
	}
	resp := c.call(remoting.CodeGetAllConsumerOffset, nil, nil)
	expectCode(t, resp, remoting.RespSuccess, "GET_ALL_CONSUMER_OFFSET")
	offsets, err := body.DecodeConsumerOffsets(resp.Body)
	if err != nil {
		t.Fatalf("43 body %q: %v", resp.Body, err)
	}
	resp = c.call(remoting.CodeGetAllDelayOffset, nil, nil)
	expectCode(t, resp, remoting.RespSuccess, "GET_ALL_DELAY_OFFSET")
	delay, err := body.DecodeDelayOffsets(resp.Body)
	if err != nil {
		t.Fatalf("45 body %q: %v", resp.Body, err)
	}
	return topics, groups, offsets, delay
}

// TestSlaveSyncBetweenBrokers runs two brokers on loopback: topics,
// groups, offsets and delay progress made on the master are served by 21,
// 201, 43 and 45, and one SyncOnce on the other broker applies them; they
// are still there after it restarts; a master that is gone leaves the
// slave unchanged.
func TestSlaveSyncBetweenBrokers(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MessageDelayLevel = "50ms 100ms"
	master := startBroker(t, cfg)
	mc := newTestClient(t, master.Addr())

	// An empty group table and offset table are answered SUCCESS.
	_, groups, offsets, delay := masterTables(t, mc)
	if len(groups.SubscriptionGroupTable) != 0 || len(offsets) != 0 || len(delay) != 0 {
		t.Fatalf("new master: groups %v offsets %v delay %v, want all empty", groups.SubscriptionGroupTable, offsets, delay)
	}

	expectCode(t, mc.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "SyncT", "readQueueNums": "2", "writeQueueNums": "2"}, nil),
		remoting.RespSuccess, "create topic")
	for i := range 3 {
		expectCode(t, mc.send("SyncT", i%2, "", "m"), remoting.RespSuccess, "send")
	}
	expectCode(t, mc.send("SyncT", 0, props("DELAY", "1"), "later"), remoting.RespSuccess, "delayed send")
	if _, _, err := master.groups.GetOrCreate("SyncG", true); err != nil {
		t.Fatal(err)
	}
	for q, off := range []int64{2, 1} {
		expectCode(t, mc.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "SyncG", "topic": "SyncT",
			"queueId": string(rune('0' + q)), "commitOffset": string(rune('0' + off))}, nil), remoting.RespSuccess, "commit")
	}
	eventually(t, 10*time.Second, "the delayed message delivered", func() bool {
		p, err := master.sched.Progress()
		return err == nil && p[1] == 1
	})

	// The transaction checker's progress is the broker's, not a consumer's.
	if err := master.store.CommitOffset(transaction.OffsetGroup, systopic.TransHalf, 0, 5); err != nil {
		t.Fatal(err)
	}
	topics, groups, offsets, delay := masterTables(t, mc)
	if _, ok := topics.TopicConfigTable["SyncT"]; !ok || topics.DataVersion.Counter == 0 {
		t.Fatalf("21: %v", topics)
	}
	if _, ok := groups.SubscriptionGroupTable["SyncG"]; !ok || groups.DataVersion.Counter == 0 {
		t.Fatalf("201: %v", groups)
	}
	wantOffsets := map[int32]int64{0: 2, 1: 1}
	if len(offsets) != 1 || !maps.Equal(offsets[body.ConsumerOffsetKey{Topic: "SyncT", Group: "SyncG"}], wantOffsets) {
		t.Fatalf("43: %v, want only SyncT@SyncG %v (no %s, no %s)", offsets, wantOffsets, schedule.OffsetGroup, transaction.OffsetGroup)
	}
	if !maps.Equal(delay, map[int32]int64{1: 1}) {
		t.Fatalf("45: %v, want level 1 at 1", delay)
	}

	slaveCfg := testConfig(t.TempDir())
	slaveCfg.MessageDelayLevel = cfg.MessageDelayLevel
	slave := startBroker(t, slaveCfg)
	slave.setSyncMaster(master.Addr())
	if err := slave.syncer.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	check := func(b *Broker, when string) {
		t.Helper()
		if tc, ok := b.topics.Get("SyncT"); !ok || tc != topics.TopicConfigTable["SyncT"] {
			t.Errorf("%s: topic %v %v", when, tc, ok)
		}
		if _, ok := b.groups.Get("SyncG"); !ok {
			t.Errorf("%s: group SyncG missing", when)
		}
		all, err := b.offsets.All()
		want := map[engine.QueueRef]int64{{Topic: "SyncT", QueueID: 0}: 2, {Topic: "SyncT", QueueID: 1}: 1}
		if err != nil || !maps.Equal(all["SyncG"], want) {
			t.Errorf("%s: offsets %v %v, want %v", when, all["SyncG"], err, want)
		}
		if p, err := b.sched.Progress(); err != nil || p[1] != 1 {
			t.Errorf("%s: delay progress %v %v, want level 1 at 1", when, p, err)
		}
	}
	check(slave, "after SyncOnce")

	// Durable: the slave restarts over its directory.
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	slave = startBroker(t, slaveCfg)
	check(slave, "after a restart")

	// The master goes: a round fails and changes nothing.
	slave.setSyncMaster(master.Addr())
	if err := master.Close(); err != nil {
		t.Fatal(err)
	}
	if err := slave.syncer.SyncOnce(context.Background()); err == nil {
		t.Fatal("a round against a closed master succeeded")
	}
	check(slave, "after a failed round")
	slave.setSyncMaster("")
	if err := slave.syncer.SyncOnce(context.Background()); err == nil {
		t.Fatal("a round without a master address succeeded")
	}
}

// TestSyncFetcherEmptyAnswer: Java's "No ... in this broker" answer is
// ErrEmpty; another SYSTEM_ERROR is an error.
func TestSyncFetcherEmptyAnswer(t *testing.T) {
	b := startBroker(t, testConfig(t.TempDir()))
	var remark atomic.Pointer[string]
	setRemark := func(s string) string { remark.Store(&s); return s }
	b.srv.Handle(remoting.CodeGetAllTopicConfig, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.RespSystemError, *remark.Load())
	})
	f := syncFetcher{remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t)})}
	defer f.client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := setRemark("No topic in this broker")
	if _, err := f.Fetch(ctx, b.Addr(), slavesync.TopicConfigs); err != slavesync.ErrEmpty {
		t.Fatalf("%q: %v, want ErrEmpty", r, err)
	}
	r = setRemark("disk is full")
	if _, err := f.Fetch(ctx, b.Addr(), slavesync.TopicConfigs); err == nil || err == slavesync.ErrEmpty {
		t.Fatalf("%q: %v, want an error", r, err)
	}
	if body, err := f.Fetch(ctx, b.Addr(), slavesync.DelayOffsets); err != nil || string(body) != `{"offsetTable":{}}` {
		t.Fatalf("45 on a new broker: %q %v", body, err)
	}
}

// createDelT creates topic DelT with one queue through c.
func createDelT(t *testing.T, c *testClient) {
	t.Helper()
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "DelT", "readQueueNums": "1", "writeQueueNums": "1"}, nil),
		remoting.RespSuccess, "create DelT")
}

// startSlaveBroker starts a classic slave (brokerId 1) with no master yet.
func startSlaveBroker(t *testing.T) *Broker {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.BrokerRole, cfg.BrokerID = config.Slave, 1
	return startBroker(t, cfg)
}

// A topic deleted on the master is deleted on the slave with its queues
// (and offsets), as on the master: keeping them, the slave served the
// deleted topic's messages again once a topic of that name was created.
func TestDeletedTopicLeavesNoQueuesOnTheSlave(t *testing.T) {
	master := startBroker(t, testConfig(t.TempDir()))
	mc := newTestClient(t, master.Addr())
	create := func() { createDelT(t, mc) }
	create()
	for range 3 {
		expectCode(t, mc.send("DelT", 0, "", "old"), remoting.RespSuccess, "send")
	}
	slave := startSlaveBroker(t)
	replicate(t, slave, "DelT", 3) // what HA copied
	slave.setSyncMaster(master.Addr())
	syncOnce := func() {
		t.Helper()
		if err := slave.syncer.SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	syncOnce()
	if _, ok := slave.topics.Get("DelT"); !ok {
		t.Fatal("topic not synced")
	}
	if err := slave.offsets.Merge("G", "DelT", 0, func(int64, bool) (int64, bool) { return 3, true }); err != nil {
		t.Fatal(err)
	}
	expectCode(t, mc.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "DelT"}, nil), remoting.RespSuccess, "delete")
	syncOnce()
	if st, ok := slave.store.QueueState("DelT", 0); ok {
		t.Fatalf("the slave keeps the deleted topic's queue %+v", st)
	}
	if all, _ := slave.offsets.All(); len(all["G"]) != 0 {
		t.Fatalf("the slave keeps offsets on the deleted topic: %v", all["G"])
	}
	create()
	syncOnce()
	resp := newTestClient(t, slave.Addr()).call(remoting.CodePullMessage, pullExt("G", "DelT", 0, 0, 0, 0), nil)
	if resp.Code == remoting.RespSuccess {
		t.Fatalf("the slave serves %d messages of the deleted topic", len(decodeAll(t, resp.Body)))
	}
}

// A topic's offsets go with it (RocketMQ 5's deleteTopic cleans them): a
// topic created again under the name after a restart starts its queues
// at 0, where a group's old offset would skip the new messages.
func TestDeletedTopicTakesItsOffsets(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	create := func() { createDelT(t, c) }
	create()
	for range 5 {
		expectCode(t, c.send("DelT", 0, "", "old"), remoting.RespSuccess, "send")
	}
	expectCode(t, c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "G", "topic": "DelT", "queueId": "0", "commitOffset": "5"}, nil),
		remoting.RespSuccess, "commit")
	expectCode(t, c.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "DelT"}, nil), remoting.RespSuccess, "delete")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startBroker(t, cfg)
	c = newTestClient(t, b.Addr())
	create()
	resp := c.send("DelT", 0, "", "new")
	expectCode(t, resp, remoting.RespSuccess, "send new")
	firstNew := extInt(t, resp, "queueOffset")
	waitDispatched(t, b)
	resp = c.call(remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": "G", "topic": "DelT", "queueId": "0"}, nil)
	if resp.Code == remoting.RespSuccess && extInt(t, resp, "offset") > firstNew {
		t.Fatalf("group G resumes at %d, skipping the new messages from %d", extInt(t, resp, "offset"), firstNew)
	}
}
