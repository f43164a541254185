package broker

import (
	"bufio"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

func TestAdminTopics(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	ext := map[string]string{"topic": "AdminT", "defaultTopic": "TBW102", "readQueueNums": "3", "writeQueueNums": "3",
		"perm": "6", "topicFilterType": "SINGLE_TAG", "topicSysFlag": "0", "order": "false"}
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, ext, nil), remoting.RespSuccess, "create")
	ext["topic"] = "bad topic"
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, ext, nil), remoting.RespSystemError, "create bad name")

	resp := c.call(remoting.CodeGetAllTopicConfig, nil, nil)
	var all body.TopicConfigWrapper
	if err := json.Unmarshal(resp.Body, &all); err != nil {
		t.Fatal(err)
	}
	if tc := all.TopicConfigTable["AdminT"]; tc.ReadQueueNums != 3 || tc.Perm != 6 || all.TopicConfigTable["TBW102"].Perm != 7 {
		t.Fatalf("table %+v", all.TopicConfigTable)
	}
	c.send("AdminT", 2, "", "x")
	waitDispatched(t, b)
	expectCode(t, c.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "AdminT"}, nil), remoting.RespSuccess, "delete")
	if _, ok := b.topics.Get("AdminT"); ok {
		t.Fatal("topic still there")
	}
	if _, ok := b.store.QueueState("AdminT", 2); ok {
		t.Fatal("queue still there")
	}
	c.call(remoting.CodeHeartBeat, nil, heartbeatBody("1.2.3.4@5", "AG", 1, "X"))
	resp = c.call(remoting.CodeGetAllSubscriptionGroupConfig, nil, nil)
	var groups struct {
		SubscriptionGroupTable map[string]body.SubscriptionGroupConfig `json:"subscriptionGroupTable"`
	}
	if err := json.Unmarshal(resp.Body, &groups); err != nil || groups.SubscriptionGroupTable["AG"].RetryMaxTimes != 16 {
		t.Fatalf("groups %s %v", resp.Body, err)
	}
}

func TestQueryAndViewMessage(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	resp := c.send("QT", 0, props("KEYS", "order-1 order-2", "UNIQ_KEY", "AABBCCDD"), "payload")
	c.send("QT", 0, props("KEYS", "other"), "other")
	waitDispatched(t, b)
	q := func(key string) *remoting.Command {
		return c.call(remoting.CodeQueryMessage, map[string]string{"topic": "QT", "key": key, "maxNum": "32",
			"beginTimestamp": "0", "endTimestamp": strconv.FormatInt(time.Now().UnixMilli()+1000, 10)}, nil)
	}
	for _, key := range []string{"order-2", "AABBCCDD"} {
		r := q(key)
		expectCode(t, r, remoting.RespSuccess, "query "+key)
		recs := decodeAll(t, r.Body)
		if len(recs) != 1 || string(recs[0].Body) != "payload" || r.ExtFields["indexLastUpdateTimestamp"] == "" {
			t.Fatalf("query %s: %d records %v", key, len(recs), r.ExtFields)
		}
	}
	expectCode(t, q("missing"), remoting.RespQueryNotFound, "query missing")

	_, phys, _ := msg.ParseOffsetMsgID(resp.ExtFields["msgId"])
	view := c.call(remoting.CodeViewMessageByID, map[string]string{"offset": strconv.FormatInt(phys, 10)}, nil)
	expectCode(t, view, remoting.RespSuccess, "view")
	if recs := decodeAll(t, view.Body); len(recs) != 1 || string(recs[0].Body) != "payload" {
		t.Fatal("view returned the wrong record")
	}
	expectCode(t, c.call(remoting.CodeViewMessageByID, map[string]string{"offset": "123456789"}, nil), remoting.RespSystemError, "view bad offset")
}

// TestBadRequestsNeverPanic sends every served code with no ext fields and
// a garbage body: each gets an error reply with a remark, and the broker
// still works afterwards.
func TestBadRequestsNeverPanic(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	codes := []int16{10, 11, 12, 14, 15, 17, 29, 30, 31, 32, 33, 34, 38, 41, 42, 215, 310, 320}
	for _, code := range codes {
		resp := c.call(code, map[string]string{"queueId": "zz", "topic": "\x00"}, []byte("\xff garbage"))
		if resp.Code == remoting.RespSuccess || resp.Remark == "" {
			t.Errorf("code %d: reply %d %q, want an error with a remark", code, resp.Code, resp.Remark)
		}
		if resp.Remark == "" || len(resp.Remark) > 0 && resp.Code == 1 && resp.Remark == "internal error" {
			t.Errorf("code %d: unhelpful remark %q", code, resp.Remark)
		}
	}
	expectCode(t, c.call(999, nil, nil), remoting.RespRequestCodeNotSupported, "unknown code")
	c.send("StillWorks", 0, "", "x")
}

