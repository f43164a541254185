package nameserver

import (
	"encoding/json"
	"hash/crc32"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
	rbody "github.com/wharfmq/wharf/remoting/body"
)

func TestEncodeRegisterBody(t *testing.T) {
	body, err := EncodeRegisterBody(map[string]TopicConfig{
		"T": {ReadQueueNums: 4, WriteQueueNums: 4, Perm: PermRead | PermWrite},
	}, DataVersion{Timestamp: 1700000000000, Counter: 3})
	if err != nil {
		t.Fatal(err)
	}
	// The bytes a Wharf broker sends: fields in fastjson's (alphabetical)
	// order, one definition in remoting/body.
	want := `{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,` +
		`"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}},` +
		`"dataVersion":{"counter":3,"timestamp":1700000000000}},"filterServerList":[]}`
	if string(body) != want {
		t.Fatalf("body\n got %s\nwant %s", body, want)
	}
	bt, err := rbody.DecodeRegisterBody(body, false)
	if err != nil || bt.DataVersion.Counter != 3 || bt.TopicConfigTable["T"].Perm != 6 {
		t.Fatalf("decode: %+v, %v", bt, err)
	}

	empty, err := EncodeRegisterBody(nil, DataVersion{})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Wrapper map[string]json.RawMessage `json:"topicConfigSerializeWrapper"`
	}
	if err := json.Unmarshal(empty, &raw); err != nil || string(raw.Wrapper["topicConfigTable"]) != "{}" {
		t.Fatalf("empty table encodes as %s (%v)", empty, err)
	}
}

func TestRegisterRequest(t *testing.T) {
	body := []byte(`{"x":1}`)
	req := RegisterRequest("broker-a", "10.0.0.1:10911", "DefaultCluster", 0, body)
	if req.Code != remoting.CodeRegisterBroker {
		t.Fatalf("code %d", req.Code)
	}
	want := map[string]string{
		"brokerName": "broker-a", "brokerAddr": "10.0.0.1:10911", "clusterName": "DefaultCluster",
		"haServerAddr": "10.0.0.1:10912", "brokerId": "0", "compressed": "false",
		"bodyCrc32": strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10),
	}
	for k, v := range want {
		if req.ExtFields[k] != v {
			t.Errorf("ext %s = %q, want %q", k, req.ExtFields[k], v)
		}
	}
	if string(req.Body) != string(body) {
		t.Errorf("body %q", req.Body)
	}
}

// TestPartialRegistration: a registration with wharfBaseDataVersion merges
// its topics into the broker's; its version is kept only when the name
// server holds the base, else the reply asks for the whole table and
// QUERY_DATA_VERSION answers changed.
func TestPartialRegistration(t *testing.T) {
	ts := startServer(t, Options{})
	dv1 := DataVersion{Timestamp: 1, Counter: 1}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: dv1, topics: defaultTopics()})
	partial := func(topic string, dv, base DataVersion) *remoting.Command {
		req := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: dv,
			topics: map[string]TopicConfig{topic: topicTest(topic, 2, 6)}}.request(t)
		b, _ := json.Marshal(base)
		req.SetExt(baseVersionField, string(b))
		resp := ts.invoke(req)
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("partial %s: code %d remark %q", topic, resp.Code, resp.Remark)
		}
		return resp
	}
	changed := func(dv DataVersion) string {
		b, _ := json.Marshal(dv)
		return ts.invoke(remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{
			"brokerName": "broker-a", "brokerAddr": "127.0.0.1:10911", "clusterName": "DefaultCluster", "brokerId": "0"}, b)).ExtFields["changed"]
	}
	dv2 := DataVersion{Timestamp: 2, Counter: 2}
	if resp := partial("New1", dv2, dv1); resp.ExtFields[needTableField] != "" {
		t.Fatalf("partial on its base asked for the table: %v", resp.ExtFields)
	}
	ts.mustRoute("New1")
	ts.mustRoute("TopicTest")
	if got := changed(dv2); got != "false" {
		t.Fatalf("after a partial on its base, changed=%q for its version", got)
	}
	dv3 := DataVersion{Timestamp: 3, Counter: 3}
	if resp := partial("New2", dv3, DataVersion{Timestamp: 9, Counter: 9}); resp.ExtFields[needTableField] != "true" {
		t.Fatalf("partial on another base did not ask for the table: %v", resp.ExtFields)
	}
	ts.mustRoute("New2")
	ts.mustRoute("New1")
	if got := changed(dv3); got != "true" {
		t.Fatalf("after a partial on another base, changed=%q", got)
	}
}

