package broker

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// TestResetOffset: INVOKE_BROKER_TO_RESET_OFFSET moves a group's committed
// offsets to a time, only backwards unless forced, and answers the table.
func TestResetOffset(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "RT", "readQueueNums": "2", "writeQueueNums": "2", "perm": "6"}, nil)
	for i := range 5 {
		c.send("RT", 0, "", "early-"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	// Store times are milliseconds: mid is later than every early one
	// and earlier than every late one.
	mid := testkit.MilliAfter(time.Now().UnixMilli())
	testkit.MilliAfter(mid)
	for i := range 5 {
		c.send("RT", 0, "", "late-"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
	commit := func(q int, off int64) {
		t.Helper()
		expectCode(t, c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "RG", "topic": "RT",
			"queueId": strconv.Itoa(q), "commitOffset": strconv.FormatInt(off, 10)}, nil), remoting.RespSuccess, "commit")
	}
	reset := func(ts int64, force bool) *remoting.Command {
		return c.call(remoting.CodeInvokeBrokerToResetOffset, map[string]string{"group": "RG", "topic": "RT",
			"timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force)}, nil)
	}
	offsets := func() [2]int64 {
		var out [2]int64
		for q := range 2 {
			off, ok, err := b.store.ConsumerOffset("RG", "RT", int32(q))
			if err != nil || !ok {
				t.Fatalf("queue %d: offset %d %v %v", q, off, ok, err)
			}
			out[q] = off
		}
		return out
	}

	// Queue 1 has no offset and no messages: it gets the target, 0.
	commit(0, 10)
	resp := reset(mid, false)
	expectCode(t, resp, remoting.RespSuccess, "reset to mid")
	if got := offsets(); got != [2]int64{5, 0} {
		t.Fatalf("after reset to the middle: %v, want [5 0]", got)
	}
	want := `{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"RT"}:5,{"brokerName":"broker-a","queueId":1,"topic":"RT"}:0}}`
	if string(resp.Body) != want {
		t.Fatalf("body %s, want %s", resp.Body, want)
	}

	// Without force an offset never moves forward; with force it does.
	commit(0, 2)
	expectCode(t, reset(mid, false), remoting.RespSuccess, "reset forward, not forced")
	if got := offsets(); got[0] != 2 {
		t.Fatalf("unforced reset moved queue 0 from 2 to %d", got[0])
	}
	expectCode(t, reset(-1, true), remoting.RespSuccess, "forced reset to the end")
	if got := offsets(); got != [2]int64{10, 0} {
		t.Fatalf("after a forced reset to the end: %v, want [10 0]", got)
	}
	expectCode(t, reset(0, true), remoting.RespSuccess, "reset to the start")
	if got := offsets(); got != [2]int64{0, 0} {
		t.Fatalf("after a reset to time 0: %v, want [0 0]", got)
	}

	for _, tc := range []struct {
		name string
		ext  map[string]string
		code int16
		say  string
	}{
		{"unknown topic", map[string]string{"group": "RG", "topic": "Nope", "timestamp": "0"}, remoting.RespTopicNotExist, "no topic"},
		{"no timestamp", map[string]string{"group": "RG", "topic": "RT"}, remoting.RespSystemError, "timestamp"},
		{"bad timestamp", map[string]string{"group": "RG", "topic": "RT", "timestamp": "-5"}, remoting.RespSystemError, "timestamp -5"},
		{"no group", map[string]string{"topic": "RT", "timestamp": "0"}, remoting.RespSystemError, "group"},
	} {
		resp := c.call(remoting.CodeInvokeBrokerToResetOffset, tc.ext, nil)
		if resp.Code != tc.code || !strings.Contains(resp.Remark, tc.say) {
			t.Errorf("%s: code %d %q, want %d mentioning %q", tc.name, resp.Code, resp.Remark, tc.code, tc.say)
		}
	}
}

// TestGoClientResetOffset: a running push consumer is told of a reset and
// consumes the topic again from the new offsets.
func TestGoClientResetOffset(t *testing.T) {
	if testing.Short() {
		t.Skip("the Go client waits 10 s inside its reset handler")
	}
	cl := startCluster(t, "")
	topic, group := "GoReset", "GoResetCG"
	cl.createTopic(t, topic, 2)
	p := cl.producer(t)
	const n = 10
	for i := range n {
		if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte(fmt.Sprintf("m-%d", i)))); err != nil {
			t.Fatal(err)
		}
	}
	var r received
	cl.consumer(t, group, topic, consumer.MessageSelector{}, &r)
	eventually(t, 20*time.Second, "first pass", func() bool { return len(r.bodies()) == n })

	start := time.Now()
	c := newTestClient(t, cl.b.Addr())
	expectCode(t, c.call(remoting.CodeInvokeBrokerToResetOffset, map[string]string{"group": group, "topic": topic,
		"timestamp": "0", "isForce": "true"}, nil), remoting.RespSuccess, "reset")
	eventually(t, 40*time.Second, "every message consumed again", func() bool {
		for _, v := range r.bodies() {
			if v < 2 {
				return false
			}
		}
		return true
	})
	t.Logf("consumed again %v after the reset", time.Since(start).Round(time.Millisecond))
}

// TestResetOffsetUnknownGroup: a reset for a group with no config and no
// offset on the topic is refused with SUBSCRIPTION_GROUP_NOT_EXIST and
// stores nothing; with wharfCreateGroup the group is created and reset.
// An unforced reset says which queues kept their offset.
func TestResetOffsetUnknownGroup(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "RU", "readQueueNums": "1", "writeQueueNums": "1"}, nil)
	c.send("RU", 0, "", "x")
	waitDispatched(t, b)
	ext := map[string]string{"group": "Typo", "topic": "RU", "timestamp": "0", "isForce": "true"}
	resp := c.call(remoting.CodeInvokeBrokerToResetOffset, ext, nil)
	if resp.Code != remoting.RespSubscriptionGroupNotExist || !strings.Contains(resp.Remark, "nothing moved") {
		t.Fatalf("unknown group: code %d remark %q", resp.Code, resp.Remark)
	}
	if _, ok, _ := b.store.ConsumerOffset("Typo", "RU", 0); ok {
		t.Fatal("a refused reset stored an offset")
	}
	if _, ok := b.groups.Get("Typo"); ok {
		t.Fatal("a refused reset created the group")
	}
	ext["wharfCreateGroup"] = "true"
	resp = c.call(remoting.CodeInvokeBrokerToResetOffset, ext, nil)
	expectCode(t, resp, remoting.RespSuccess, "reset with wharfCreateGroup")
	if _, ok := b.groups.Get("Typo"); !ok {
		t.Fatal("wharfCreateGroup did not create the group")
	}
	if resp.ExtFields["wharfMovedQueues"] != "0" {
		t.Fatalf("moved queues %q, want 0", resp.ExtFields["wharfMovedQueues"])
	}
	delete(ext, "wharfCreateGroup")
	ext["timestamp"], ext["isForce"] = "-1", "false"
	resp = c.call(remoting.CodeInvokeBrokerToResetOffset, ext, nil)
	expectCode(t, resp, remoting.RespSuccess, "unforced reset to the end")
	if resp.ExtFields["wharfMovedQueues"] != "" || resp.ExtFields["wharfKeptQueues"] != "0" {
		t.Fatalf("unforced reset: moved %q kept %q, want none and 0", resp.ExtFields["wharfMovedQueues"], resp.ExtFields["wharfKeptQueues"])
	}
}
