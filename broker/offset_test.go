package broker

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/broker/slavesync"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

func TestOffsets(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	q := func(code int16, ext map[string]string) *remoting.Command {
		e := map[string]string{"consumerGroup": "OG", "topic": "OT", "queueId": "0"}
		for k, v := range ext {
			e[k] = v
		}
		return c.call(code, e, nil)
	}
	// A new group on a missing (young) queue starts at 0 (trap T7).
	resp := q(remoting.CodeQueryConsumerOffset, nil)
	expectCode(t, resp, remoting.RespSuccess, "query young")
	if resp.ExtFields["offset"] != "0" {
		t.Fatalf("young queue offset %v", resp.ExtFields)
	}
	before := time.Now().UnixMilli()
	for i := range 5 {
		c.send("OT", 0, "", "m"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	if got := q(remoting.CodeGetMaxOffset, nil).ExtFields["offset"]; got != "5" {
		t.Errorf("max offset %q", got)
	}
	if got := q(remoting.CodeGetMinOffset, nil).ExtFields["offset"]; got != "0" {
		t.Errorf("min offset %q", got)
	}
	if got := q(remoting.CodeSearchOffsetByTimestamp, map[string]string{"timestamp": "0"}).ExtFields["offset"]; got != "0" {
		t.Errorf("search at 0: %q", got)
	}
	if got := q(remoting.CodeSearchOffsetByTimestamp, map[string]string{"timestamp": strconv.FormatInt(time.Now().UnixMilli()+60000, 10)}).ExtFields["offset"]; got != "5" {
		t.Errorf("search in the future: %q", got)
	}
	ts := extInt(t, q(remoting.CodeGetEarliestMsgStoreTime, nil), "timestamp")
	if ts < before-1000 || ts > time.Now().UnixMilli() {
		t.Errorf("earliest store time %d, sent after %d", ts, before)
	}
	if got := q(remoting.CodeGetEarliestMsgStoreTime, map[string]string{"queueId": "3"}).ExtFields["timestamp"]; got != "-1" {
		t.Errorf("earliest on empty queue %q", got)
	}
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "3"}), remoting.RespSuccess, "update")
	if got := q(remoting.CodeQueryConsumerOffset, nil).ExtFields["offset"]; got != "3" {
		t.Errorf("committed offset %q", got)
	}
	// -1 is accepted and reads back as "none", hence the young rule again.
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "-1"}), remoting.RespSuccess, "update -1")
	if resp := q(remoting.CodeQueryConsumerOffset, nil); resp.Code != 0 || resp.ExtFields["offset"] != "0" {
		t.Errorf("after -1: %d %v", resp.Code, resp.ExtFields)
	}
	expectCode(t, q(remoting.CodeUpdateConsumerOffset, map[string]string{"commitOffset": "x"}), remoting.RespSystemError, "bad commitOffset")
}

func TestQueryConsumerOffsetOldQueue(t *testing.T) {
	b := startBroker(t, config.Config{})
	b.offsets.SetYoungQueue(50, 0) // 100 messages are then "old"
	c := newTestClient(t, b.Addr())
	for range 100 {
		c.send("Old", 0, "", "x")
	}
	c.send("Old", 1, "", "x")
	waitDispatched(t, b)
	ext := map[string]string{"consumerGroup": "NewGroup", "topic": "Old", "queueId": "0"}
	resp := c.call(remoting.CodeQueryConsumerOffset, ext, nil)
	expectCode(t, resp, remoting.RespQueryNotFound, "new group on an old queue")
	ext["queueId"] = "1"
	resp = c.call(remoting.CodeQueryConsumerOffset, ext, nil)
	if resp.Code != remoting.RespSuccess || resp.ExtFields["offset"] != "0" {
		t.Fatalf("small queue: %d %v", resp.Code, resp.ExtFields)
	}
}

// TestOffsetUpdatesApplyInWireOrder: the Go client commits offsets with
// oneway UPDATE_CONSUMER_OFFSET requests, and after a reset it sends the
// old and the new offset of a queue back to back. Updates on one
// connection must land in the order they were sent, or the older one can
// win and the reset is lost.
func TestOffsetUpdatesApplyInWireOrder(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	const n = 50
	for range n + 10 { // stored offsets are clamped to the queue's end
		c.send("OW", 0, "", "x")
	}
	waitDispatched(t, b)
	for round := range 20 {
		want := int64(round + 1)                  // a different final value each round
		for off := int64(n); off >= want; off-- { // descending: the last one sent is the smallest
			req := remoting.NewRequest(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "OWG", "topic": "OW",
				"queueId": "0", "commitOffset": strconv.FormatInt(off, 10)}, nil)
			if err := c.c.InvokeOneway(b.Addr(), req); err != nil {
				t.Fatal(err)
			}
		}
		// Oneway requests have no reply to wait for: poll the store.
		eventually(t, 5*time.Second, fmt.Sprintf("round %d: the last update stored", round), func() bool {
			off, ok, _ := b.store.ConsumerOffset("OWG", "OW", 0)
			return ok && off == want
		})
		// A request read after the updates is served after every update
		// the reader applied in order; stragglers of a reordering would land
		// after it. Then check again.
		c.call(remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": "OWG", "topic": "OW", "queueId": "0"}, nil)
		if off, _, _ := b.store.ConsumerOffset("OWG", "OW", 0); off != want {
			t.Fatalf("round %d: stored offset %d after the last update set %d: updates applied out of order", round, off, want)
		}
	}
}