// TestSplitRegistration: the parts of a split table (wharfPart i/k) merge
// as they arrive, so no route disappears in between; the last part drops
// the topics no part named. A part that does not follow the one before
// removes nothing and asks for the whole table.
func TestSplitRegistration(t *testing.T) {
	ts := startServer(t, Options{})
	abc := map[string]TopicConfig{"A": topicTest("A", 1, 6), "B": topicTest("B", 1, 6), "C": topicTest("C", 1, 6)}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Timestamp: 1, Counter: 1}, topics: abc})
	part := func(i, k int, topics map[string]TopicConfig, dv DataVersion, base *DataVersion) *remoting.Command {
		req := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: dv, topics: topics}.request(t)
		req.SetExt(partField, strconv.Itoa(i)+"/"+strconv.Itoa(k))
		if base != nil {
			b, _ := json.Marshal(base)
			req.SetExt(baseVersionField, string(b))
		}
		resp := ts.invoke(req)
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("part %d/%d: code %d remark %q", i, k, resp.Code, resp.Remark)
		}
		return resp
	}
	p1 := DataVersion{Timestamp: -1, Counter: 2}
	part(1, 2, map[string]TopicConfig{"D": topicTest("D", 1, 6)}, p1, nil)
	for _, topic := range []string{"A", "B", "C", "D"} {
		ts.mustRoute(topic) // nothing dropped before the last part
	}
	if resp := part(2, 2, map[string]TopicConfig{"A": topicTest("A", 1, 6)}, DataVersion{Timestamp: 2, Counter: 2}, &p1); resp.ExtFields[needTableField] != "" {
		t.Fatalf("last part on its base asked for the table: %v", resp.ExtFields)
	}
	ts.mustRoute("A")
	ts.mustRoute("D")
	ts.waitNoRoute("B")
	ts.waitNoRoute("C")

	// A second part whose first part was lost: merged, nothing removed, table asked for.
	resp := part(2, 2, map[string]TopicConfig{"E": topicTest("E", 1, 6)}, DataVersion{Timestamp: 3, Counter: 3}, &DataVersion{Timestamp: -1, Counter: 3})
	if resp.ExtFields[needTableField] != "true" {
		t.Fatalf("orphan part did not ask for the table: %v", resp.ExtFields)
	}
	for _, topic := range []string{"A", "D", "E"} {
		ts.mustRoute(topic)
	}
	bad := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 4}, topics: abc}.request(t)
	bad.SetExt(partField, "3/2")
	if resp := ts.invoke(bad); resp.Code != remoting.RespSystemError {
		t.Fatalf("part 3/2: code %d", resp.Code)
	}
}

// TestReplyTooLargeForAFrame: a reply body larger than a frame is refused
// with a remark (the frame limit is lowered for the test).
func TestReplyTooLargeForAFrame(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: defaultTopics()})
	defer func(v int) { maxReplyBody = v }(maxReplyBody)
	maxReplyBody = 20
	resp := ts.invoke(remoting.NewRequest(remoting.CodeGetAllTopicListFromNameServer, nil, nil))
	if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "frame limit") {
		t.Fatalf("code %d remark %q, want SYSTEM_ERROR naming the frame limit", resp.Code, resp.Remark)
	}
}

// TestSplitRegistrationPartCountBounded: k in wharfPart "i/k" comes from
// the wire. A k beyond what any broker sends is refused with SYSTEM_ERROR
// (it once sized a map, so "1/10000000" in a 400-byte request allocated
// ~850 MiB under the registry lock, and a k near 2^62 overflowed the size
// and panicked); the largest k accepted costs memory for the topics that
// arrived, not for k; and a normal split registration still works.
func TestSplitRegistrationPartCountBounded(t *testing.T) {
	ts := startServer(t, Options{})
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Timestamp: 1, Counter: 1}, topics: defaultTopics()}
	for _, part := range []string{"1/10000000", "1/4611686018427387904", "1/" + strconv.Itoa(maxParts+1), "1/", "x/2", "0/2"} {
		req := b.request(t)
		req.SetExt(partField, part)
		if resp := ts.invoke(req); resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, partField) {
			t.Errorf("part %q: code %d remark %q, want SYSTEM_ERROR naming %s", part, resp.Code, resp.Remark, partField)
		}
	}

	// The largest k accepted: memory follows the two topics received.
	req := b.request(t)
	req.SetExt(partField, "1/"+strconv.Itoa(maxParts))
	reg, err := decodeRegistration(req)
	if err != nil {
		t.Fatalf("part 1/%d: %v", maxParts, err)
	}
	r := newRegistry()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if _, err := r.register(reg, time.Now()); err != nil {
		t.Fatalf("register part 1/%d: %v", maxParts, err)
	}
	runtime.ReadMemStats(&m1)
	// Generous: the registration itself needs a few KiB; sizing by k
	// (2 topics × 2^20) took over 60 MiB.
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 4<<20 {
		t.Errorf("part 1/%d of a 2-topic table allocated %d KiB", maxParts, got>>10)
	}

	// A real split registration is unaffected.
	p1 := DataVersion{Timestamp: -1, Counter: 2}
	first := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: p1, topics: map[string]TopicConfig{"P1": topicTest("P1", 1, 6)}}.request(t)
	first.SetExt(partField, "1/2")
	if resp := ts.invoke(first); resp.Code != remoting.RespSuccess {
		t.Fatalf("part 1/2: code %d remark %q", resp.Code, resp.Remark)
	}
	last := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Timestamp: 2, Counter: 2}, topics: map[string]TopicConfig{"P2": topicTest("P2", 1, 6)}}.request(t)
	last.SetExt(partField, "2/2")
	base, _ := json.Marshal(p1)
	last.SetExt(baseVersionField, string(base))
	if resp := ts.invoke(last); resp.Code != remoting.RespSuccess || resp.ExtFields[needTableField] != "" {
		t.Fatalf("part 2/2: code %d remark %q ext %v", resp.Code, resp.Remark, resp.ExtFields)
	}
	ts.mustRoute("P1")
	ts.mustRoute("P2")
}
