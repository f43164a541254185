package broker

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

func TestSendAutoCreatesTopicAndPullReturnsRecord(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())

	resp := c.send("TopicTest", 1, props("UNIQ_KEY", "C0A8000100002A9F0000000000000001", "TAGS", "TagA", "KEYS", "k1 k2"), "Hello")
	id := resp.ExtFields["msgId"]
	if len(id) != 32 || strings.ToUpper(id) != id {
		t.Fatalf("msgId %q is not a 32-char uppercase offset id", id)
	}
	host, phys, err := msg.ParseOffsetMsgID(id)
	if err != nil || host.String() != b.Addr() {
		t.Fatalf("msgId %q decodes to %v %d %v, want host %s", id, host, phys, err, b.Addr())
	}
	for k, want := range map[string]string{"queueId": "1", "queueOffset": "0", "MSG_REGION": "DefaultRegion", "TRACE_ON": "true"} {
		if got := resp.ExtFields[k]; got != want {
			t.Errorf("ext %s = %q, want %q", k, got, want)
		}
	}
	tc, ok := b.topics.Get("TopicTest")
	if !ok || tc.WriteQueueNums != 4 || tc.ReadQueueNums != 4 || tc.Perm != body.PermRead|body.PermWrite {
		t.Fatalf("auto-created topic %+v %v, want 4/4 perm 6", tc, ok)
	}

	waitDispatched(t, b)
	pull := c.call(remoting.CodePullMessage, pullExt("CG", "TopicTest", 1, 0, 2, 1000), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull")
	if extInt(t, pull, "nextBeginOffset") != 1 || extInt(t, pull, "maxOffset") != 1 || extInt(t, pull, "minOffset") != 0 ||
		extInt(t, pull, "suggestWhichBrokerId") != 0 {
		t.Fatalf("pull ext %v", pull.ExtFields)
	}
	recs := decodeAll(t, pull.Body)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if string(r.Body) != "Hello" || string(r.Topic) != "TopicTest" || r.QueueID != 1 || r.QueueOffset != 0 || r.PhysOffset != phys {
		t.Fatalf("record %+v", r)
	}
	if v, _ := r.Property("CLUSTER"); v != "DefaultCluster" {
		t.Errorf("CLUSTER = %q", v)
	}
	if v, _ := r.Property("TAGS"); v != "TagA" {
		t.Errorf("TAGS = %q", v)
	}
	if r.BornHost.Addr().String() != "127.0.0.1" || r.StoreHost.String() != b.Addr() {
		t.Errorf("born %v store %v", r.BornHost, r.StoreHost)
	}
}

func TestSendValidation(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxMessageSize = 1024
	cfg.RejectTransactionMessage = true
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	c.send("Known", 0, "", "x") // creates Known with 4 queues

	for _, tt := range []struct {
		name   string
		ext    map[string]string
		body   []byte
		code   int16
		remark string
	}{
		{"illegal chars", sendExt("a b", 0, ""), []byte("x"), remoting.RespSystemError, "illegal characters"},
		{"too long", sendExt(strings.Repeat("t", 128), 0, ""), []byte("x"), remoting.RespSystemError, "max length 127"},
		{"system topic", sendExt("SCHEDULE_TOPIC_XXXX", 0, ""), []byte("x"), remoting.RespNoPermission, "forbidden"},
		{"TBW102", sendExt("TBW102", 0, ""), []byte("x"), remoting.RespSystemError, "reserved"},
		{"queue out of range", sendExt("Known", 4, ""), []byte("x"), remoting.RespSystemError, "queueId[4] is illegal"},
		{"body too large", sendExt("Known", 0, ""), make([]byte, 1025), remoting.RespMessageIllegal, "1025 bytes exceeds the limit of 1024"},
		{"transaction", sendExt("Known", 0, props("TRAN_MSG", "true")), []byte("x"), remoting.RespNoPermission, "transaction"},
		{"properties too long", sendExt("Known", 0, props("P", strings.Repeat("v", 40000))), []byte("x"), remoting.RespMessageIllegal, ""},
	} {
		resp := c.call(remoting.CodeSendMessage, tt.ext, tt.body)
		if resp.Code != tt.code || !strings.Contains(resp.Remark, tt.remark) {
			t.Errorf("%s: code %d remark %q, want %d containing %q", tt.name, resp.Code, resp.Remark, tt.code, tt.remark)
		}
	}
	for _, key := range []string{"producerGroup", "topic", "queueId", "bornTimestamp"} {
		ext := sendExt("Known", 0, "")
		delete(ext, key)
		resp := c.call(remoting.CodeSendMessage, ext, []byte("x"))
		if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, key) {
			t.Errorf("missing %s: code %d remark %q", key, resp.Code, resp.Remark)
		}
	}
	ext := sendExt("Known", 0, "")
	ext["queueId"] = "x1"
	if resp := c.call(remoting.CodeSendMessage, ext, []byte("x")); resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "queueId") {
		t.Errorf("malformed queueId: code %d remark %q", resp.Code, resp.Remark)
	}

	// Negative queue ids pick a queue at random, within the topic.
	seen := map[string]bool{}
	for range 40 {
		seen[c.send("Known", -1, "", "r").ExtFields["queueId"]] = true
	}
	if len(seen) < 2 || seen["4"] || seen["-1"] {
		t.Errorf("random queues %v", seen)
	}
}

