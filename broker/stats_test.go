package broker

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/tools/admin"
)

func createTopic(t *testing.T, c *testClient, topic string, queues int) {
	t.Helper()
	n := strconv.Itoa(queues)
	resp := c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": topic, "readQueueNums": n, "writeQueueNums": n, "perm": "6"}, nil)
	expectCode(t, resp, remoting.RespSuccess, "create "+topic)
}

func storeTime(t *testing.T, b *Broker, topic string, queueID int32, offset int64) int64 {
	t.Helper()
	e, ok, err := b.store.Meta().EntryAt(topic, queueID, offset)
	if err != nil || !ok {
		t.Fatalf("entry %s/%d@%d: ok %v err %v", topic, queueID, offset, ok, err)
	}
	return e.StoreTime
}

func TestStatsTopic(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	const topic = "StatsT"
	createTopic(t, c, topic, 2)
	for range 3 {
		c.send(topic, 0, "", "x")
	}
	waitDispatched(t, b)

	resp := c.call(remoting.CodeGetTopicStatsInfo, map[string]string{"topic": topic}, nil)
	expectCode(t, resp, remoting.RespSuccess, "topic stats")
	// fastjson's form: the MessageQueue key is an object, fields sorted.
	empty := `{"brokerName":"` + b.cfg.BrokerName + `","queueId":1,"topic":"StatsT"}:{"lastUpdateTimestamp":0,"maxOffset":0,"minOffset":0}}}`
	if !strings.HasPrefix(string(resp.Body), `{"offsetTable":{{"brokerName":`) || !strings.HasSuffix(string(resp.Body), empty) {
		t.Fatalf("body is not in fastjson's form: %s", resp.Body)
	}
	qs, err := admin.DecodeTopicStats(resp.Body)
	if err != nil {
		t.Fatalf("decode %s: %v", resp.Body, err)
	}
	if len(qs) != 2 {
		t.Fatalf("queues: %+v", qs)
	}
	for i, q := range qs {
		st, _ := b.store.QueueState(topic, int32(i))
		var last int64
		if st.Max > 0 {
			last = storeTime(t, b, topic, int32(i), st.Max-1)
		}
		if q.Topic != topic || q.BrokerName != b.cfg.BrokerName || q.QueueID != int32(i) ||
			q.MinOffset != st.Min || q.MaxOffset != st.Max || q.LastUpdateTimestamp != last {
			t.Fatalf("queue %d: %+v, store %+v last %d", i, q, st, last)
		}
	}
	if qs[0].MaxOffset != 3 || qs[0].LastUpdateTimestamp == 0 {
		t.Fatalf("queue 0: %+v", qs[0])
	}

	resp = c.call(remoting.CodeGetTopicStatsInfo, map[string]string{"topic": "NoSuchTopic"}, nil)
	expectCode(t, resp, remoting.RespTopicNotExist, "unknown topic")
	if resp.Remark != "topic[NoSuchTopic] not exist" {
		t.Fatalf("remark %q", resp.Remark)
	}
	if resp := c.call(remoting.CodeGetTopicStatsInfo, nil, nil); resp.Code == remoting.RespSuccess || resp.Remark == "" {
		t.Fatalf("no topic header: code %d %q", resp.Code, resp.Remark)
	}
}

