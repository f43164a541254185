package e2e

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/tools/admin"
)

// groupsLongFlag selects the long TestTwoGroupsMasterDies (make stress).
var groupsLongFlag = flag.Bool("groups-long", false, "TestTwoGroupsMasterDies keeps master-a down across the Go client's 30 s route poll and checks the consumer reads broker-a's backlog from slave-a (or $WHARF_E2E_GROUPS_LONG=1; make stress)")

func groupsLong() bool { return *groupsLongFlag || os.Getenv("WHARF_E2E_GROUPS_LONG") == "1" }

const (
	groupsTopic  = "E2E_GROUPS"
	groupsCG     = "E2E_GROUPS_CG"
	groupsQueues = 4 // per group
	// groupsPullThreshold caps the messages the consumer holds per queue
	// (the client stops pulling above it), so a backlog stays on the
	// broker while consumption is held.
	groupsPullThreshold = 16
	// routePoll is rocketmq-client-go's fixed route poll
	// (_PullNameServerInterval): the first poll runs 10 ms after Start,
	// then one every 30 s.
	routePoll = 30 * time.Second
)

// consumedLog records what the push consumer was given, by key.
type consumedLog struct {
	mu       sync.Mutex
	copies   map[string]int
	byBroker map[string]int     // deliveries per brokerName
	next     map[queueRef]int64 // one past the highest queue offset delivered
}

func (c *consumedLog) add(ms []*primitive.MessageExt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range ms {
		c.copies[m.GetKeys()]++
		if m.Queue != nil {
			c.byBroker[m.Queue.BrokerName]++
			if c.next == nil {
				c.next = map[queueRef]int64{}
			}
			q := queueRef{m.Queue.BrokerName, m.Queue.Topic, int32(m.Queue.QueueId)}
			c.next[q] = max(c.next[q], m.QueueOffset+1)
		}
	}
}

// progress is, per queue of broker, one past the highest offset
// delivered so far.
func (c *consumedLog) progress(broker string) map[queueRef]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[queueRef]int64{}
	for q, n := range c.next {
		if q.broker == broker {
			out[q] = n
		}
	}
	return out
}

func (c *consumedLog) from(broker string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byBroker[broker]
}

// missing returns how many of as were never consumed, and the first few.
func (c *consumedLog) missing(as []acked) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	var first []string
	for _, a := range as {
		if c.copies[a.key] == 0 {
			n++
			if len(first) < 10 {
				first = append(first, fmt.Sprintf("%s (%s/%s/%d@%d)", a.key, a.broker, a.topic, a.queueID, a.offset))
			}
		}
	}
	return n, first
}

func (c *consumedLog) duplicates() (dups, keys int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.copies {
		dups += n - 1
	}
	return dups, len(c.copies)
}

// gate holds consumption while closed. A held call waits at most a
// minute, so a failing test cannot hang on it.
type gate struct {
	mu sync.Mutex
	ch chan struct{} // closed while open
}

func newGate(open bool) *gate {
	g := &gate{ch: make(chan struct{})}
	if open {
		close(g.ch)
	}
	return g
}

// hold closes the gate: consumption stops after the batch in hand.
func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
		g.ch = make(chan struct{})
	default:
	}
}

// open lets consumption go on.
func (g *gate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
	default:
		close(g.ch)
	}
}

func (g *gate) wait() {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(time.Minute):
	}
}

// consumerOffset asks the broker for the group's committed offset of a
// queue (QUERY_CONSUMER_OFFSET, 14); -1 when it has none.
func (pc *probeClient) consumerOffset(ctx context.Context, group, topic string, queueID int32) (int64, error) {
	resp, err := pc.invoke(ctx, remoting.CodeQueryConsumerOffset, map[string]string{"consumerGroup": group,
		"topic": topic, "queueId": strconv.Itoa(int(queueID))})
	if err != nil {
		return 0, err
	}
	switch resp.Code {
	case remoting.RespSuccess:
		return resp.ExtInt64("offset")
	case remoting.RespQueryNotFound:
		return -1, nil
	}
	return 0, fmt.Errorf("consumer offset of %s %s/%d: code %d %s", group, topic, queueID, resp.Code, resp.Remark)
}