func TestSendWithoutAutoCreate(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.AutoCreateTopicEnable = false
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	resp := c.call(remoting.CodeSendMessage, sendExt("Nope", 0, ""), []byte("x"))
	expectCode(t, resp, remoting.RespTopicNotExist, "send to unknown topic")
	if _, ok := b.topics.Get(systopic.AutoCreate); ok {
		t.Error("TBW102 exists with autoCreateTopicEnable=false")
	}
}

func TestSendV2AndBatch(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	v2 := func(topic, batch string) map[string]string {
		return map[string]string{"a": "PG", "b": topic, "c": "TBW102", "d": "4", "e": "2", "f": "0", "g": "1700000000000",
			"h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": batch, "n": "broker-a"}
	}
	resp := c.call(remoting.CodeSendMessageV2, v2("V2Topic", "false"), []byte("one"))
	expectCode(t, resp, remoting.RespSuccess, "send v2")

	var body []byte
	for i, tag := range []string{"A", "B", "C"} {
		body = msg.AppendBatchEntry(body, int32(i), []byte("batch-"+tag), props("TAGS", tag, "KEYS", "key"+tag))
	}
	resp = c.call(remoting.CodeSendBatchMessage, v2("V2Topic", "true"), body)
	expectCode(t, resp, remoting.RespSuccess, "send batch")
	ids := strings.Split(resp.ExtFields["msgId"], ",")
	if len(ids) != 3 || resp.ExtFields["queueOffset"] != "1" || resp.ExtFields["queueId"] != "2" {
		t.Fatalf("batch response ext %v", resp.ExtFields)
	}
	waitDispatched(t, b)
	pull := c.call(remoting.CodePullMessage, pullExt("CG", "V2Topic", 2, 0, 2, 0), nil)
	recs := decodeAll(t, pull.Body)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, r := range recs[1:] {
		tag, _ := r.Property("TAGS")
		cluster, _ := r.Property("CLUSTER")
		_, phys, _ := msg.ParseOffsetMsgID(ids[i])
		if r.QueueOffset != int64(i+1) || r.Flag != int32(i) || string(r.Body) != "batch-"+tag || cluster != "DefaultCluster" || r.PhysOffset != phys {
			t.Errorf("batch record %d: offset %d flag %d body %q tag %q cluster %q phys %d/%d", i, r.QueueOffset, r.Flag, r.Body, tag, cluster, r.PhysOffset, phys)
		}
	}
	// A malformed batch body and a delayed batch are refused as illegal.
	resp = c.call(remoting.CodeSendBatchMessage, v2("V2Topic", "true"), []byte{0, 0, 0, 9, 1, 2})
	expectCode(t, resp, remoting.RespMessageIllegal, "garbage batch")
	bad := msg.AppendBatchEntry(nil, 0, []byte("x"), props("DELAY", "3"))
	resp = c.call(remoting.CodeSendBatchMessage, v2("V2Topic", "true"), bad)
	expectCode(t, resp, remoting.RespMessageIllegal, "delayed batch")
	if !bytes.Contains([]byte(resp.Remark), []byte("delay")) {
		t.Errorf("remark %q", resp.Remark)
	}
}

func TestRemoveProperty(t *testing.T) {
	p := props("WAIT", "true", "TAGS", "a", "WAITX", "1")
	if got, want := msg.RemoveProperty(p, "WAIT"), props("TAGS", "a", "WAITX", "1"); got != want+"\x02" && got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// A transactional send whose DELAY no commit could route is refused when
// sent (13, as a plain send with it), not stored to fail at every commit
// and end in the check-max topic.
func TestTransactionalSendWithABadDelayIsRefused(t *testing.T) {
	b := startBroker(t, testConfig(t.TempDir()))
	c := newTestClient(t, b.Addr())
	c.send("Known", 0, "", "x")
	before := b.store.MaxPhysOffset()
	for _, p := range []string{props("DELAY", "abc"), props("TRAN_MSG", "true", "DELAY", "abc")} {
		resp := c.call(remoting.CodeSendMessage, sendExt("Known", 0, p), []byte("x"))
		if resp.Code != remoting.RespMessageIllegal || !strings.Contains(resp.Remark, "DELAY") {
			t.Errorf("send with %q: code %d %q, want 13 naming DELAY", p, resp.Code, resp.Remark)
		}
	}
	if after := b.store.MaxPhysOffset(); after != before {
		t.Fatalf("a refused send was stored: log end %d, was %d", after, before)
	}
}
