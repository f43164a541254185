package nameserver

import (
	"encoding/json"
	"testing"
)

// TestRouteBodyGolden pins the bytes of the route bodies the name server
// writes, so moving their types to remoting/body is proved not to change
// the wire.
func TestRouteBodyGolden(t *testing.T) {
	bd := BrokerData{BrokerName: "broker-a", Cluster: "C", BrokerAddrs: map[int64]string{1: "10.0.0.2:10911", 0: "10.0.0.1:10911"}}
	rd := TopicRouteData{
		BrokerDatas:       []BrokerData{bd},
		FilterServerTable: map[string][]string{},
		QueueDatas:        []QueueData{{BrokerName: "broker-a", Perm: PermRead | PermWrite, ReadQueueNums: 4, WriteQueueNums: 8, TopicSysFlag: 0}},
	}
	got, _ := json.Marshal(rd)
	want := `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"C"}],` +
		`"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":8}]}`
	if string(got) != want {
		t.Errorf("TopicRouteData\n got %s\nwant %s", got, want)
	}
	rd.OrderTopicConf = "broker-a:4"
	got, _ = json.Marshal(rd)
	want = `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"C"}],` +
		`"filterServerTable":{},"orderTopicConf":"broker-a:4","queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":8}]}`
	if string(got) != want {
		t.Errorf("TopicRouteData with orderTopicConf\n got %s\nwant %s", got, want)
	}

	ci := ClusterInfo{BrokerAddrTable: map[string]BrokerData{"broker-a": bd}, ClusterAddrTable: map[string][]string{"C": {"broker-a"}}}
	got, _ = json.Marshal(ci)
	want = `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"C"}},` +
		`"clusterAddrTable":{"C":["broker-a"]}}`
	if string(got) != want {
		t.Errorf("ClusterInfo\n got %s\nwant %s", got, want)
	}

	got, _ = json.Marshal(TopicList{TopicList: []string{"A", "B"}})
	if want := `{"topicList":["A","B"]}`; string(got) != want {
		t.Errorf("TopicList\n got %s\nwant %s", got, want)
	}
}
