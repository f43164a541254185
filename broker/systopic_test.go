package broker

import (
	"strings"
	"testing"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// TestDeleteSystemTopicRefused: DELETE_TOPIC_IN_BROKER refuses every system
// topic (fixed names, cluster and broker names, the reply topic, the trace
// topic) with a remark, and the topic stays; an ordinary topic goes.
func TestDeleteSystemTopicRefused(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.TraceTopicEnable = true
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	for _, topic := range []string{systopic.AutoCreate, systopic.Schedule, systopic.TransHalf, systopic.TransOpHalf, systopic.TransCheck,
		systopic.SelfTest, systopic.OffsetMoved, cfg.BrokerClusterName, cfg.BrokerName, meta.ReplyTopic(cfg.BrokerClusterName),
		cfg.MsgTraceTopicName, "rmq_sys_anything"} {
		_, existed := b.topics.Get(topic)
		resp := c.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": topic}, nil)
		if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "system topic") {
			t.Errorf("delete %s: code %d remark %q, want SYSTEM_ERROR naming a system topic", topic, resp.Code, resp.Remark)
		}
		if _, ok := b.topics.Get(topic); ok != existed {
			t.Errorf("delete %s: topic existed=%v, exists now=%v", topic, existed, ok)
		}
	}
	c.send("Ordinary", 0, "", "x")
	expectCode(t, c.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "Ordinary"}, nil), remoting.RespSuccess, "delete ordinary")
}
