package admin

import "testing"

func TestDecodeFastjsonTables(t *testing.T) {
	// fastjson's object keys, a standard-JSON string key, spaces and a
	// brace inside a string.
	body := []byte(`{"consumeTps":1.5, "offsetTable":{{"brokerName":"b}","queueId":1,"topic":"T"}:{"brokerOffset":9,"consumerOffset":4,"lastTimestamp":7},
 "{\"brokerName\":\"b}\",\"queueId\":0,\"topic\":\"T\"}" : {"brokerOffset":3,"consumerOffset":3,"lastTimestamp":0}}}`)
	cs, err := DecodeConsumeStats(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []QueueOffsetWrapper{
		{MessageQueue{BrokerName: "b}", QueueID: 0, Topic: "T"}, OffsetWrapper{BrokerOffset: 3, ConsumerOffset: 3, LastTimestamp: 0}},
		{MessageQueue{BrokerName: "b}", QueueID: 1, Topic: "T"}, OffsetWrapper{BrokerOffset: 9, ConsumerOffset: 4, LastTimestamp: 7}},
	}
	if cs.ConsumeTps != 1.5 || len(cs.Queues) != 2 || cs.Queues[0] != want[0] || cs.Queues[1] != want[1] {
		t.Fatalf("%+v", cs)
	}
	if qs, err := DecodeTopicStats([]byte(`{"offsetTable":{}}`)); err != nil || len(qs) != 0 {
		t.Fatalf("empty table: %v %v", qs, err)
	}
	// Truncations and garbage are errors, never panics.
	for i := range body {
		if _, err := DecodeConsumeStats(body[:i]); err == nil && i > 0 {
			t.Fatalf("prefix of %d bytes decoded", i)
		}
	}
	for _, bad := range []string{``, `[]`, `{"offsetTable":[1]}`, `{"offsetTable":{1:2}}`, `{"a" 1}`, `{"a":1 "b":2}`, `{{}:1}`, `"`, `{"offsetTable":{{"queueId":"x"}:{}}}`} {
		if _, err := DecodeConsumeStats([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