// A slave answers QUERY_CONSUMER_OFFSET with the offset its master
// committed even when its own queue lags behind it: clamped to the slave's
// end, the answer sent a consumer back while the master was down, the
// consumer committed the lower value, and the next sync kept it (messages
// consumed twice). A master still clamps: its queue may have lost a tail.
func TestSlaveAnswersTheCommittedOffsetPastItsLaggingEnd(t *testing.T) {
	query := func(b *Broker) int64 {
		t.Helper()
		c := newTestClient(t, b.Addr())
		resp := c.call(remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": "G", "topic": "LagT", "queueId": "0"}, nil)
		expectCode(t, resp, remoting.RespSuccess, "query")
		return extInt(t, resp, "offset")
	}

	slave := startSlaveBroker(t)
	replicate(t, slave, "LagT", 3) // the slave holds 3 of the master's 5
	// The master committed 5; the sync merges it in this way.
	if err := slave.offsets.Merge("G", "LagT", 0, func(int64, bool) (int64, bool) { return 5, true }); err != nil {
		t.Fatal(err)
	}
	if got := query(slave); got != 5 {
		t.Fatalf("slave answers offset %d for a committed 5 (its queue ends at 3)", got)
	}

	master := startBroker(t, config.Config{})
	replicate(t, master, "LagT", 3)
	if err := master.store.CommitOffset("G", "LagT", 0, 5); err != nil {
		t.Fatal(err)
	}
	if got := query(master); got != 3 {
		t.Fatalf("master answers offset %d past its queue end 3", got)
	}
}

// The broker keeps its own progress as offsets of reserved groups (the
// scheduler's, the transaction checker's, a slave's merge state). A client
// that names such a group in an offset or subscription-group request is
// refused as for any invalid group name (code 1, a remark naming the
// prefix): before, UPDATE_CONSUMER_OFFSET to wharf:schedule overwrote the
// scheduler's progress, and the other requests could move or delete it.
func TestClientsCannotUseReservedGroups(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MessageDelayLevel = "1s 2s"
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	// A record under the slave's prefix, which nothing on a master writes,
	// for DELETE_SUBSCRIPTIONGROUP's cleanOffset to aim at.
	syncGroup := slavesync.StateGroupPrefix + "G"
	if err := b.store.CommitOffset(syncGroup, "T", 0, 42); err != nil {
		t.Fatal(err)
	}
	progress, err := b.sched.Progress()
	if err != nil {
		t.Fatal(err)
	}
	offsetsBefore, err := b.offsets.All()
	if err != nil {
		t.Fatal(err)
	}

	schedQueue := map[string]string{"topic": systopic.Schedule, "queueId": "0"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	pull := pullExt(schedule.OffsetGroup, systopic.Schedule, 0, 0, pullCommitOffset, 0)
	pull["commitOffset"] = "1000000"
	for _, tc := range []struct {
		what string
		code int16
		ext  map[string]string
		body []byte
	}{
		{"update offset", remoting.CodeUpdateConsumerOffset,
			with(schedQueue, "consumerGroup", schedule.OffsetGroup, "commitOffset", "1000000"), nil},
		{"update offset of a slave's merge state", remoting.CodeUpdateConsumerOffset,
			map[string]string{"consumerGroup": syncGroup, "topic": "T", "queueId": "0", "commitOffset": "1"}, nil},
		{"query offset", remoting.CodeQueryConsumerOffset, with(schedQueue, "consumerGroup", schedule.OffsetGroup), nil},
		{"pull with the commit flag", remoting.CodePullMessage, pull, nil},
		{"heartbeat", remoting.CodeHeartBeat, nil, heartbeatBody("c1", transaction.OffsetGroup, 1, "T")},
		{"create subscription group", remoting.CodeUpdateAndCreateSubscriptionGroup, nil,
			[]byte(`{"groupName":"` + transaction.OffsetGroup + `"}`)},
		{"delete subscription group with its offsets", remoting.CodeDeleteSubscriptionGroup,
			map[string]string{"groupName": syncGroup, "cleanOffset": "true"}, nil},
		{"reset offset", remoting.CodeInvokeBrokerToResetOffset, with(schedQueue, "group", schedule.OffsetGroup,
			"timestamp", "-1", "isForce", "true", "wharfCreateGroup", "true"), nil},
		{"send back", remoting.CodeConsumerSendMsgBack,
			map[string]string{"group": schedule.OffsetGroup, "offset": "0", "delayLevel": "0"}, nil},
	} {
		resp := c.call(tc.code, tc.ext, tc.body)
		expectCode(t, resp, remoting.RespSystemError, tc.what)
		if !strings.Contains(resp.Remark, "reserved") || !strings.Contains(resp.Remark, strconv.Quote(meta.ReservedGroupPrefix)) {
			t.Errorf("%s: remark %q does not name the reserved prefix %q", tc.what, resp.Remark, meta.ReservedGroupPrefix)
		}
	}

	if now, err := b.sched.Progress(); err != nil || !maps.Equal(now, progress) {
		t.Fatalf("scheduler progress %v (%v), was %v", now, err, progress)
	}
	offsetsAfter, err := b.offsets.All()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(offsetsAfter, offsetsBefore, maps.Equal[map[engine.QueueRef]int64]) {
		t.Fatalf("offsets %v, were %v", offsetsAfter, offsetsBefore)
	}
	gcs, _ := b.groups.Snapshot()
	for g := range gcs {
		if strings.HasPrefix(g, meta.ReservedGroupPrefix) {
			t.Errorf("a client created subscription group %q", g)
		}
	}
}
