package meta

import (
	"testing"

	"github.com/wharfmq/wharf/remoting/body"
)

// TestWrapperGolden pins the bytes of GET_ALL_TOPIC_CONFIG and
// GET_ALL_SUBSCRIPTIONGROUP_CONFIG (moved from the broker's
// TestWireBodyGolden with the tables).
func TestWrapperGolden(t *testing.T) {
	tc := NewTopicConfig("T_1", 8, body.PermRead|body.PermWrite)
	tc.Order = true
	sys := body.TopicConfig{TopicName: "%RETRY%G", ReadQueueNums: 1, WriteQueueNums: 2, Perm: 7, TopicSysFlag: 1}
	dv := body.DataVersion{Counter: 3, Timestamp: 1700000000000}

	tm := &Topics{topics: map[string]body.TopicConfig{tc.TopicName: tc, sys.TopicName: sys}, version: dv}
	got, _ := tm.WrapperJSON()
	checkGolden(t, "TopicConfigSerializeWrapper", got,
		`{"topicConfigTable":{"%RETRY%G":{"order":false,"perm":7,"readQueueNums":1,"topicFilterType":"","topicName":"%RETRY%G","topicSysFlag":1,"writeQueueNums":2},`+
			`"T_1":{"order":true,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"T_1","topicSysFlag":0,"writeQueueNums":8}},`+
			`"dataVersion":{"counter":3,"timestamp":1700000000000}}`)

	gm := &Groups{groups: map[string]body.SubscriptionGroupConfig{"G": NewGroupConfig("G")}, version: dv}
	got, _ = gm.WrapperJSON()
	checkGolden(t, "SubscriptionGroupWrapper", got,
		`{"subscriptionGroupTable":{"G":{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,`+
			`"groupName":"G","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}},`+
			`"dataVersion":{"counter":3,"timestamp":1700000000000}}`)
}

func checkGolden(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s\n got %q\nwant %q", what, got, want)
	}
}
