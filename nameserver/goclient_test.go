package nameserver

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	mqerrors "github.com/apache/rocketmq-client-go/v2/errors"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// The official Go client's admin reads our topic list and parses our
// routes with its own decoder (gjson + its brokerAddrs splitter) into
// publish queues.
func TestGoClientAdmin(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1})
	ts.register(nil, broker{name: "broker-b", addr: "127.0.0.1:20911",
		topics: map[string]TopicConfig{"TopicTest": topicTest("TopicTest", 2, PermRead|PermWrite)}})

	adm, err := admin.NewAdmin(admin.WithResolver(primitive.NewPassthroughResolver([]string{ts.srv.Addr()})))
	if err != nil {
		t.Fatalf("NewAdmin: %v", err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	list, err := adm.FetchAllTopicList(ctx)
	if err != nil {
		t.Fatalf("FetchAllTopicList: %v", err)
	}
	if !slices.Equal(list.TopicList, []string{"TBW102", "TopicTest"}) {
		t.Fatalf("topic list %v", list.TopicList)
	}

	mqs, err := adm.FetchPublishMessageQueues(ctx, "TopicTest")
	if err != nil {
		t.Fatalf("FetchPublishMessageQueues: %v", err)
	}
	perBroker := map[string]int{}
	for _, mq := range mqs {
		if mq.Topic != "TopicTest" {
			t.Errorf("queue of topic %q", mq.Topic)
		}
		perBroker[mq.BrokerName]++
	}
	if perBroker["broker-a"] != 4 || perBroker["broker-b"] != 2 || len(perBroker) != 2 {
		t.Fatalf("publish queues per broker %v, want broker-a:4 broker-b:2", perBroker)
	}

	clusters, err := adm.FetchClusterList("TopicTest")
	if err != nil || !slices.Equal(clusters, []string{"DefaultCluster"}) {
		t.Fatalf("FetchClusterList: %v, %v", clusters, err)
	}

	if _, err := adm.FetchPublishMessageQueues(ctx, "Nope"); !errors.Is(err, mqerrors.ErrTopicNotExist) {
		t.Fatalf("unknown topic: err %v, want ErrTopicNotExist", err)
	}
}
