package broker

import (
	"context"
	"encoding/json"
	"maps"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/broker/slavesync"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
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

	topics, groups, offsets, delay := masterTables(t, mc)
	if _, ok := topics.TopicConfigTable["SyncT"]; !ok || topics.DataVersion.Counter == 0 {
		t.Fatalf("21: %v", topics)
	}
	if _, ok := groups.SubscriptionGroupTable["SyncG"]; !ok || groups.DataVersion.Counter == 0 {
		t.Fatalf("201: %v", groups)
	}
	wantOffsets := map[int32]int64{0: 2, 1: 1}
	if len(offsets) != 1 || !maps.Equal(offsets[body.ConsumerOffsetKey{Topic: "SyncT", Group: "SyncG"}], wantOffsets) {
		t.Fatalf("43: %v, want only SyncT@SyncG %v (no %s)", offsets, wantOffsets, schedule.OffsetGroup)
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
