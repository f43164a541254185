package nameserver

import (
	"strings"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

// TestDeleteSystemTopicRefused: DELETE_TOPIC_IN_NAMESRV refuses every
// system topic, including the registered cluster and broker names and the
// cluster's reply topic, and their routes stay; an ordinary topic goes.
func TestDeleteSystemTopicRefused(t *testing.T) {
	ts := startServer(t, Options{})
	system := []string{"TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
		"TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "RMQ_SYS_TRACE_TOPIC",
		"DefaultCluster", "broker-a", "DefaultCluster_REPLY_TOPIC", "rmq_sys_x"}
	topics := defaultTopics()
	for _, s := range system {
		topics[s] = topicTest(s, 1, PermRead|PermWrite)
	}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: topics})
	for _, topic := range system {
		resp := ts.invoke(remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": topic}, nil))
		if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "system topic") {
			t.Errorf("delete %s: code %d remark %q, want SYSTEM_ERROR naming a system topic", topic, resp.Code, resp.Remark)
		}
		ts.mustRoute(topic)
	}
	// Another cluster's reply topic is an ordinary name here.
	resp := ts.invoke(remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "TopicTest"}, nil))
	if resp.Code != remoting.RespSuccess {
		t.Fatalf("delete TopicTest: code %d remark %q", resp.Code, resp.Remark)
	}
}
