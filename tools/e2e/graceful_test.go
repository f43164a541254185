package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// Shape of TestConsumerStopThenSigterm: small rounds, so that 20 fit in
// about a minute.
const (
	stopRounds   = 20
	stopPerRound = 24
	stopTopic    = "E2E_STOP"
	stopGroup    = "E2E_STOP_CG"
	stopQueues   = 4
)

// TestConsumerStopThenSigterm is issue 9 §7: an official-client push
// consumer stops (its Shutdown sends the final offsets as oneway
// UPDATE_CONSUMER_OFFSET requests and closes its connections) and the
// broker gets SIGTERM at once. The offsets the consumer sent must survive:
// after the restart every queue's committed offset is its max offset and
// the next consumer of the group gets only the new messages. 20 rounds.
func TestConsumerStopThenSigterm(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	ns := startNameServer(t)
	setup := newBrokerSetup(t, ns.Addr(), "ASYNC_FLUSH")
	pc := newProbe(setup.addr)
	defer pc.Close()
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	resolver := primitive.NewPassthroughResolver([]string{ns.Addr()})

	proc := setup.start(t)
	if _, err := proc.until(10*time.Second, pc.serving); err != nil {
		t.Fatal(err)
	}
	if err := pc.createTopic(ctx5s(t), stopTopic, stopQueues); err != nil {
		t.Fatal(err)
	}
	prod, err := producer.NewDefaultProducer(producer.WithNsResolver(resolver),
		producer.WithGroupName("E2E_STOP_PG"), producer.WithInstanceName("e2e-stop-p"),
		producer.WithRetry(2), producer.WithSendMsgTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Start(); err != nil {
		t.Fatal(err)
	}
	defer prod.Shutdown()

	got := &deliveries{count: map[string]int{}}
	var stops []time.Duration
	start := time.Now()
	for round := range stopRounds {
		if round > 0 {
			prev := proc
			proc = setup.start(t)
			if _, err := proc.until(10*time.Second, pc.serving); err != nil {
				t.Fatalf("restart %d: %v", round, err)
			}
			// What the stopped consumer committed must be there.
			for q := range int32(stopQueues) {
				committed, maxOff, err := pc.committed(ctx5s(t), stopGroup, stopTopic, q)
				if err != nil {
					t.Fatalf("round %d queue %d: %v", round, q, err)
				}
				if committed != maxOff {
					t.Errorf("round %d: queue %d committed offset %d after the SIGTERM, max offset %d: "+
						"%d consumed messages will be delivered again", round, q, committed, maxOff, maxOff-committed)
				}
			}
			if t.Failed() {
				t.Fatalf("log of the run stopped:\n%s", prev.logTail())
			}
		}
		if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
			return routed(ctx, nsc, ns.Addr(), stopTopic, setup.addr)
		}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		prefix := "r" + strconv.Itoa(round) + "-"
		for i := range stopPerRound {
			m := primitive.NewMessage(stopTopic, []byte(prefix+strconv.Itoa(i)))
			if _, err := prod.SendSync(ctx5s(t), m); err != nil {
				t.Fatalf("round %d send %d: %v", round, i, err)
			}
		}
		c, err := consumer.NewPushConsumer(consumer.WithGroupName(stopGroup), consumer.WithNsResolver(resolver),
			consumer.WithInstance(fmt.Sprintf("e2e-stop-%d", round)),
			consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Subscribe(stopTopic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			got.add(ms)
			return consumer.ConsumeSuccess, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if !testkit.Within(20*time.Second, func() bool { return got.withPrefix(prefix) >= stopPerRound }) {
			c.Shutdown()
			t.Fatalf("round %d: consumed %d of %d", round, got.withPrefix(prefix), stopPerRound)
		}
		// The client advances its local offsets after the callback returns
		// (on a loaded machine not at once); this pause does not narrow the
		// race under test, which is between Shutdown and the SIGTERM.
		time.Sleep(300 * time.Millisecond)
		if err := c.Shutdown(); err != nil {
			t.Fatalf("round %d: consumer shutdown: %v", round, err)
		}
		stops = append(stops, proc.terminate(t, 15*time.Second))
	}
	proc = setup.start(t)
	if _, err := proc.until(10*time.Second, pc.serving); err != nil {
		t.Fatal(err)
	}
	for q := range int32(stopQueues) {
		committed, maxOff, err := pc.committed(ctx5s(t), stopGroup, stopTopic, q)
		if err != nil || committed != maxOff {
			t.Errorf("after the last round: queue %d committed %d, max %d, err %v", q, committed, maxOff, err)
		}
	}
	proc.terminate(t, 15*time.Second)
	redelivered := got.redelivered()
	t.Logf("consumer stop then SIGTERM x %d in %v: %d messages consumed, %d redelivered; SIGTERM to exit max %v",
		stopRounds, time.Since(start).Round(time.Millisecond), len(got.count), redelivered,
		percentile(stops, 1).Round(time.Millisecond))
	if redelivered != 0 {
		t.Errorf("%d messages delivered again after a consumer stop and a SIGTERM", redelivered)
	}
	if len(got.count) != stopRounds*stopPerRound {
		t.Errorf("consumed %d distinct messages, sent %d", len(got.count), stopRounds*stopPerRound)
	}
}

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// deliveries counts the deliveries of each body.
type deliveries struct {
	mu    sync.Mutex
	count map[string]int
}

func (d *deliveries) add(ms []*primitive.MessageExt) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range ms {
		d.count[string(m.Body)]++
	}
}

func (d *deliveries) withPrefix(p string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for b := range d.count {
		if strings.HasPrefix(b, p) {
			n++
		}
	}
	return n
}

func (d *deliveries) redelivered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.count {
		n += c - 1
	}
	return n
}

// committed returns a group's committed offset of a queue and the queue's
// max offset.
func (pc *probeClient) committed(ctx context.Context, group, topic string, queueID int32) (committed, maxOffset int64, err error) {
	q := strconv.Itoa(int(queueID))
	resp, err := pc.invoke(ctx, remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic, "queueId": q})
	if err != nil {
		return 0, 0, err
	}
	if resp.Code != remoting.RespSuccess {
		return 0, 0, fmt.Errorf("QUERY_CONSUMER_OFFSET %s/%s: code %d %s", topic, q, resp.Code, resp.Remark)
	}
	if committed, err = strconv.ParseInt(resp.ExtFields["offset"], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("QUERY_CONSUMER_OFFSET %s/%s: offset %q", topic, q, resp.ExtFields["offset"])
	}
	resp, err = pc.invoke(ctx, remoting.CodeGetMaxOffset, map[string]string{"topic": topic, "queueId": q})
	if err != nil {
		return 0, 0, err
	}
	if resp.Code != remoting.RespSuccess {
		return 0, 0, fmt.Errorf("GET_MAX_OFFSET %s/%s: code %d %s", topic, q, resp.Code, resp.Remark)
	}
	if maxOffset, err = strconv.ParseInt(resp.ExtFields["offset"], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("GET_MAX_OFFSET %s/%s: offset %q", topic, q, resp.ExtFields["offset"])
	}
	return committed, maxOffset, nil
}
