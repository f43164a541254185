package broker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// TestGoClientConnectionsAndRunningInfo: the official Go client's producer
// and push consumer, as GET_PRODUCER_CONNECTION_LIST (204),
// GET_CONSUMER_CONNECTION_LIST (203) list them from their heartbeats, and
// GET_CONSUMER_RUNNING_INFO (307) forwarded by the broker to the consumer
// and answered by the client itself. (The Go client's admin API has none
// of these calls, so they go on the wire as mqadmin sends them.)
func TestGoClientConnectionsAndRunningInfo(t *testing.T) {
	cl := startCluster(t, "")
	const topic, group = "GoConnTopic", "GoConnCG"
	cl.createTopic(t, topic, 2)
	p := cl.producer(t)
	if _, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	var r received
	cl.consumer(t, group, topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "a || b"}, &r)

	c := newTestClient(t, cl.b.Addr())
	var cc body.ConsumerConnection
	eventually(t, 20*time.Second, "the consumer's heartbeat", func() bool {
		resp := c.call(remoting.CodeGetConsumerConnectionList, map[string]string{"consumerGroup": group}, nil)
		return resp.Code == remoting.RespSuccess && json.Unmarshal(resp.Body, &cc) == nil
	})
	if len(cc.ConnectionSet) != 1 || cc.ConnectionSet[0].Language != "GO" || cc.ConnectionSet[0].ClientID == "" || cc.MessageModel != "Clustering" && cc.MessageModel != "CLUSTERING" {
		t.Fatalf("consumer connection %+v", cc)
	}
	if s, ok := cc.SubscriptionTable[topic]; !ok || len(s.TagsSet) != 2 {
		t.Fatalf("subscription of %s: %+v", topic, cc.SubscriptionTable)
	}
	clientID := cc.ConnectionSet[0].ClientID

	resp := c.call(remoting.CodeGetProducerConnectionList, map[string]string{"producerGroup": "PG_" + t.Name()}, nil)
	expectCode(t, resp, remoting.RespSuccess, "producer connections")
	var pc body.ProducerConnection
	if err := json.Unmarshal(resp.Body, &pc); err != nil || len(pc.ConnectionSet) != 1 || pc.ConnectionSet[0].Language != "GO" {
		t.Fatalf("producer connection %s (%v)", resp.Body, err)
	}

	// The client answers with its ConsumerRunningInfo (properties first).
	resp = c.call(remoting.CodeGetConsumerRunningInfo, map[string]string{"consumerGroup": group, "clientId": clientID, "jstackEnable": "false"}, nil)
	expectCode(t, resp, remoting.RespSuccess, "running info")
	if !strings.Contains(string(resp.Body), `"properties"`) || !strings.Contains(string(resp.Body), topic) {
		t.Fatalf("running info body %.300s", resp.Body)
	}
	expectCode(t, c.call(remoting.CodeGetConsumerRunningInfo, map[string]string{"consumerGroup": group, "clientId": "nobody@1"}, nil),
		remoting.RespSystemError, "running info of a client not online")
}
