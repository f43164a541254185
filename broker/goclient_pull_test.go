package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/internal/testkit"
)

// pullConsumer is the part of the Go client's rocketmq.PullConsumer these
// tests use.
type pullConsumer interface {
	Start() error
	Shutdown() error
	Subscribe(topic string, selector consumer.MessageSelector) error
	GetTopicRouteInfo(topic string) ([]*primitive.MessageQueue, error)
	PullFrom(ctx context.Context, mq *primitive.MessageQueue, offset int64, numbers int) (*primitive.PullResult, error)
	OffsetForTimestamp(mq *primitive.MessageQueue, timestamp int64) (int64, error)
	Poll(ctx context.Context, timeout time.Duration) (*consumer.ConsumeRequest, error)
	ACK(ctx context.Context, cr *consumer.ConsumeRequest, result consumer.ConsumeResult)
	PersistOffset(ctx context.Context, topic string) error
}

func (cl *cluster) pullConsumer(t *testing.T, group, topic string, sel consumer.MessageSelector) pullConsumer {
	t.Helper()
	c, err := consumer.NewPullConsumer(consumer.WithGroupName(group), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset), consumer.WithInstance(group))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, sel); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })
	return c
}

// sortedQueues returns the topic's queues ordered by id.
func sortedQueues(t *testing.T, c pullConsumer, topic string, want int) []*primitive.MessageQueue {
	t.Helper()
	mqs, err := c.GetTopicRouteInfo(topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(mqs) != want {
		t.Fatalf("route of %s has %d queues, want %d", topic, len(mqs), want)
	}
	sort.Slice(mqs, func(i, j int) bool { return mqs[i].QueueId < mqs[j].QueueId })
	return mqs
}

// TestGoClientPullConsumer drives the official pull consumer: PullFrom at
// chosen offsets (with the status codes at and past the end),
// OffsetForTimestamp, a tag subscription, and the lite Poll/ACK loop whose
// offsets PersistOffset commits to the broker.
func TestGoClientPullConsumer(t *testing.T) {
	cl := startCluster(t, "")
	topic, group := "GoPull", "GoPullCG"
	const queues, perPhase = 4, 40
	cl.createTopic(t, topic, queues)
	p := cl.producer(t)
	ctx := ctx10s(t)

	// Two phases a few milliseconds apart, so a store timestamp splits them.
	sent := make([][]string, queues) // per queue, bodies in queue offset order
	send := func(phase, tag string) {
		for i := range perPhase {
			body := fmt.Sprintf("%s-%d", phase, i)
			res, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body)).WithTag(tag))
			if err != nil {
				t.Fatal(err)
			}
			q := res.MessageQueue.QueueId
			if int64(len(sent[q])) != res.QueueOffset {
				t.Fatalf("%s on queue %d at offset %d, want %d", body, q, res.QueueOffset, len(sent[q]))
			}
			sent[q] = append(sent[q], body)
		}
	}
	send("early", "TagA")
	// Store times are milliseconds: mid is later than every early one
	// and earlier than every late one.
	mid := testkit.MilliAfter(time.Now().UnixMilli())
	testkit.MilliAfter(mid)
	send("late", "TagB")
	early := make([]int64, queues) // per queue, how many early messages
	for q, bodies := range sent {
		for _, b := range bodies {
			if strings.HasPrefix(b, "early-") {
				early[q]++
			}
		}
	}

	c := cl.pullConsumer(t, group, topic, consumer.MessageSelector{})
	mqs := sortedQueues(t, c, topic, queues)

	t.Run("PullFrom", func(t *testing.T) {
		for q, mq := range mqs {
			want := sent[q]
			var got []string
			off := int64(0)
			for off < int64(len(want)) {
				res, err := c.PullFrom(ctx, mq, off, 7) // 7: several pulls per queue
				if err != nil {
					t.Fatalf("queue %d offset %d: %v", q, off, err)
				}
				if res.Status != primitive.PullFound {
					t.Fatalf("queue %d offset %d: status %v, want found", q, off, res.Status)
				}
				if res.MaxOffset != int64(len(want)) || res.MinOffset != 0 {
					t.Fatalf("queue %d: min/max %d/%d, want 0/%d", q, res.MinOffset, res.MaxOffset, len(want))
				}
				for _, m := range res.GetMessageExts() {
					if m.QueueOffset != int64(len(got)) {
						t.Fatalf("queue %d: message %q carries offset %d, want %d", q, m.Body, m.QueueOffset, len(got))
					}
					got = append(got, string(m.Body))
				}
				if res.NextBeginOffset != int64(len(got)) {
					t.Fatalf("queue %d: next offset %d after %d messages", q, res.NextBeginOffset, len(got))
				}
				off = res.NextBeginOffset
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("queue %d: pulled %v, sent %v", q, got, want)
			}
			// In the middle: the message at that offset comes first.
			if len(want) > 3 {
				res, err := c.PullFrom(ctx, mq, 3, 1)
				if err != nil || res.Status != primitive.PullFound || len(res.GetMessageExts()) != 1 {
					t.Fatalf("queue %d offset 3: %v %+v", q, err, res)
				}
				if m := res.GetMessageExts()[0]; string(m.Body) != want[3] || m.QueueOffset != 3 {
					t.Fatalf("queue %d offset 3: got %q at offset %d, want %q", q, m.Body, m.QueueOffset, want[3])
				}
			}
			// Past the end: an illegal offset, corrected to the end.
			res, err := c.PullFrom(ctx, mq, int64(len(want))+100, 8)
			if err != nil {
				t.Fatalf("queue %d past its end: %v", q, err)
			}
			if res.Status != primitive.PullOffsetIllegal || res.NextBeginOffset != int64(len(want)) {
				t.Fatalf("queue %d past its end: status %v next %d, want illegal offset and %d", q, res.Status, res.NextBeginOffset, len(want))
			}
		}
	})

	t.Run("OffsetForTimestamp", func(t *testing.T) {
		for q, mq := range mqs {
			cases := []struct {
				name string
				ts   int64
				want int64
			}{
				{"before the first message", mid - time.Hour.Milliseconds(), 0},
				{"between the phases", mid, early[q]},
				{"after the last message", time.Now().Add(time.Hour).UnixMilli(), int64(len(sent[q]))},
			}
			for _, tc := range cases {
				got, err := c.OffsetForTimestamp(mq, tc.ts)
				if err != nil {
					t.Fatalf("queue %d, %s: %v", q, tc.name, err)
				}
				if got != tc.want {
					t.Errorf("queue %d, %s: offset %d, want %d", q, tc.name, got, tc.want)
				}
			}
		}
	})

	t.Run("TagSubscription", func(t *testing.T) {
		tc := cl.pullConsumer(t, "GoPullTagCG", topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "TagB"})
		for q, mq := range sortedQueues(t, tc, topic, queues) {
			var got []string
			for off := int64(0); off < int64(len(sent[q])); {
				res, err := tc.PullFrom(ctx, mq, off, 32)
				if err != nil {
					t.Fatalf("queue %d offset %d: %v", q, off, err)
				}
				for _, m := range res.GetMessageExts() {
					got = append(got, string(m.Body))
				}
				if res.NextBeginOffset <= off {
					t.Fatalf("queue %d: next offset %d does not move past %d (status %v)", q, res.NextBeginOffset, off, res.Status)
				}
				off = res.NextBeginOffset
			}
			if int64(len(got)) != int64(len(sent[q]))-early[q] {
				t.Fatalf("queue %d: TagB pulled %d messages, want %d: %v", q, len(got), int64(len(sent[q]))-early[q], got)
			}
			for _, b := range got {
				if !strings.HasPrefix(b, "late-") {
					t.Fatalf("queue %d: TagB subscription got %q", q, b)
				}
			}
		}
	})

	t.Run("PollAckPersist", func(t *testing.T) {
		seen := map[string]int{}
		deadline := time.Now().Add(20 * time.Second)
		for len(seen) < 2*perPhase && time.Now().Before(deadline) {
			cr, err := c.Poll(context.Background(), time.Second)
			if errors.Is(err, consumer.ErrNoNewMsg) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range cr.GetMsgList() {
				seen[string(m.Body)]++
			}
			c.ACK(context.Background(), cr, consumer.ConsumeSuccess)
		}
		if len(seen) != 2*perPhase {
			t.Fatalf("Poll got %d distinct messages, want %d", len(seen), 2*perPhase)
		}
		for b, n := range seen {
			if n != 1 {
				t.Errorf("%s polled %d times", b, n)
			}
		}
		if err := c.PersistOffset(ctx, topic); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the group's offsets committed at each queue's end", func() bool {
			for q := range int32(queues) {
				off, ok, err := cl.b.store.ConsumerOffset(group, topic, q)
				if err != nil || !ok || off != int64(len(sent[q])) {
					return false
				}
			}
			return true
		})
	})

	// Last, because it adds a message: a PullFrom at a queue's end is held
	// by the broker (the client asks for up to 20 s) and answered as soon
	// as a message lands on that queue.
	t.Run("LongPollWakes", func(t *testing.T) {
		mq := mqs[0]
		end := int64(len(sent[0]))
		type result struct {
			res *primitive.PullResult
			err error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			res, err := c.PullFrom(context.Background(), mq, end, 8)
			done <- result{res, err}
		}()
		// Parked at the broker, it is answered by a message only.
		eventually(t, 5*time.Second, "the pull at the end held", func() bool {
			return slices.Contains(heldOffsets(cl.b, topic, int32(mq.QueueId)), end)
		})
		select {
		case r := <-done:
			t.Fatalf("pull at the end answered before any message: %v %+v", r.err, r.res)
		default:
		}
		one := producerTo(t, cl, 0)
		if _, err := one.SendSync(ctx, primitive.NewMessage(topic, []byte("wake"))); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil || r.res.Status != primitive.PullFound || len(r.res.GetMessageExts()) != 1 ||
				string(r.res.GetMessageExts()[0].Body) != "wake" || r.res.NextBeginOffset != end+1 {
				t.Fatalf("held pull: %v %+v, want the woken message", r.err, r.res)
			}
			t.Logf("held pull answered %v after it began", time.Since(start).Round(time.Millisecond))
		case <-time.After(5 * time.Second):
			t.Fatal("held pull not answered within 5 s of a message landing on its queue")
		}
	})
}

// producerTo returns a producer that sends every message to queue q.
func producerTo(t *testing.T, cl *cluster, q int) rocketmqProducer {
	t.Helper()
	sel := queueSelectorFunc(func(_ *primitive.Message, mqs []*primitive.MessageQueue, _ string) *primitive.MessageQueue {
		for _, mq := range mqs {
			if mq.QueueId == q {
				return mq
			}
		}
		return mqs[0]
	})
	return cl.producer(t, producer.WithQueueSelector(sel), producer.WithInstanceName(fmt.Sprintf("to-queue-%d", q)))
}

// queueSelectorFunc adapts a function to producer.QueueSelector.
type queueSelectorFunc func(*primitive.Message, []*primitive.MessageQueue, string) *primitive.MessageQueue

func (f queueSelectorFunc) Select(m *primitive.Message, mqs []*primitive.MessageQueue, lastBroker string) *primitive.MessageQueue {
	return f(m, mqs, lastBroker)
}