// groupOffsets are a consumer group's committed offsets on the masters,
// by (broker, queue).
func groupOffsets(t *testing.T, gs ...*group) (map[queueRef]int64, error) {
	t.Helper()
	out := map[queueRef]int64{}
	for _, g := range gs {
		for q := range int32(groupsQueues) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			off, err := g.probe(masterNode).consumerOffset(ctx, groupsCG, groupsTopic, q)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", g.name, err)
			}
			out[queueRef{g.name, groupsTopic, q}] = off
		}
	}
	return out, nil
}

// waitSlaveTrusted waits until g's master reports its slave connected
// and trusted (GET_BROKER_RUNTIME_INFO), so a SYNC_MASTER answers 0
// rather than 11; it returns how long that took.
func waitSlaveTrusted(t *testing.T, ac *admin.Client, g *group, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var tbl map[string]string
	var err error
	ok := testkit.Within(within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		tbl, err = ac.BrokerRuntimeInfo(ctx, g.addr(masterNode))
		if err != nil || tbl["haSlaveCount"] != "1" {
			return false
		}
		for k, v := range tbl {
			if strings.HasPrefix(k, "haSlave.") && strings.Contains(v, "trusted=true") {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("%s master: no trusted slave within %v (err %v, table %v)", g.name, within, err, tbl)
	}
	return time.Since(start)
}

// TestTwoGroupsMasterDies is issue 11's two-group proof: name servers ×2,
// broker-a and broker-b each a SYNC_MASTER with a slave, one topic on both
// groups, 4 official-client sync producers (2 retries, a 1 s attempt, 5 s
// per send) and a push consumer group. master-a is killed with -9 while
// they run: sync sends keep succeeding through broker-b (0 failed sends;
// answers 11/12 after master-a returns, until slave-a reconnects, are
// counted and logged, not failures), the consumer keeps consuming, and
// after master-a is restarted every SEND_OK key is consumed at least once,
// no committed offset is below where it stood before the kill nor, on
// master-a, below what was consumed while it was down (the Go client
// commits to masters only: master-a returns with its old table, which
// must not win), every SEND_OK is readable through its group's slave, and
// the duplicates are logged.
//
// Duration: the short version (make test) kills master-a 2 s after the
// clients start and keeps it down 4 s, between their first route poll and
// their second, so no route ever drops it. The client's pull timeout is
// 30 s and fixed (rmqClient.PullMessage), and a long-polling pull in
// flight to master-a at the kill is not failed when the connection drops;
// so consumption is held for the second before the kill (the consumer
// stops pulling at groupsPullThreshold) and released after it. Then
// broker-a's queues resume within the 3 s pause after a failed pull, and
// the 5 s offset commit bounds the end: about 20 s in all. The long version
// (-groups-long, make stress) shows the consumer reading broker-a's
// backlog from slave-a. The Go client learns that master-a is gone only at
// its route poll, fixed at 30 s from the client's start, so the test holds
// consumption from the start (the consumer pulls at most
// groupsPullThreshold per queue), kills master-a 20 s in, releases
// consumption after the 30 s poll and requires every message broker-a
// acked before the kill to be consumed while master-a is still down. The
// 30 s poll bounds it: about 65 s in all.
func TestTwoGroupsMasterDies(t *testing.T) {
	skipUnderRace(t)
	checkNoOwnGoroutines(t)
	long := groupsLong()
	namesrv := []string{startNameServer(t).Addr(), startNameServer(t).Addr()}
	nsc := remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
	defer nsc.Close()
	ga := newGroup(t, groupOpts{brokerName: "broker-a", masterRole: "SYNC_MASTER", namesrv: namesrv})
	gb := newGroup(t, groupOpts{brokerName: "broker-b", masterRole: "SYNC_MASTER", namesrv: namesrv})
	for _, g := range []*group{ga, gb} {
		g.start(t, masterNode)
		if err := g.probe(masterNode).createTopic(ctx5s(t), groupsTopic, groupsQueues); err != nil {
			t.Fatal(err)
		}
		g.start(t, slaveNode)
	}
	ac := admin.New(admin.Options{Namesrv: namesrv[0], Logger: quietLogger()})
	defer ac.Close()
	for _, g := range []*group{ga, gb} {
		waitRoute(t, nsc, namesrv, groupsTopic, g.name, map[int64]string{0: g.addr(masterNode), 1: g.addr(slaveNode)})
		waitSlaveTrusted(t, ac, g, 10*time.Second)
	}

	// The consumer first, so it owns every queue before the kill.
	consumed := &consumedLog{copies: map[string]int{}, byBroker: map[string]int{}}
	hold := newGate(!long)
	c, err := consumer.NewPushConsumer(consumer.WithGroupName(groupsCG),
		consumer.WithNsResolver(primitive.NewPassthroughResolver(namesrv)),
		consumer.WithInstance("e2e-groups-c"), consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
		consumer.WithPullThresholdForQueue(groupsPullThreshold),
		consumer.WithLimiter(func(string) { hold.wait() }))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(groupsTopic, consumer.MessageSelector{}, func(_ context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		consumed.add(ms)
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	cStart := time.Now()
	defer hold.open()
	defer func() { _ = c.Shutdown() }()

	if long {
		// A backlog of a few seconds' sends is plenty; 20 s of it
		// would only slow the drain.
		time.Sleep(time.Until(cStart.Add(routePoll - 15*time.Second)))
	}
	l := &ledger{}
	ld := &load{l: l, namesrv: namesrv, topics: []string{groupsTopic}, attempt: time.Second, call: 5 * time.Second, bodyMax: 1 << 10}
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		ld.run(t, stop)
	}()
	stopLoad := func() {
		select {
		case <-stop:
			return
		default:
		}
		close(stop)
		select {
		case <-loadDone:
		case <-time.After(20 * time.Second):
			t.Fatal("producers did not stop within 20 s")
		}
	}
	defer stopLoad()
	ackedBy := func(broker string) []acked {
		l.mu.Lock()
		defer l.mu.Unlock()
		var out []acked
		for _, a := range l.acked {
			if a.broker == broker {
				out = append(out, a)
			}
		}
		return out
	}
	counts := func() (acks, errs, unconfirmed int) {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.acked), l.failures - len(l.unconfirmed), len(l.unconfirmed)
	}
	// Both groups take sends (and, short, are consumed) before the kill.
	if !testkit.Within(20*time.Second, func() bool {
		return len(ackedBy("broker-a")) >= 200 && len(ackedBy("broker-b")) >= 200 &&
			(long || consumed.from("broker-a") > 0 && consumed.from("broker-b") > 0)
	}) {
		a, e, u := counts()
		t.Fatalf("before the kill: acked %d (a %d, b %d), errors %d, unconfirmed %d; consumed a %d, b %d",
			a, len(ackedBy("broker-a")), len(ackedBy("broker-b")), e, u, consumed.from("broker-a"), consumed.from("broker-b"))
	}
	if long {
		// Kill 10 s before the consumer's second route poll: long
		// enough for both name servers to drop master-a first.
		time.Sleep(time.Until(cStart.Add(routePoll - 10*time.Second)))
	} else {
		// Kill well after the clients' first route poll (10 ms after
		// each Start) and restart well before their second, so no
		// client's route ever drops master-a. Consumption is held for
		// the last second before the kill: the consumer fills its
		// queues to groupsPullThreshold and stops pulling, so no long
		// poll is in flight to master-a when it dies (the client would
		// wait out its 30 s pull timeout on it).
		time.Sleep(time.Until(cStart.Add(time.Second)))
		hold.hold()
		time.Sleep(time.Second)
	}
	before, err := groupOffsets(t, ga, gb)
	if err != nil {
		t.Fatal(err)
	}
	_, errsBefore, _ := counts()
	ga.kill(t, masterNode)
	killed := time.Now()
	ackedBeforeKill := ackedBy("broker-a")
	waitRoute(t, nsc, namesrv, groupsTopic, "broker-a", map[int64]string{1: ga.addr(slaveNode)})
	t.Logf("master-a killed %v after the consumer started; name servers dropped it in %v; broker-a had acked %d",
		killed.Sub(cStart).Round(time.Millisecond), time.Since(killed).Round(time.Millisecond), len(ackedBeforeKill))

	bAtKill := len(ackedBy("broker-b"))
	cbAtKill := consumed.from("broker-b")
	if !long {
		hold.open()
	}
	if long {
		// The consumer's route now has no master-a: release
		// consumption after its poll; every further pull of broker-a's
		// queues goes to slave-a, and the backlog is far more than the
		// consumer holds.
		time.Sleep(time.Until(cStart.Add(routePoll + 2*time.Second)))
		held := groupsQueues * (groupsPullThreshold + 32) // threshold + one pull batch per queue
		if len(ackedBeforeKill) <= 2*held {
			t.Fatalf("broker-a's backlog of %d is too small to prove reads from slave-a (the consumer holds up to %d)", len(ackedBeforeKill), held)
		}
		hold.open()
		if !testkit.Within(30*time.Second, func() bool { n, _ := consumed.missing(ackedBeforeKill); return n == 0 }) {
			n, first := consumed.missing(ackedBeforeKill)
			t.Fatalf("master-a down: %d of broker-a's %d messages not consumed from slave-a within 30 s; first %v",
				n, len(ackedBeforeKill), first)
		}
		t.Logf("master-a down: the consumer consumed all %d of broker-a's messages from slave-a in %v after release",
			len(ackedBeforeKill), time.Since(cStart.Add(routePoll+2*time.Second)).Round(time.Millisecond))
	} else {
		// Sends and consumption go on through broker-b.
		if !testkit.Within(10*time.Second, func() bool {
			return len(ackedBy("broker-b")) >= bAtKill+200 && consumed.from("broker-b") >= cbAtKill+200
		}) {
			t.Fatalf("master-a down: broker-b acked %d more, consumed %d more within 10 s",
				len(ackedBy("broker-b"))-bAtKill, consumed.from("broker-b")-cbAtKill)
		}
		time.Sleep(time.Until(killed.Add(4 * time.Second)))
	}
	_, errsDown, _ := counts()
	t.Logf("master-a down %v: broker-b acked %d more, the consumer took %d more from broker-b; failed sends %d",
		time.Since(killed).Round(time.Millisecond), len(ackedBy("broker-b"))-bAtKill, consumed.from("broker-b")-cbAtKill,
		errsDown-errsBefore)

	// How far the consumer got in broker-a's queues while master-a was
	// down (long: all of its backlog, read from slave-a). The Go client
	// commits offsets to masters only, so master-a comes back with a
	// table from before the kill: the consumer's commits must carry it
	// past this, and its stale offsets must never win.
	duringOutage := consumed.progress("broker-a")
	// Where each committed offset must end: at least where it stood
	// before the kill and what was consumed during the outage.
	floor := maps.Clone(before)
	for q, off := range duringOutage {
		floor[q] = max(floor[q], off)
	}
	ga.start(t, masterNode)
	waitRoute(t, nsc, namesrv, groupsTopic, "broker-a", map[int64]string{0: ga.addr(masterNode), 1: ga.addr(slaveNode)})
	restarted := time.Now()
	t.Logf("master-a restarted; slave-a trusted again after %v", waitSlaveTrusted(t, ac, ga, 10*time.Second).Round(time.Millisecond))
	afterRestart, err := groupOffsets(t, ga)
	if err != nil {
		t.Fatal(err)
	}
	for q, off := range afterRestart {
		if off < before[q] {
			t.Logf("master-a's own table after kill -9: %s/%d at %d, before the kill %d (the consumer commits its own again)",
				q.broker, q.queueID, off, before[q])
		}
	}
	// broker-a takes sends again once the producers' route lists it.
	// Long, the producers' route lists broker-a again at their next
	// poll; short, it never dropped it.
	aAtRestart := len(ackedBy("broker-a"))
	resume := 10 * time.Second
	if long {
		resume += routePoll
	}
	if !testkit.Within(resume, func() bool { return len(ackedBy("broker-a")) >= aAtRestart+100 }) {
		t.Errorf("broker-a acked %d sends within %v of its restart", len(ackedBy("broker-a"))-aAtRestart, resume)
	}
	t.Logf("broker-a took 100 SEND_OKs %v after its restart", time.Since(restarted).Round(time.Millisecond))
	stopLoad()

	// Every SEND_OK consumed at least once.
	l.mu.Lock()
	all := append([]acked(nil), l.acked...)
	l.mu.Unlock()
	// The 30 s pull timeout (above) plus the 3 s pause after a failed pull.
	if !testkit.Within(routePoll+10*time.Second, func() bool { n, _ := consumed.missing(all); return n == 0 }) {
		n, first := consumed.missing(all)
		t.Errorf("%d of %d acked messages never consumed; first %v", n, len(all), first)
	}
	t.Logf("all consumed %v after master-a's restart", time.Since(restarted).Round(time.Millisecond))
	// No committed offset behind where it stood before the kill (the
	// client commits every 5 s).
	var after map[queueRef]int64
	var offErr error
	testkit.Within(20*time.Second, func() bool {
		after, offErr = groupOffsets(t, ga, gb)
		if offErr != nil {
			return false
		}
		for q, off := range floor {
			if after[q] < off || after[q] < 0 {
				return false
			}
		}
		return true
	})
	if offErr != nil {
		t.Fatal(offErr)
	}
	for q, off := range before {
		if after[q] < off {
			t.Errorf("committed offset of %s/%d went back: %d before the kill, %d at the end", q.broker, q.queueID, off, after[q])
		}
	}
	for q, off := range duringOutage {
		if after[q] < off {
			t.Errorf("committed offset of %s/%d on master-a at the end is %d, behind the %d consumed while master-a was down", q.broker, q.queueID, after[q], off)
		}
	}
	acks, errs, unconfirmed := counts()
	dups, keys := consumed.duplicates()
	n11, n12 := 0, 0
	var first11, last11 time.Duration // after the restart
	l.mu.Lock()
	attempts := l.attempts
	for _, u := range l.unconfirmed {
		switch u.status {
		case primitive.SendSlaveNotAvailable:
			n11++
			d := u.at.Sub(restarted)
			if n11 == 1 || d < first11 {
				first11 = d
			}
			last11 = max(last11, d)
		case primitive.SendFlushSlaveTimeout:
			n12++
		}
	}
	l.mu.Unlock()
	t.Logf("sends %d: SEND_OK %d (broker-a %d, broker-b %d), failed %d, not SEND_OK %d (11: %d, from %v to %v after master-a's restart; 12: %d); "+
		"consumed %d keys, %d duplicates; master-a back %v before the end; offsets before %v, consumed while master-a was down %v, after %v",
		attempts, acks, len(ackedBy("broker-a")), len(ackedBy("broker-b")), errs, unconfirmed, n11, first11.Round(time.Millisecond), last11.Round(time.Millisecond), n12,
		keys, dups, time.Since(restarted).Round(time.Millisecond), before, duringOutage, after)
	if errs != 0 {
		t.Errorf("%d sync sends failed (with 2 retries the goal is 0)", errs)
	}
	// SYNC_MASTER: every SEND_OK is on its group's slave too.
	for _, g := range []*group{ga, gb} {
		rep := checkThrough(t, g.probe(slaveNode), l, g.name, 10*time.Second)
		t.Logf("%s slave: %v", g.name, rep)
		if rep.found != rep.acked {
			t.Errorf("%s slave holds %d of %d acked", g.name, rep.found, rep.acked)
		}
	}
	if err := c.Shutdown(); err != nil {
		t.Errorf("consumer shutdown: %v", err)
	}
	for _, g := range []*group{ga, gb} {
		g.terminate(t, masterNode)
		g.terminate(t, slaveNode)
	}
}