func TestConsumeStats(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	const topic, group = "StatsCT", "StatsCG"
	createTopic(t, c, topic, 2)
	for i := range 5 {
		c.send(topic, i%2, "", "x")
	}
	waitDispatched(t, b)
	commit := func(q int, off int64) {
		resp := c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic,
			"queueId": strconv.Itoa(q), "commitOffset": strconv.FormatInt(off, 10)}, nil)
		expectCode(t, resp, remoting.RespSuccess, "commit")
	}
	commit(0, 2)

	for _, ext := range []map[string]string{{"consumerGroup": group, "topic": topic}, {"consumerGroup": group}} {
		resp := c.call(remoting.CodeGetConsumeStats, ext, nil)
		expectCode(t, resp, remoting.RespSuccess, "consume stats")
		if !strings.HasPrefix(string(resp.Body), `{"consumeTps":0.0,"offsetTable":{{"brokerName":`) {
			t.Fatalf("body is not in fastjson's form: %s", resp.Body)
		}
		cs, err := admin.DecodeConsumeStats(resp.Body)
		if err != nil {
			t.Fatalf("decode %s: %v", resp.Body, err)
		}
		// Queue 0 holds 3, committed 2; queue 1 holds 2, nothing committed.
		// The retry topic does not exist on the broker: not listed.
		want := []admin.OffsetWrapper{{BrokerOffset: 3, ConsumerOffset: 2, LastTimestamp: storeTime(t, b, topic, 0, 1)}, {BrokerOffset: 2}}
		if len(cs.Queues) != 2 || cs.ConsumeTps != 0 {
			t.Fatalf("%v: %+v", ext, cs)
		}
		for i, q := range cs.Queues {
			if q.Topic != topic || q.QueueID != int32(i) || q.BrokerName != b.cfg.BrokerName || q.OffsetWrapper != want[i] {
				t.Fatalf("%v: queue %d %+v, want %+v", ext, i, q, want[i])
			}
		}
	}

	// Committing moves consumerOffset and lastTimestamp; a retry topic the
	// group has is listed without --topic.
	commit(1, 2)
	retry := retry.TopicPrefix + group
	createTopic(t, c, retry, 1)
	resp := c.call(remoting.CodeGetConsumeStats, map[string]string{"consumerGroup": group}, nil)
	expectCode(t, resp, remoting.RespSuccess, "consume stats")
	cs, err := admin.DecodeConsumeStats(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Queues) != 3 || cs.Queues[0].Topic != retry || cs.Queues[0].OffsetWrapper != (admin.OffsetWrapper{}) ||
		cs.Queues[2].ConsumerOffset != 2 || cs.Queues[2].LastTimestamp != storeTime(t, b, topic, 1, 1) {
		t.Fatalf("after commit: %+v", cs)
	}

	resp = c.call(remoting.CodeGetConsumeStats, map[string]string{"consumerGroup": "NoSuchGroup"}, nil)
	expectCode(t, resp, remoting.RespSubscriptionGroupNotExist, "unknown group")
	if !strings.Contains(resp.Remark, "NoSuchGroup") {
		t.Fatalf("remark %q", resp.Remark)
	}
	// A known group and a topic the broker lacks: an empty table, as Java.
	resp = c.call(remoting.CodeGetConsumeStats, map[string]string{"consumerGroup": group, "topic": "NoSuchTopic"}, nil)
	expectCode(t, resp, remoting.RespSuccess, "unknown topic")
	if string(resp.Body) != `{"consumeTps":0.0,"offsetTable":{}}` {
		t.Fatalf("body %s", resp.Body)
	}
	if resp := c.call(remoting.CodeGetConsumeStats, nil, nil); resp.Code == remoting.RespSuccess || resp.Remark == "" {
		t.Fatalf("no group header: code %d %q", resp.Code, resp.Remark)
	}
}

func TestRuntimeInfo(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	const topic = "StatsRT"
	createTopic(t, c, topic, 1)
	for range 4 {
		c.send(topic, 0, "", "x")
	}
	waitDispatched(t, b)
	pull := c.call(remoting.CodePullMessage, pullExt("StatsRG", topic, 0, 0, 0, 0), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull")
	if n := len(decodeAll(t, pull.Body)); n != 4 {
		t.Fatalf("pulled %d", n)
	}

	resp := c.call(remoting.CodeGetBrokerRuntimeInfo, nil, nil)
	expectCode(t, resp, remoting.RespSuccess, "runtime info")
	ac := admin.New(admin.Options{})
	defer ac.Close()
	tbl, err := ac.BrokerRuntimeInfo(t.Context(), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cl := b.store.CommitLog()
	first := storeTime(t, b, topic, 0, 0)
	for k, want := range map[string]string{
		"brokerVersionDesc":        "V4_9_8",
		"brokerVersion":            "409",
		"msgPutTotalTodayNow":      "4",
		"msgGetTotalTodayNow":      "4",
		"commitLogMinOffset":       strconv.FormatInt(cl.MinOffset(), 10),
		"commitLogMaxOffset":       strconv.FormatInt(cl.End(), 10),
		"dispatchBehindBytes":      "0",
		"pageCacheLockTimeMills":   "0",
		"earliestMessageTimeStamp": strconv.FormatInt(first, 10),
		"bootTimestamp":            strconv.FormatInt(b.stats.boot.UnixMilli(), 10),
	} {
		if tbl[k] != want {
			t.Errorf("%s = %q, want %q", k, tbl[k], want)
		}
	}
	if !strings.HasPrefix(tbl["runtime"], "[ 0 days, 0 hours, ") || tbl["commitLogDiskRatio"] == "" || tbl["putTps"] == "" {
		t.Errorf("table: %v", tbl)
	}
	if r, err := strconv.ParseFloat(tbl["commitLogDiskRatio"], 64); err != nil || r <= 0 || r > 1 {
		t.Errorf("commitLogDiskRatio %q", tbl["commitLogDiskRatio"])
	}
	// Process figures: the test client and the admin client are connected;
	// heapLive is 0 until the first GC.
	for k, least := range map[string]int64{"goroutines": 1, "heapInuse": 1, "heapLive": 0, "goSys": 1, "connections": 2, "openFds": 1} {
		if v, err := strconv.ParseInt(tbl[k], 10, 64); err != nil || v < least {
			t.Errorf("%s = %q, want >= %d", k, tbl[k], least)
		}
	}
}

func TestStatsFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := formatRuntime(90061e9); got != "[ 1 days, 1 hours, 1 minutes, 1 seconds ]" {
		t.Errorf("formatRuntime = %q", got)
	}
	if got := string(body.AppendJavaDouble(nil, 2.5)); got != "2.5" {
		t.Errorf("double %q", got)
	}
}