func TestMalformedFrameThenClientWorks(t *testing.T) {
	b := startBroker(t, config.Config{})
	for _, garbage := range [][]byte{
		[]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		{0, 0, 0, 8, 0, 0, 0, 200, 1, 2, 3, 4},                              // header longer than frame
		{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},                                // frame too large
		{0, 0, 0, 9, 1, 0, 0, 5, 1, 2, 3, 4, 5},                             // truncated binary header
		append([]byte{0, 0, 0, 20, 0, 0, 0, 16}, "{\"code\":\"x\"}xxxx"...), // bad types
	} {
		conn, err := net.DialTimeout("tcp", b.Addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		conn.Write(garbage)
		// The broker closes this connection (or answers an error); either
		// way reading ends before the deadline.
		r := bufio.NewReader(conn)
		_, err = r.ReadByte()
		for err == nil {
			_, err = r.ReadByte()
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("garbage %q: connection left open", garbage)
		}
		conn.Close()
	}
	c := newTestClient(t, b.Addr())
	c.send("AfterGarbage", 0, "", "x")
}

func TestRestartKeepsTopicsMessagesAndOffsets(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := openBroker(t, cfg)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, b.Addr())
	for i := range 10 {
		c.send("RT", i%2, "", "m"+strconv.Itoa(i))
	}
	c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "RG", "topic": "RT", "queueId": "1", "commitOffset": "3"}, nil)
	c.call(remoting.CodeHeartBeat, nil, heartbeatBody("1.2.3.4@5", "RG", 1, "RT"))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, cfg)
	c2 := newTestClient(t, b2.Addr())
	if tc, ok := b2.topics.Get("RT"); !ok || tc.WriteQueueNums != 4 {
		t.Fatalf("topic after restart %+v %v", tc, ok)
	}
	if _, ok := b2.groups.Get("RG"); !ok {
		t.Fatal("group lost")
	}
	resp := c2.call(remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": "RG", "topic": "RT", "queueId": "1"}, nil)
	if resp.ExtFields["offset"] != "3" {
		t.Fatalf("offset after restart %v", resp.ExtFields)
	}
	pull := c2.call(remoting.CodePullMessage, pullExt("RG", "RT", 1, 3, 0, 0), nil)
	if recs := decodeAll(t, pull.Body); len(recs) != 2 || string(recs[0].Body) != "m7" {
		t.Fatalf("after restart %d records", len(recs))
	}
	if r := c2.send("RT", 1, "", "new"); r.ExtFields["queueOffset"] != "5" {
		t.Fatalf("offsets continue: %v", r.ExtFields)
	}
}

// A topic whose config meta/ lost (its newest Pebble writes gone with a
// damaged WAL after a crash) while its queues hold messages gets its config
// back at start, with the queues the store holds: its acknowledged
// messages stay reachable instead of hiding behind "topic does not exist".
func TestRestartRestoresTheConfigOfATopicWithMessages(t *testing.T) {
	cfg := testConfig(t.TempDir())
	b := openBroker(t, cfg)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, b.Addr())
	for i := range 6 {
		c.send("LostConf", i%3, "", "m"+strconv.Itoa(i))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openBroker(t, cfg) // not started: only to reach its store
	if err := b.store.DeleteTopicConfig("LostConf"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, cfg)
	tc, ok := b2.topics.Get("LostConf")
	if !ok || tc.ReadQueueNums != 3 || tc.WriteQueueNums != 3 || tc.Perm != body.PermRead|body.PermWrite {
		t.Fatalf("topic after restart %+v %v; want 3 queues, RW", tc, ok)
	}
	c2 := newTestClient(t, b2.Addr())
	pull := c2.call(remoting.CodePullMessage, pullExt("LG", "LostConf", 2, 0, 0, 0), nil)
	if recs := decodeAll(t, pull.Body); pull.Code != remoting.RespSuccess || len(recs) != 2 || string(recs[0].Body) != "m2" {
		t.Fatalf("pull after restart: code %d %s, %d records", pull.Code, pull.Remark, len(recs))
	}
}
