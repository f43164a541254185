package body

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// The bytes Wharf has always written for each body (the same literals as
// broker/wirebody_test.go and nameserver/wirebody_test.go, which pinned
// them before the types moved here).
func TestGoldenBytes(t *testing.T) {
	tc := TopicConfig{TopicName: "T_1", ReadQueueNums: 8, WriteQueueNums: 8, Perm: PermRead | PermWrite, TopicFilterType: DefaultTopicFilterType, Order: true}
	sys := TopicConfig{TopicName: "%RETRY%G", ReadQueueNums: 1, WriteQueueNums: 2, Perm: 7, TopicSysFlag: 1}
	dv := DataVersion{Counter: 3, Timestamp: 1700000000000}
	gc := SubscriptionGroupConfig{GroupName: "G", ConsumeEnable: true, ConsumeFromMinEnable: true, ConsumeBroadcastEnable: true,
		RetryQueueNums: 1, RetryMaxTimes: 16, WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true}
	bd := BrokerData{BrokerName: "broker-a", Cluster: "C", BrokerAddrs: map[int64]string{1: "10.0.0.2:10911", 0: "10.0.0.1:10911"}}
	qd := QueueData{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 8}
	bdJSON := `{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"C"}`
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"TopicConfig", tc, `{"order":true,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}`},
		{"DataVersion", dv, `{"counter":3,"timestamp":1700000000000}`},
		{"TopicConfigWrapper", TopicConfigWrapper{map[string]TopicConfig{tc.TopicName: tc, sys.TopicName: sys}, dv},
			`{"topicConfigTable":{"%RETRY%G":{"order":false,"perm":7,"readQueueNums":1,"topicFilterType":"","topicName":"%RETRY%G","topicSysFlag":1,"writeQueueNums":2},` +
				`"T_1":{"order":true,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}},` +
				`"dataVersion":{"counter":3,"timestamp":1700000000000}}`},
		{"SubscriptionGroupWrapper", SubscriptionGroupWrapper{map[string]SubscriptionGroupConfig{"G": gc}, dv},
			`{"subscriptionGroupTable":{"G":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,` +
				`"groupName":"G","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}},` +
				`"dataVersion":{"counter":3,"timestamp":1700000000000}}`},
		{"TopicRouteData", TopicRouteData{BrokerDatas: []BrokerData{bd}, FilterServerTable: map[string][]string{}, QueueDatas: []QueueData{qd}},
			`{"brokerDatas":[` + bdJSON + `],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":8}]}`},
		{"TopicRouteData ordered", TopicRouteData{BrokerDatas: []BrokerData{bd}, FilterServerTable: map[string][]string{}, OrderTopicConf: "broker-a:4", QueueDatas: []QueueData{qd}},
			`{"brokerDatas":[` + bdJSON + `],"filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":8}]}`},
		{"ClusterInfo", ClusterInfo{map[string]BrokerData{"broker-a": bd}, map[string][]string{"C": {"broker-a"}}},
			`{"brokerAddrTable":{"broker-a":` + bdJSON + `},"clusterAddrTable":{"C":["broker-a"]}}`},
		{"TopicList", TopicList{[]string{"A", "B"}}, `{"topicList":["A","B"]}`},
		{"KVTable", KVTable{map[string]string{"b": "2", "a": "1"}}, `{"table":{"a":"1","b":"2"}}`},
		{"MessageQueue", MessageQueue{BrokerName: "b", QueueID: 1, Topic: "T"}, `{"brokerName":"b","queueId":1,"topic":"T"}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("%s\n got %s (%v)\nwant %s", c.name, got, err, c.want)
		}
	}
	if got := EncodeRegisterBody(map[string]TopicConfig{"T_1": tc}, dv); string(got) != `{"topicConfigSerializeWrapper":{"topicConfigTable":{"T_1":`+
		`{"order":true,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}},`+
		`"dataVersion":{"counter":3,"timestamp":1700000000000}},"filterServerList":[]}` {
		t.Errorf("RegisterBrokerBody %s", got)
	}
	name := "b \"q\" \\ é\x01\n"
	if got := AppendMessageQueue(nil, MessageQueue{BrokerName: name, QueueID: 1, Topic: "T_1"}); string(got) != `{"brokerName":"b \"q\" \\ é\u0001\n","queueId":1,"topic":"T_1"}` {
		t.Errorf("MessageQueue key %s", got)
	}
}

func TestBrokerDataClone(t *testing.T) {
	bd := BrokerData{BrokerName: "b", Cluster: "C", BrokerAddrs: map[int64]string{0: "a"}}
	c := bd.Clone()
	c.BrokerAddrs[1] = "x"
	if len(bd.BrokerAddrs) != 1 || c.BrokerName != "b" || c.Cluster != "C" {
		t.Fatalf("clone shares its map: %+v %+v", bd, c)
	}
	if (BrokerData{}).Clone().BrokerAddrs == nil {
		t.Fatal("a clone's BrokerAddrs is nil; the Go client panics on a missing brokerAddrs")
	}
}

// TestRegisterBodyRoundTrip: what the encoders write, DecodeRegisterBody
// reads back, in both forms; the compressed form loses order and
// topicSysFlag, as Java's.
func TestRegisterBodyRoundTrip(t *testing.T) {
	table := map[string]TopicConfig{
		"A":        {TopicName: "A", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: DefaultTopicFilterType, Order: true},
		"%RETRY%G": {TopicName: "%RETRY%G", ReadQueueNums: 1, WriteQueueNums: 3, Perm: 7, TopicFilterType: "MULTI_TAG", TopicSysFlag: 1},
	}
	dv := DataVersion{Counter: 9, Timestamp: -2}
	rb, err := DecodeRegisterBody(EncodeRegisterBody(table, dv), false)
	if err != nil || rb.DataVersion != dv || !maps.Equal(rb.TopicConfigTable, table) {
		t.Fatalf("JSON: %+v, %v", rb, err)
	}
	topics := []TopicConfig{table["A"], table["%RETRY%G"]}
	rb, err = DecodeRegisterBody(EncodeCompressedRegisterBody(topics, dv), true)
	want := maps.Clone(table)
	for k, tc := range want {
		tc.Order, tc.TopicSysFlag = false, 0
		want[k] = tc
	}
	if err != nil || rb.DataVersion != dv || !maps.Equal(rb.TopicConfigTable, want) {
		t.Fatalf("compressed: %+v, %v", rb, err)
	}
	// An empty table, and no topic information at all.
	if rb, err := DecodeRegisterBody(EncodeCompressedRegisterBody(nil, dv), true); err != nil || len(rb.TopicConfigTable) != 0 || rb.DataVersion != dv {
		t.Fatalf("empty compressed: %+v %v", rb, err)
	}
	if rb, err := DecodeRegisterBody(EncodeRegisterBody(nil, dv), false); err != nil || len(rb.TopicConfigTable) != 0 {
		t.Fatalf("empty JSON: %+v %v", rb, err)
	}
	for _, b := range []string{"", `{"filterServerList":[]}`} {
		if rb, err := DecodeRegisterBody([]byte(b), false); rb != nil || err != nil {
			t.Fatalf("%q: %+v %v", b, rb, err)
		}
	}
}

// TestCompressedRegisterBodyReader: raw deflate and JSON topic items are
// read; bad counts, lengths, names and numbers are errors.
func TestCompressedRegisterBodyReader(t *testing.T) {
	items := func(dv string, count int32, topics []string, tail bool) []byte {
		var raw bytes.Buffer
		put := func(s string) {
			binary.Write(&raw, binary.BigEndian, int32(len(s)))
			raw.WriteString(s)
		}
		put(dv)
		binary.Write(&raw, binary.BigEndian, count)
		for _, s := range topics {
			put(s)
		}
		if tail {
			put("[]")
		}
		return raw.Bytes()
	}
	deflate := func(raw []byte) []byte {
		var out bytes.Buffer
		fw, _ := flate.NewWriter(&out, flate.DefaultCompression)
		fw.Write(raw)
		fw.Close()
		return out.Bytes()
	}
	zlibbed := func(raw []byte) []byte {
		var out bytes.Buffer
		zw := zlib.NewWriter(&out)
		zw.Write(raw)
		zw.Close()
		return out.Bytes()
	}
	rb, err := DecodeRegisterBody(deflate(items(`{"counter":1}`, 2, []string{"A 2 2 6 SINGLE_TAG", `{"topicName":"B","readQueueNums":1,"perm":4}`}, true)), true)
	if err != nil || rb.DataVersion.Counter != 1 || rb.TopicConfigTable["A"].WriteQueueNums != 2 || rb.TopicConfigTable["B"].Perm != 4 {
		t.Fatalf("raw deflate: %+v %v", rb, err)
	}
	for name, raw := range map[string][]byte{
		"no filter list":     items(`{}`, 1, []string{"A 2 2 6 SINGLE_TAG"}, false),
		"negative count":     items(`{}`, -1, nil, true),
		"count beyond items": items(`{}`, 3, []string{"A 2 2 6 SINGLE_TAG"}, true),
		"data version":       items(`x`, 0, nil, true),
		"short item":         items(`{}`, 1, []string{"A 2 2 6"}, true),
		"bad number":         items(`{}`, 1, []string{"A 2 x 6 SINGLE_TAG"}, true),
		"no name":            items(`{}`, 1, []string{`{"readQueueNums":1}`}, true),
		"negative queues":    items(`{}`, 1, []string{"A -1 2 6 SINGLE_TAG"}, true),
		"item length":        append(items(`{}`, 0, nil, false), 0x7f, 0, 0, 0),
		"empty":              {},
	} {
		if rb, err := DecodeRegisterBody(zlibbed(raw), true); err == nil {
			t.Errorf("%s: decoded %+v", name, rb)
		}
	}
	if _, err := DecodeRegisterBody([]byte("not a stream"), true); err == nil {
		t.Error("garbage inflated")
	}
	defer func(n int) { inflateLimit = n }(inflateLimit)
	inflateLimit = 1 << 10
	huge := zlibbed(items(`{}`, 0, []string{strings.Repeat("x", inflateLimit)}, true))
	if _, err := DecodeRegisterBody(huge, true); err == nil || !strings.Contains(err.Error(), "inflates beyond") {
		t.Errorf("a body inflating beyond the limit: %v", err)
	}
	if _, err := DecodeRegisterBody([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"A":{"readQueueNums":-1}}}}`), false); err == nil {
		t.Error("negative queue numbers accepted in JSON")
	}
}

// Java 5.x appends the attributes as a sixth field, which may hold spaces.
func TestParseTopicConfigWithAttributes(t *testing.T) {
	tc, err := parseTopicConfig([]byte(`T 8 4 6 SINGLE_TAG {"+message.type":"NORMAL", "x":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	if tc != (TopicConfig{TopicName: "T", ReadQueueNums: 8, WriteQueueNums: 4, Perm: 6, TopicFilterType: "SINGLE_TAG"}) {
		t.Fatalf("%+v", tc)
	}
	if _, err := parseTopicConfig([]byte("T 8 x 6 SINGLE_TAG")); err == nil {
		t.Fatal("bad writeQueueNums accepted")
	}
}
