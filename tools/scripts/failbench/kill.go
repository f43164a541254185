//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// Bounds of one kill.
const (
	failoverBound = 60 * time.Second // election, route and first send each
	rejoinBound   = 60 * time.Second // the restarted replica back in the SyncStateSet
	resumeBound   = 90 * time.Second // the push consumer's first message from the new master
	sendTimeout   = time.Second      // one send of a fresh producer
	sendSpacing   = 50 * time.Millisecond
	// watchInterval is how often the controller leader and the three name
	// servers are asked during a failover: fine enough for second-scale
	// figures, light enough not to starve the controllers on 2 cores.
	watchInterval = 25 * time.Millisecond

	// clientRoutePoll is the Go client's name server poll
	// (internal._PullNameServerInterval).
	clientRoutePoll = 30 * time.Second
)

// killSample is one kill -9 of the master; durations are from the kill.
type killSample struct {
	old, new                 string
	elect, route, send       time.Duration
	attempts                 int           // fresh producers tried until SEND_OK
	rejoin                   time.Duration // from the restart of the killed replica
	leaders                  [2]string     // the controller leader before the kill and after the election
	raftElections            int           // Raft elections started among the controllers meanwhile
	firstSendOK, firstResume time.Duration // consumer phase
	phase                    time.Duration // consumer phase: the kill's time after the client's last route poll
}

var sendSeq atomic.Int64

// newProducer starts a fresh producer of the official Go client: its own
// instance (so no route is cached), no retries, sendTimeout per send.
func newProducer(c *cluster) (rocketmq.Producer, error) {
	p, err := producer.NewDefaultProducer(producer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)),
		producer.WithGroupName("FailBenchPG"), producer.WithInstanceName(fmt.Sprintf("failbench-p%d", sendSeq.Add(1))),
		producer.WithRetry(0), producer.WithSendMsgTimeout(sendTimeout))
	if err != nil {
		return nil, err
	}
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// send sends one message and requires SEND_OK.
func send(ctx context.Context, p rocketmq.Producer, body string) error {
	sctx, cancel := context.WithTimeout(ctx, 2*sendTimeout)
	defer cancel()
	r, err := p.SendSync(sctx, primitive.NewMessage(topic, []byte(body)))
	if err != nil {
		return err
	}
	if r.Status != primitive.SendOK {
		return fmt.Errorf("send status %d", r.Status)
	}
	return nil
}

// killMaster kills the group's master with SIGKILL and returns it, its
// epoch and the time of the kill.
func killMaster(ctx context.Context, c *cluster) (*replica, int32, time.Time, error) {
	if err := c.waitInSync(ctx, group, rejoinBound); err != nil {
		return nil, 0, time.Time{}, err
	}
	m, ep, err := c.master(ctx, group)
	if err != nil {
		return nil, 0, time.Time{}, err
	}
	t0 := time.Now()
	if err := m.p.Kill(); err != nil {
		return nil, 0, time.Time{}, err
	}
	return m, ep, t0, nil
}

// watchFailover measures, from t0, the election (the controller names a
// replica other than old at an epoch above ep) and the route (every name
// server routes brokerId 0 to it), polling every watchInterval.
func watchFailover(ctx context.Context, c *cluster, old *replica, ep int32, t0 time.Time, s *killSample) error {
	var wg sync.WaitGroup
	var electErr, routeErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		electErr = poll(ctx, failoverBound, watchInterval, "new master elected", func() bool {
			m, e, _, err := c.replicaInfo(ctx, group)
			if err != nil || m == "" || m == old.addr || e <= ep {
				return false
			}
			s.elect, s.new = time.Since(t0), m
			return true
		})
	}()
	go func() {
		defer wg.Done()
		routeErr = poll(ctx, failoverBound, watchInterval, "every name server routes a new master", func() bool {
			r := c.routedMaster(ctx, topic, group)
			for _, a := range r {
				if a == "" || a == old.addr || a != r[0] {
					return false
				}
			}
			s.route = time.Since(t0)
			return true
		})
	}()
	wg.Wait()
	return errors.Join(electErr, routeErr)
}

