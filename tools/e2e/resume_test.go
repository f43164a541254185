package e2e

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/remoting"
)

// goClientPullTimeout is the official Go client's fixed timeout of one
// pull request (rmqClient.PullMessage); goClientPullErrorDelay is its pause
// after a failed pull (_PullDelayTimeWhenError).
const (
	goClientPullTimeout    = 30 * time.Second
	goClientPullErrorDelay = 3 * time.Second
)

// TestPushConsumerResumesAfterRestart measures how long a running
// official-client push consumer, caught up and with its pulls held by the
// broker, takes to consume again after the broker restarts: after a
// SIGTERM (the broker answers the held pulls with SERVICE_NOT_AVAILABLE,
// the client waits 3 s and pulls the restarted broker) and after a kill -9
// (nobody answers them; the Go client does not fail requests pending on a
// connection that died, so each waits out its 30 s timeout, then 3 s,
// unless the client's 20 s rebalance finds that the restarted broker does
// not know it yet, drops the queues and takes them again with new pulls).
// Resume time is counted from the restarted broker serving to the first
// new message consumed; the figures are logged, and the bounds checked are
// what the client's timers allow, not a speed.
func TestPushConsumerResumesAfterRestart(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	ns := startNameServer(t)
	setup := newBrokerSetup(t, ns.Addr(), "SYNC_FLUSH")
	pc := newProbe(setup.addr)
	defer pc.Close()
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	resolver := primitive.NewPassthroughResolver([]string{ns.Addr()})
	const topic = "E2E_RESUME"

	proc := setup.start(t)
	if _, err := proc.until(10*time.Second, pc.serving); err != nil {
		t.Fatal(err)
	}
	if err := pc.createTopic(ctx5s(t), topic, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
		return routed(ctx, nsc, ns.Addr(), topic, setup.addr)
	}); err != nil {
		t.Fatal(err)
	}
	prod, err := producer.NewDefaultProducer(producer.WithNsResolver(resolver),
		producer.WithGroupName("E2E_RESUME_PG"), producer.WithRetry(2), producer.WithSendMsgTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.Start(); err != nil {
		t.Fatal(err)
	}
	defer prod.Shutdown()
	var consumed atomic.Int64
	c, err := consumer.NewPushConsumer(consumer.WithGroupName("E2E_RESUME_CG"), consumer.WithNsResolver(resolver),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		consumed.Add(int64(len(ms)))
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()

	sent := 0
	// sendAndWait sends two messages (round robin: one per queue) and
	// returns how long the
	// consumer took to have them.
	sendAndWait := func(within time.Duration) (time.Duration, bool) {
		start := time.Now()
		for range 2 {
			m := primitive.NewMessage(topic, []byte("m-"+strconv.Itoa(sent)))
			if _, err := prod.SendSync(ctx5s(t), m); err != nil {
				t.Fatalf("send: %v", err)
			}
			sent++
		}
		for consumed.Load() < int64(sent) {
			if time.Since(start) > within {
				return time.Since(start), false
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start), true
	}
	if _, ok := sendAndWait(30 * time.Second); !ok {
		t.Fatal("the consumer did not start consuming")
	}
	restart := func(how string, stop func()) time.Duration {
		// Let the consumer's next pulls reach the broker and be held.
		time.Sleep(500 * time.Millisecond)
		stop()
		proc = setup.start(t)
		if _, err := proc.until(10*time.Second, pc.serving); err != nil {
			t.Fatalf("restart after %s: %v", how, err)
		}
		serving := time.Now()
		if _, err := proc.until(10*time.Second, func(ctx context.Context) error {
			return routed(ctx, nsc, ns.Addr(), topic, setup.addr)
		}); err != nil {
			t.Fatal(err)
		}
		bound := 2*goClientPullErrorDelay + 5*time.Second
		if how == "kill -9" {
			bound += goClientPullTimeout
		}
		if _, ok := sendAndWait(bound); !ok {
			t.Fatalf("after %s the consumer did not consume within %v of the broker serving again", how, bound)
		}
		return time.Since(serving)
	}
	clean := restart("SIGTERM", func() { proc.terminate(t, 15*time.Second) })
	killed := restart("kill -9", func() { proc.kill(t) })
	t.Logf("push consumer resumes (restarted broker serving -> new message consumed): after SIGTERM %v, after kill -9 %v",
		clean.Round(10*time.Millisecond), killed.Round(10*time.Millisecond))
	proc.terminate(t, 15*time.Second)
}
