package broker

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// TestGoClientSQL92 subscribes the official client with SQL92 selectors
// against a broker with enablePropertyFilter: a push consumer (the broker
// filters by the heartbeat's expression) and a pull consumer (the
// expression comes with every pull) each get exactly the matching messages.
// Without enablePropertyFilter the pull fails with RocketMQ's error.
func TestGoClientSQL92(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.EnablePropertyFilter = true
	cl := startClusterWith(t, cfg)
	topic := "GoSQL"
	cl.createTopic(t, topic, 2)
	p := cl.producer(t)
	ctx := ctx10s(t)
	const n = 60
	pushWant, pullWant := map[string]int{}, map[string]int{}
	for i := range n {
		body := fmt.Sprintf("sql-%d", i)
		region := []string{"eu", "us", "ap"}[i%3]
		tag := []string{"TagA", "TagB"}[i%2]
		m := primitive.NewMessage(topic, []byte(body)).WithTag(tag)
		m.WithProperty("a", strconv.Itoa(i))
		m.WithProperty("region", region)
		if i%10 == 0 {
			m.WithProperty("rare", "yes")
		}
		if _, err := p.SendSync(ctx, m); err != nil {
			t.Fatal(err)
		}
		if i > 5 && region == "eu" {
			pushWant[body] = 1
		}
		if tag == "TagB" && i >= 10 && i <= 20 || i%10 == 0 && i > 0 {
			pullWant[body] = 1
		}
	}

	var r received
	cl.consumer(t, "GoSQLPush", topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "a > 5 AND region = 'eu'"}, &r)
	eventually(t, 20*time.Second, "SQL92 push messages", func() bool { return hasAll(r.bodies(), pushWant) })
	if got := r.bodies(); len(got) != len(pushWant) {
		t.Errorf("push consumer got %d distinct messages, want %d: %v", len(got), len(pushWant), got)
	}

	pc := cl.pullConsumer(t, "GoSQLPull", topic, consumer.MessageSelector{Type: consumer.SQL92,
		Expression: "(TAGS = 'TagB' AND a BETWEEN 10 AND 20) OR (rare IS NOT NULL AND a <> 0)"})
	got := map[string]int{}
	for _, mq := range sortedQueues(t, pc, topic, 2) {
		for off, pulls := int64(0), 0; ; pulls++ {
			if pulls > n {
				t.Fatalf("queue %d: no end after %d pulls", mq.QueueId, pulls)
			}
			res, err := pc.PullFrom(ctx, mq, off, 4)
			if err != nil {
				t.Fatalf("queue %d offset %d: %v", mq.QueueId, off, err)
			}
			for _, m := range res.GetMessageExts() {
				got[string(m.Body)]++
			}
			if res.Status == primitive.PullNoNewMsg || res.NextBeginOffset >= res.MaxOffset {
				break
			}
			if res.NextBeginOffset <= off {
				t.Fatalf("queue %d: status %v, next offset %d after %d", mq.QueueId, res.Status, res.NextBeginOffset, off)
			}
			off = res.NextBeginOffset
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(pullWant) {
		t.Errorf("pull consumer got %v, want %v", got, pullWant)
	}

	// The same pull against a broker left at the default fails.
	off := startCluster(t, "")
	off.createTopic(t, topic, 1)
	pc2 := off.pullConsumer(t, "GoSQLOff", topic, consumer.MessageSelector{Type: consumer.SQL92, Expression: "a > 5"})
	_, err := pc2.PullFrom(ctx, sortedQueues(t, pc2, topic, 1)[0], 0, 4)
	if err == nil || !strings.Contains(err.Error(), "does not support consumer to filter message by SQL92") {
		t.Errorf("pull from a broker without enablePropertyFilter: %v", err)
	}
}