// firstSend tries fresh producers, one send each, at most every
// sendSpacing, until one gets SEND_OK; it returns the time from t0.
func firstSend(ctx context.Context, c *cluster, t0 time.Time, tag string) (time.Duration, int, error) {
	tick := time.NewTicker(sendSpacing)
	defer tick.Stop()
	var last error
	for n := 1; time.Since(t0) < failoverBound; n++ {
		p, err := newProducer(c)
		if err == nil {
			err = send(ctx, p, fmt.Sprintf("%s-%d", tag, n))
			_ = p.Shutdown()
			if err == nil {
				return time.Since(t0), n, nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, n, context.Cause(ctx)
		case <-tick.C:
		}
	}
	return 0, 0, fmt.Errorf("no SEND_OK within %s of the kill: %w", failoverBound, last)
}

// restart starts the killed replica again and waits until it is back in
// the SyncStateSet.
func restart(ctx context.Context, c *cluster, r *replica, s *killSample) error {
	t := time.Now()
	if err := r.start(); err != nil {
		return err
	}
	if err := c.waitInSync(ctx, group, rejoinBound); err != nil {
		return err
	}
	s.rejoin = time.Since(t)
	return nil
}

func killPhase(ctx context.Context, c *cluster) ([]killSample, error) {
	var out []killSample
	for i := range *kills {
		// A new controller leader waits out every lease it may not have
		// seen renewed: a leader change around a kill is worth knowing.
		// Re-election of the same leader shows only in the logs.
		leader, err := c.findLeader(ctx)
		if err != nil {
			return out, err
		}
		raft0 := raftElections()
		old, ep, t0, err := killMaster(ctx, c)
		if err != nil {
			return out, err
		}
		s := killSample{old: old.addr, leaders: [2]string{leader}}
		var watchErr error
		done := make(chan struct{})
		go func() { defer close(done); watchErr = watchFailover(ctx, c, old, ep, t0, &s) }()
		s.send, s.attempts, err = firstSend(ctx, c, t0, fmt.Sprintf("kill%d", i))
		<-done
		if err = errors.Join(err, watchErr); err != nil {
			return out, fmt.Errorf("kill %d: %w", i, err)
		}
		if s.leaders[1], err = c.findLeader(ctx); err != nil {
			return out, err
		}
		s.raftElections = raftElections() - raft0
		if err := restart(ctx, c, old, &s); err != nil {
			return out, fmt.Errorf("kill %d: %w", i, err)
		}
		changed := ""
		if s.leaders[0] != s.leaders[1] {
			changed = fmt.Sprintf("; controller leader changed: %s -> %s", s.leaders[0], s.leaders[1])
		}
		if s.raftElections > 0 {
			changed += fmt.Sprintf("; %d controller Raft election(s) started meanwhile (a new leader waits out every lease)", s.raftElections)
		}
		fmt.Printf("kill %2d: %s -> %s elected %s, routed %s, fresh producer SEND_OK %s (%d tries), killed replica back in SyncStateSet %s after restart%s\n",
			i, s.old, s.new, ms(s.elect), ms(s.route), ms(s.send), s.attempts, ms(s.rejoin), changed)
		out = append(out, s)
	}
	return out, nil
}

// receipts records when the push consumer first got a body of each tag
// (the part before the last '-').
type receipts struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (r *receipts) note(body string) {
	tag := body
	if i := strings.LastIndexByte(body, '-'); i >= 0 {
		tag = body[:i]
	}
	r.mu.Lock()
	if _, ok := r.first[tag]; !ok {
		r.first[tag] = time.Now()
	}
	r.mu.Unlock()
}

func (r *receipts) get(tag string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.first[tag]
	return t, ok
}

// sendUntil sends tag-N bodies every interval until the consumer got the
// tag or the bound passes, with one producer that is replaced by a fresh
// one after each failed send. It returns the time of the first SEND_OK.
func sendUntil(ctx context.Context, c *cluster, got *receipts, tag string, interval, bound time.Duration) (time.Time, error) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var p rocketmq.Producer
	defer func() {
		if p != nil {
			_ = p.Shutdown()
		}
	}()
	var firstOK time.Time
	start := time.Now()
	for n := 0; ; n++ {
		if _, ok := got.get(tag); ok {
			return firstOK, nil
		}
		if time.Since(start) > bound {
			return firstOK, fmt.Errorf("the push consumer got no %s message within %s", tag, bound)
		}
		var err error
		if p == nil {
			p, err = newProducer(c)
		}
		if err == nil {
			if err = send(ctx, p, fmt.Sprintf("%s-%d", tag, n)); err == nil && firstOK.IsZero() {
				firstOK = time.Now()
			}
		}
		if err != nil && p != nil {
			_ = p.Shutdown()
			p = nil
		}
		select {
		case <-ctx.Done():
			return firstOK, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

func consumerPhase(ctx context.Context, c *cluster) ([]killSample, error) {
	got := &receipts{first: map[string]time.Time{}}
	pc, err := consumer.NewPushConsumer(consumer.WithGroupName("FailBenchCG"),
		consumer.WithNsResolver(primitive.NewPassthroughResolver(c.nsAddrs)), consumer.WithInstance("failbench-c"),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset))
	if err != nil {
		return nil, err
	}
	err = pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			got.note(string(m.Body))
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		return nil, err
	}
	started := time.Now()
	if err := pc.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = pc.Shutdown() }()
	var out []killSample
	for k := range *consKills {
		// The consumer reads from the current master before the kill.
		if _, err := sendUntil(ctx, c, got, fmt.Sprintf("pre%d", k), 200*time.Millisecond, resumeBound); err != nil {
			return out, err
		}
		if err := c.waitInSync(ctx, group, rejoinBound); err != nil {
			return out, err
		}
		// The client polls its routes 10 ms after Start and then every
		// 30 s, so the wait depends on where in that period the kill
		// falls: kill k falls (k+0.5)/N of the way through it, so a few
		// samples spread over the period instead of repeating one phase.
		phase := time.Duration((float64(k) + 0.5) / float64(*consKills) * float64(clientRoutePoll))
		wait := (phase - time.Since(started)%clientRoutePoll + clientRoutePoll) % clientRoutePoll
		select {
		case <-ctx.Done():
			return out, context.Cause(ctx)
		case <-time.After(wait):
		}
		old, _, t0, err := killMaster(ctx, c)
		if err != nil {
			return out, err
		}
		s := killSample{old: old.addr}
		tag := fmt.Sprintf("post%d", k)
		firstOK, err := sendUntil(ctx, c, got, tag, 100*time.Millisecond, resumeBound)
		if err != nil {
			return out, fmt.Errorf("consumer kill %d: %w", k, err)
		}
		first, _ := got.get(tag)
		s.firstSendOK, s.firstResume = firstOK.Sub(t0), first.Sub(t0)
		if m, _, err := c.master(ctx, group); err == nil {
			s.new = m.addr
		}
		if err := restart(ctx, c, old, &s); err != nil {
			return out, fmt.Errorf("consumer kill %d: %w", k, err)
		}
		s.phase = t0.Sub(started) % clientRoutePoll
		fmt.Printf("consumer kill %d (%.1f s after a route poll of the client): %s -> %s, first SEND_OK after the kill %s, push consumer got one %s after the kill\n",
			k, s.phase.Seconds(), s.old, s.new, ms(s.firstSendOK), ms(s.firstResume))
		out = append(out, s)
	}
	return out, nil
}

// raftElections counts the Raft elections the controllers have started so
// far, from their logs (hashicorp/raft warns "starting election" when a
// follower or candidate times out; a leader that lost its quorum first
// steps down). A controller that gains leadership, even the same one
// again, waits out every master's lease before it elects.
func raftElections() int {
	n := 0
	for i := range 3 {
		b, err := os.ReadFile(filepath.Join(*dir, fmt.Sprintf("namesrv-n%d.log", i)))
		if err == nil {
			n += bytes.Count(b, []byte("starting election"))
		}
	}
	return n
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
