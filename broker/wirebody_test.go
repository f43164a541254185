package broker

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"io"
	"testing"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting/body"
)

// TestWireBodyGolden pins the bytes the broker writes for the Java body
// types, so moving them to remoting/body is proved not to change the wire.
func TestWireBodyGolden(t *testing.T) {
	tc := meta.NewTopicConfig("T_1", 8, body.PermRead|body.PermWrite)
	tc.Order = true
	sys := body.TopicConfig{TopicName: "%RETRY%G", ReadQueueNums: 1, WriteQueueNums: 2, Perm: 7, TopicSysFlag: 1}
	dv := body.DataVersion{Counter: 3, Timestamp: 1700000000000}

	got, _ := json.Marshal(tc)
	checkGolden(t, "TopicConfig", got,
		`{"order":true,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}`)

	checkGolden(t, "RegisterBrokerBody", body.EncodeRegisterBody(map[string]body.TopicConfig{"T_1": tc}, dv),
		`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T_1":{"order":true,"perm":6,"readQueueNums":8,`+
			`"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}},`+
			`"dataVersion":{"counter":3,"timestamp":1700000000000}},"filterServerList":[]}`)

	zr, err := zlib.NewReader(bytes.NewReader(body.EncodeCompressedRegisterBody([]body.TopicConfig{tc, sys}, dv)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "compressed RegisterBrokerBody", raw,
		"\x00\x00\x00\x27"+`{"counter":3,"timestamp":1700000000000}`+"\x00\x00\x00\x02"+
			"\x00\x00\x00\x14T_1 8 8 6 SINGLE_TAG"+"\x00\x00\x00\x19%RETRY%G 1 2 7 SINGLE_TAG"+
			"\x00\x00\x00\x02[]"+"\x00\x00\x00\x00")

	name := "b \"q\" \\ é\x01\n"
	checkGolden(t, "MessageQueue", body.AppendMessageQueue(nil, body.MessageQueue{BrokerName: name, QueueID: 1, Topic: "T_1"}),
		`{"brokerName":"b \"q\" \\ é\u0001\n","queueId":1,"topic":"T_1"}`)
}

func checkGolden(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s\n got %q\nwant %q", what, got, want)
	}
}
