package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// txnConfig makes check-backs fast: halves are checked 300 ms after they
// are born, every 100 ms, at most twice.
func txnConfig(dir string) config.Config {
	cfg := testConfig(dir)
	cfg.TransactionTimeOut = 300 * time.Millisecond
	cfg.TransactionCheckInterval = 100 * time.Millisecond
	cfg.TransactionCheckMax = 2
	return cfg
}

// half is a half message as the send response named it.
type half struct {
	body        string
	queueOffset int64
	phys        int64
}

// sendHalf sends a transactional message the way the Go producer does.
func (tc *testClient) sendHalf(topic string, queueID int, group, body string, extra ...string) half {
	tc.t.Helper()
	p := props(append([]string{msg.PropTranMsg, "true", transaction.PropProducerGroup, group, msg.PropUniqKey, "U-" + body, msg.PropTags, "T"}, extra...)...)
	ext := sendExt(topic, queueID, p)
	ext["producerGroup"], ext["sysFlag"] = group, strconv.Itoa(int(msg.FlagTransactionPrep))
	resp := tc.call(remoting.CodeSendMessage, ext, []byte(body))
	expectCode(tc.t, resp, remoting.RespSuccess, "send half "+body)
	if resp.ExtFields["queueId"] != strconv.Itoa(queueID) {
		tc.t.Fatalf("send half: queueId %q, want the requested %d", resp.ExtFields["queueId"], queueID)
	}
	return half{body: body, queueOffset: extInt(tc.t, resp, "queueOffset"), phys: physOf(tc.t, resp)}
}

func endExt(group string, queueOffset, phys int64, typ int32, fromCheck bool) map[string]string {
	return map[string]string{
		"producerGroup": group, "tranStateTableOffset": strconv.FormatInt(queueOffset, 10),
		"commitLogOffset": strconv.FormatInt(phys, 10), "commitOrRollback": strconv.Itoa(int(typ)),
		"fromTransactionCheck": strconv.FormatBool(fromCheck), "msgId": "", "transactionId": "", "bname": "broker-a",
	}
}

func (tc *testClient) end(group string, h half, typ int32) *remoting.Command {
	tc.t.Helper()
	return tc.call(remoting.CodeEndTransaction, endExt(group, h.queueOffset, h.phys, typ, false), nil)
}

// topicBodies returns the bodies stored in every queue of topic, counted.
func topicBodies(t *testing.T, b *Broker, topic string, queues int32) map[string]int {
	t.Helper()
	waitDispatched(t, b)
	out := map[string]int{}
	for q := range queues {
		for _, r := range readQueue(t, b, topic, q) {
			out[string(r.Body)]++
		}
	}
	return out
}

func TestTransactionHalfCommitRollback(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.TransactionCheckInterval = time.Hour // no check-back here
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	c.send("TX", 0, "", "plain-0") // creates TX with 4 queues

	a := c.sendHalf("TX", 1, "PG", "commit-a")
	rb := c.sendHalf("TX", 2, "PG", "rollback-b")
	u := c.sendHalf("TX", 3, "PG", "unknown-u")
	if a.queueOffset != 0 || rb.queueOffset != 1 || u.queueOffset != 2 {
		t.Fatalf("half-queue offsets %d %d %d, want 0 1 2", a.queueOffset, rb.queueOffset, u.queueOffset)
	}
	waitDispatched(t, b)
	halves := readQueue(t, b, systopic.TransHalf, 0)
	if len(halves) != 3 {
		t.Fatalf("%d half messages, want 3", len(halves))
	}
	hr := halves[0]
	if prop(hr, msg.PropRealTopic) != "TX" || prop(hr, msg.PropRealQueue) != "1" || hr.SysFlag&msg.FlagTransactionMask != 0 ||
		hr.PhysOffset != a.phys || prop(hr, msg.PropTranMsg) != "true" {
		t.Fatalf("half record: sysFlag %#x phys %d props %q", hr.SysFlag, hr.PhysOffset, hr.Properties)
	}
	if tc, ok := b.topics.Get(systopic.TransHalf); !ok || tc.WriteQueueNums != 1 {
		t.Fatalf("half topic config %+v %v", tc, ok)
	}
	if got := topicBodies(t, b, "TX", 4); !maps.Equal(got, map[string]int{"plain-0": 1}) {
		t.Fatalf("before END the topic holds %v", got)
	}

	expectCode(t, c.end("PG", a, transaction.TypeCommit), remoting.RespSuccess, "commit a")
	expectCode(t, c.end("PG", rb, transaction.TypeRollback), remoting.RespSuccess, "rollback b")
	expectCode(t, c.end("PG", u, transaction.TypeUnknown), remoting.RespSuccess, "unknown u")
	// Idempotent: a repeated or contrary END changes nothing.
	for _, x := range []struct {
		h   half
		typ int32
	}{{a, transaction.TypeCommit}, {a, transaction.TypeRollback}, {rb, transaction.TypeCommit}, {rb, transaction.TypeRollback}} {
		resp := c.end("PG", x.h, x.typ)
		if resp.Code != remoting.RespSuccess || !strings.Contains(resp.Remark, "already ended") {
			t.Fatalf("second END %d of %s: code %d %q", x.typ, x.h.body, resp.Code, resp.Remark)
		}
	}
	if got := topicBodies(t, b, "TX", 4); !maps.Equal(got, map[string]int{"plain-0": 1, "commit-a": 1}) {
		t.Fatalf("after END the topic holds %v", got)
	}
	recs := readQueue(t, b, "TX", 1)
	if len(recs) != 1 {
		t.Fatalf("queue 1 holds %d records", len(recs))
	}
	r := recs[0]
	if r.SysFlag&msg.FlagTransactionMask != msg.FlagTransactionCommit || r.PreparedTransactionOffset != a.phys ||
		prop(r, msg.PropTranMsg) != "true" || prop(r, transaction.PropProducerGroup) != "PG" || prop(r, msg.PropUniqKey) != "U-commit-a" ||
		prop(r, msg.PropTags) != "T" || strings.Contains(string(r.Properties), msg.PropRealTopic) {
		t.Fatalf("committed record: sysFlag %#x prepared %d props %q", r.SysFlag, r.PreparedTransactionOffset, r.Properties)
	}
	// A consumer pulls it like any message, tag filter included.
	pull := c.call(remoting.CodePullMessage, pullExt("CG", "TX", 1, 0, 0, 0), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull")
	if got := decodeAll(t, pull.Body); len(got) != 1 || string(got[0].Body) != "commit-a" {
		t.Fatalf("pulled %d records", len(got))
	}
	// One op record per resolved half: tag d, body the half-queue offset.
	ops := readQueue(t, b, systopic.TransOpHalf, 0)
	if len(ops) != 2 || string(ops[0].Body) != "0" || string(ops[1].Body) != "1" || prop(ops[0], msg.PropTags) != "d" {
		t.Fatalf("op records %d: %+v", len(ops), ops)
	}

	// Batches never take transactional messages.
	v2 := map[string]string{"a": "PG", "b": "TX", "c": "TBW102", "d": "4", "e": "0", "f": "0", "g": "0", "h": "0",
		"i": props(msg.PropTranMsg, "true"), "j": "0", "k": "false", "l": "0", "m": "true"}
	resp := c.call(remoting.CodeSendBatchMessage, v2, msg.AppendBatchEntry(nil, 0, []byte("x"), ""))
	if resp.Code != remoting.RespMessageIllegal {
		t.Fatalf("transactional batch: code %d %q", resp.Code, resp.Remark)
	}
	// rejectTransactionMessage refuses halves.
	cfg = testConfig(t.TempDir())
	cfg.RejectTransactionMessage = true
	c = newTestClient(t, startBroker(t, cfg).Addr())
	resp = c.call(remoting.CodeSendMessage, sendExt("TX", 0, props(msg.PropTranMsg, "true")), []byte("x"))
	if resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, "transaction") {
		t.Fatalf("rejected half: code %d %q", resp.Code, resp.Remark)
	}
}

func TestEndTransactionMalformed(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.TransactionCheckInterval = time.Hour
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	plain := c.send("TXM", 0, "", "plain")
	h := c.sendHalf("TXM", 0, "PG", "h")

	with := func(kv ...string) map[string]string {
		ext := endExt("PG", h.queueOffset, h.phys, transaction.TypeCommit, false)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<del>" {
				delete(ext, kv[i])
			} else {
				ext[kv[i]] = kv[i+1]
			}
		}
		return ext
	}
	for _, tt := range []struct {
		name   string
		ext    map[string]string
		remark string
	}{
		{"no producerGroup", with("producerGroup", "<del>"), "producerGroup"},
		{"no tranStateTableOffset", with("tranStateTableOffset", "<del>"), "tranStateTableOffset"},
		{"bad tranStateTableOffset", with("tranStateTableOffset", "1x"), "tranStateTableOffset"},
		{"no commitLogOffset", with("commitLogOffset", "<del>"), "commitLogOffset"},
		{"bad commitLogOffset", with("commitLogOffset", "9999999999999999999999"), "commitLogOffset"},
		{"no commitOrRollback", with("commitOrRollback", "<del>"), "commitOrRollback"},
		{"bad commitOrRollback", with("commitOrRollback", "commit"), "commitOrRollback"},
		{"unknown commitOrRollback", with("commitOrRollback", "4"), "commitOrRollback 4"},
		{"negative commitLogOffset", with("commitLogOffset", "-1"), "Find prepared transaction message failed"},
		{"commitLogOffset past the end", with("commitLogOffset", strconv.FormatInt(1<<40, 10)), "Find prepared transaction message failed"},
		{"commitLogOffset inside a record", with("commitLogOffset", strconv.FormatInt(h.phys+7, 10)), "Find prepared transaction message failed"},
		{"not a half message", with("commitLogOffset", strconv.FormatInt(physOf(t, plain), 10), "tranStateTableOffset", "0"), "not a prepared transaction message"},
		{"wrong producer group", with("producerGroup", "OTHER"), "The producer group wrong"},
		{"wrong tranStateTableOffset", with("tranStateTableOffset", "5"), "The transaction state table offset wrong"},
	} {
		resp := c.call(remoting.CodeEndTransaction, tt.ext, nil)
		if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, tt.remark) {
			t.Errorf("%s: code %d remark %q, want 1 with %q", tt.name, resp.Code, resp.Remark, tt.remark)
		}
	}
	// Oneway requests get no reply, even when bad; the connection goes on.
	conn, err := c.c.Conn(context.Background(), b.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.InvokeOneway(remoting.NewRequest(remoting.CodeEndTransaction, with("commitOrRollback", "x"), nil)); err != nil {
		t.Fatal(err)
	}
	if err := conn.InvokeOneway(remoting.NewRequest(remoting.CodeEndTransaction, with("commitLogOffset", "-5"), nil)); err != nil {
		t.Fatal(err)
	}
	// None of that touched the half: it still commits, once.
	expectCode(t, c.end("PG", h, transaction.TypeCommit), remoting.RespSuccess, "commit after bad requests")
	if got := topicBodies(t, b, "TXM", 4); !maps.Equal(got, map[string]int{"plain": 1, "h": 1}) {
		t.Fatalf("topic holds %v", got)
	}
}

// checkClient is a raw producer connection that records the
// CHECK_TRANSACTION_STATE requests the broker sends it.
type checkClient struct {
	*testClient
	checks chan *remoting.Command
}

func newCheckClient(t *testing.T, addr, group string) *checkClient {
	return watchChecks(newTestClient(t, addr), "127.0.0.1@raw-"+group, group)
}

// watchChecks makes tc a producer of group with clientID, by a heartbeat,
// that records the check-backs it receives.
func watchChecks(tc *testClient, clientID, group string) *checkClient {
	t := tc.t
	cc := &checkClient{testClient: tc, checks: make(chan *remoting.Command, 256)}
	cc.c.Handle(remoting.CodeCheckTransactionState, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		select {
		case cc.checks <- req:
		default:
			t.Errorf("check channel full")
		}
		return nil
	})
	body, _ := json.Marshal(heartbeatData{ClientID: clientID, ProducerDataSet: []producerData{{GroupName: group}}})
	expectCode(t, cc.call(remoting.CodeHeartBeat, nil, body), remoting.RespSuccess, "producer heartbeat")
	return cc
}

// check is a received CHECK_TRANSACTION_STATE, decoded.
type check struct {
	half            // the copy it names
	at    time.Time // when it arrived
	times string    // TRANSACTION_CHECK_TIMES of the body
	rec   msg.Record
}

// next waits up to d for the next check.
func (cc *checkClient) next(d time.Duration) (check, bool) {
	cc.t.Helper()
	select {
	case req := <-cc.checks:
		r, err := msg.Decode(req.Body)
		if err != nil {
			cc.t.Fatalf("check body: %v", err)
		}
		if req.Flag&remoting.FlagOneway == 0 {
			cc.t.Errorf("check request not flagged oneway")
		}
		q, _ := strconv.ParseInt(req.ExtFields["tranStateTableOffset"], 10, 64)
		p, _ := strconv.ParseInt(req.ExtFields["commitLogOffset"], 10, 64)
		if u := prop(r, msg.PropUniqKey); req.ExtFields["msgId"] != u || req.ExtFields["transactionId"] != u ||
			req.ExtFields["offsetMsgId"] != msg.OffsetMsgID(r.StoreHost, p) || r.PhysOffset != p || r.QueueOffset != q {
			cc.t.Errorf("check header %v does not match its body (phys %d, queue offset %d, props %q)", req.ExtFields, r.PhysOffset, r.QueueOffset, r.Properties)
		}
		return check{half: half{body: string(r.Body), queueOffset: q, phys: p}, at: time.Now(), times: prop(r, transaction.PropTranCheckTimes), rec: r}, true
	case <-time.After(d):
		return check{}, false
	}
}

func TestTransactionCheckBack(t *testing.T) {
	b := startBroker(t, txnConfig(t.TempDir()))
	cc := newCheckClient(t, b.Addr(), "PGC")
	x := cc.sendHalf("TXC", 2, "PGC", "x")
	y := cc.sendHalf("TXC", 3, "PGC", "y")
	z := cc.sendHalf("TXC", 1, "PGC", "z", transaction.PropCheckImmunitySeconds, "1")
	born := time.Now()

	seen := map[string][]check{}
	var discardedAt time.Time
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && (len(seen["x"]) == 0 || len(seen["z"]) == 0 || discardedAt.IsZero()) {
		if discardedAt.IsZero() && len(readQueue(t, b, systopic.TransCheck, 0)) > 0 {
			discardedAt = time.Now()
		}
		ch, ok := cc.next(50 * time.Millisecond)
		if !ok {
			continue
		}
		seen[ch.body] = append(seen[ch.body], ch)
		r := ch.rec
		if string(r.Topic) != "TXC" || prop(r, transaction.PropProducerGroup) != "PGC" || prop(r, msg.PropTranMsg) != "true" {
			t.Fatalf("check body: topic %s queue %d props %q", r.Topic, r.QueueID, r.Properties)
		}
		if ch.body == "x" || ch.body == "z" {
			// The producer answers the check: commit.
			resp := cc.call(remoting.CodeEndTransaction, endExt("PGC", ch.queueOffset, ch.phys, transaction.TypeCommit, true), nil)
			expectCode(t, resp, remoting.RespSuccess, "commit "+ch.body+" from check")
		}
	}
	if len(seen["x"]) == 0 || len(seen["z"]) == 0 || discardedAt.IsZero() {
		t.Fatalf("checks: x %d, z %d; y discarded: %v", len(seen["x"]), len(seen["z"]), !discardedAt.IsZero())
	}
	cx := seen["x"][0]
	if cx.times != "1" || cx.rec.QueueID != 2 || cx.queueOffset <= z.queueOffset || cx.phys == x.phys {
		t.Fatalf("check of x: times %q queue %d names half %d/%d (original %d/%d)", cx.times, cx.rec.QueueID,
			cx.queueOffset, cx.phys, x.queueOffset, x.phys)
	}
	// Ages count in whole milliseconds (bornTimestamp), so allow one.
	if wait := seen["z"][0].at.Sub(born); wait < time.Second-time.Millisecond {
		t.Fatalf("z checked %v after its send, before its 1 s immunity", wait)
	}
	// y was asked twice, then moved to the check-max topic.
	// Quiet for a while: nothing is asked again.
	for quiet := time.Now().Add(500 * time.Millisecond); time.Now().Before(quiet); {
		if ch, ok := cc.next(50 * time.Millisecond); ok {
			seen[ch.body] = append(seen[ch.body], ch)
		}
	}
	// (x and z may be asked again if a pass runs before their END lands:
	// the second END then changes nothing.)
	if ys := seen["y"]; len(ys) != 2 || ys[0].times != "1" || ys[1].times != "2" || len(seen["x"]) > 2 || len(seen["z"]) > 2 {
		t.Fatalf("checks after the end: x %d z %d y %d (%+v)", len(seen["x"]), len(seen["z"]), len(seen["y"]), seen["y"])
	}
	moved := readQueue(t, b, systopic.TransCheck, 0)
	if len(moved) != 1 || string(moved[0].Body) != "y" || prop(moved[0], msg.PropRealTopic) != "TXC" || prop(moved[0], transaction.PropTranCheckTimes) != "2" {
		t.Fatalf("check-max topic: %d records %+v", len(moved), moved)
	}
	// Late answers to the first halves change nothing.
	for _, h := range []half{x, y, z, seen["y"][1].half} {
		resp := cc.end("PGC", h, transaction.TypeCommit)
		if resp.Code != remoting.RespSuccess || !strings.Contains(resp.Remark, "already ended") {
			t.Fatalf("late commit of %s: code %d %q", h.body, resp.Code, resp.Remark)
		}
	}
	if got := topicBodies(t, b, "TXC", 4); !maps.Equal(got, map[string]int{"x": 1, "z": 1}) {
		t.Fatalf("topic holds %v", got)
	}
	// The stored progress goes past every half.
	eventually(t, 5*time.Second, "progress stored past every half", func() bool {
		qs, _ := b.store.QueueState(systopic.TransHalf, 0)
		off, ok, err := b.store.ConsumerOffset(transaction.OffsetGroup, systopic.TransHalf, 0)
		return err == nil && ok && off == qs.Max
	})
}

func TestTransactionRestartResumesCheckBack(t *testing.T) {
	dir := t.TempDir()
	cfg := txnConfig(dir)
	cfg.TransactionCheckMax = 8
	b := startBroker(t, cfg)
	cc := newCheckClient(t, b.Addr(), "PGR")
	for i := range 3 {
		cc.sendHalf("TXR", i, "PGR", fmt.Sprintf("p-%d", i))
	}
	done := cc.sendHalf("TXR", 3, "PGR", "done")
	expectCode(t, cc.end("PGR", done, transaction.TypeCommit), remoting.RespSuccess, "commit done")
	// Each pending half is checked once, unanswered, before the restart.
	first := map[string]bool{}
	eventually(t, 5*time.Second, "a first check of each pending half", func() bool {
		if ch, ok := cc.next(10 * time.Millisecond); ok {
			first[ch.body] = true
		}
		return len(first) == 3
	})
	b.Close()

	// A crash can lose the stored progress after copies were written: roll
	// it back to the start. The checker must then skip the first halves
	// (their transactions have newer copies) and the committed "done".
	idle := cfg
	idle.TransactionCheckInterval = time.Hour
	b = startBroker(t, idle)
	<-b.txn.Ready()
	for _, topic := range []string{systopic.TransHalf, systopic.TransOpHalf} {
		if err := b.store.CommitOffset(transaction.OffsetGroup, topic, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	b = startBroker(t, cfg)
	cc = newCheckClient(t, b.Addr(), "PGR")
	committed := map[string]int{}
	eventually(t, 5*time.Second, "pending halves checked again and committed", func() bool {
		ch, ok := cc.next(10 * time.Millisecond)
		if !ok {
			return false
		}
		if ch.times == "1" {
			t.Errorf("%s: TRANSACTION_CHECK_TIMES %s after the restart, want the count to go on past 1", ch.body, ch.times)
		}
		resp := cc.call(remoting.CodeEndTransaction, endExt("PGR", ch.queueOffset, ch.phys, transaction.TypeCommit, true), nil)
		expectCode(t, resp, remoting.RespSuccess, "commit "+ch.body)
		committed[ch.body]++
		return len(committed) == 3
	})
	want := map[string]int{"p-0": 1, "p-1": 1, "p-2": 1, "done": 1}
	if got := topicBodies(t, b, "TXR", 4); !maps.Equal(got, want) {
		t.Fatalf("after the restart the topic holds %v", got)
	}
	// A second restart finds nothing left to check.
	eventually(t, 5*time.Second, "progress stored past the copies", func() bool {
		next, _ := b.txn.Progress()
		qs, _ := b.store.QueueState(systopic.TransHalf, 0)
		return next == qs.Max
	})
	b.Close()
	b = startBroker(t, cfg)
	cc = newCheckClient(t, b.Addr(), "PGR")
	if ch, ok := cc.next(700 * time.Millisecond); ok {
		t.Fatalf("check of %s (times %s) after everything was committed", ch.body, ch.times)
	}
	if got := topicBodies(t, b, "TXR", 4); !maps.Equal(got, want) {
		t.Fatalf("after the second restart the topic holds %v", got)
	}
	_, tracked := b.txn.Progress()
	if tracked != 0 {
		t.Fatalf("%d transactions still tracked", tracked)
	}
}

// txnListener decides by body prefix: "commit", "rollback", "unknown" (then
// commit on check-back) and "forever" (unknown, also on check-back).
type txnListener struct {
	mu     sync.Mutex
	checks map[string]int
}

func (l *txnListener) ExecuteLocalTransaction(m *primitive.Message) primitive.LocalTransactionState {
	switch b := string(m.Body); {
	case strings.HasPrefix(b, "commit"):
		return primitive.CommitMessageState
	case strings.HasPrefix(b, "rollback"):
		return primitive.RollbackMessageState
	default:
		return primitive.UnkonwnState
	}
}

func (l *txnListener) CheckLocalTransaction(m *primitive.MessageExt) primitive.LocalTransactionState {
	l.mu.Lock()
	l.checks[string(m.Body)]++
	l.mu.Unlock()
	if strings.HasPrefix(string(m.Body), "forever") || m.Topic != "GoTxn" {
		return primitive.UnkonwnState
	}
	return primitive.CommitMessageState
}

func (l *txnListener) checked() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.checks)
}

func startTxnCluster(t *testing.T, cfg config.Config) *cluster {
	t.Helper()
	return startClusterWith(t, cfg)
}

// txnProducer starts a Go transaction producer of group with its own
// client instance (instances are shared by name inside a process, and
// check-backs reach only the producer that created its instance). A
// warm-up transaction that rolls back teaches it the broker's address in
// time for its first heartbeat, 1 s after start; until that heartbeat the
// broker has no connection to send check-backs to.
func (cl *cluster) txnProducer(t *testing.T, group, topic string, l *txnListener) interface {
	SendMessageInTransaction(context.Context, *primitive.Message) (*primitive.TransactionSendResult, error)
} {
	t.Helper()
	p, err := producer.NewTransactionProducer(l, producer.WithNsResolver(cl.resolver()), producer.WithRetry(2),
		producer.WithGroupName(group), producer.WithInstanceName(fmt.Sprintf("txn-%s-%d", group, time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Shutdown() })
	res, err := p.SendMessageInTransaction(ctx10s(t), primitive.NewMessage(topic, []byte("rollback-warmup")))
	if err != nil || res.State != primitive.RollbackMessageState {
		t.Fatalf("warm-up: %+v %v", res, err)
	}
	eventually(t, 5*time.Second, "producer heartbeat", func() bool { return cl.b.clients.ProducerConn(group) != nil })
	return p
}

func TestGoClientTransactionProducer(t *testing.T) {
	cfg := txnConfig(t.TempDir())
	cfg.TransactionTimeOut = 500 * time.Millisecond
	cl := startTxnCluster(t, cfg)
	topic := "GoTxn"
	cl.createTopic(t, topic, 4)
	var r received
	cl.consumer(t, "GoTxnCG", topic, consumer.MessageSelector{}, &r)
	l := &txnListener{checks: map[string]int{}}
	p := cl.txnProducer(t, "GoTxnPG", topic, l)

	want := map[string]int{}
	for _, kind := range []string{"commit", "rollback", "unknown", "forever"} {
		for i := range 3 {
			body := fmt.Sprintf("%s-%d", kind, i)
			res, err := p.SendMessageInTransaction(ctx10s(t), primitive.NewMessage(topic, []byte(body)))
			if err != nil || res.Status != primitive.SendOK {
				t.Fatalf("send %s: %+v %v", body, res, err)
			}
			if kind == "commit" || kind == "unknown" {
				want[body] = 1
			}
		}
	}
	eventually(t, 20*time.Second, "committed messages consumed", func() bool { return hasAll(r.bodies(), want) })
	eventually(t, 10*time.Second, "forever-unknown messages given up", func() bool {
		return len(readQueue(t, cl.b, systopic.TransCheck, 0)) == 3
	})
	// A committed sentinel, sent last, is consumed after anything a
	// rolled-back message could have become.
	if _, err := p.SendMessageInTransaction(ctx10s(t), primitive.NewMessage(topic, []byte("commit-sentinel"))); err != nil {
		t.Fatal(err)
	}
	want["commit-sentinel"] = 1
	eventually(t, 10*time.Second, "sentinel consumed", func() bool { return r.bodies()["commit-sentinel"] == 1 })
	if got := r.bodies(); !maps.Equal(got, want) {
		t.Fatalf("consumed %v, want each of %v once", got, slices.Sorted(maps.Keys(want)))
	}
	if got := topicBodies(t, cl.b, topic, 4); !maps.Equal(got, want) {
		t.Fatalf("topic holds %v", got)
	}
	checks := l.checked()
	for i := range 3 {
		// Once, or twice if a pass ran before the client's answer landed.
		if n := checks[fmt.Sprintf("unknown-%d", i)]; n < 1 || n > 2 {
			t.Errorf("unknown-%d checked %d times, want 1", i, n)
		}
		if n := checks[fmt.Sprintf("forever-%d", i)]; n != 2 {
			t.Errorf("forever-%d checked %d times, want transactionCheckMax = 2", i, n)
		}
		if n := checks[fmt.Sprintf("commit-%d", i)] + checks[fmt.Sprintf("rollback-%d", i)]; n != 0 {
			t.Errorf("resolved transaction %d checked %d times", i, n)
		}
	}
	t.Logf("consumed %d committed messages; check-backs %v", r.count(), checks)
}

func TestGoClientTransactionRestart(t *testing.T) {
	cfg := txnConfig(t.TempDir())
	cfg.TransactionCheckMax = 15
	cl := startTxnCluster(t, cfg)
	topic := "GoTxn"
	cl.createTopic(t, topic, 4)
	l := &txnListener{checks: map[string]int{}}
	p := cl.txnProducer(t, "GoTxnRPG", topic, l)
	// Pending halves that may not be checked for 3 s: the broker restarts
	// before then.
	for i := range 3 {
		m := primitive.NewMessage(topic, []byte(fmt.Sprintf("unknown-%d", i)))
		m.WithProperty(transaction.PropCheckImmunitySeconds, "3")
		if _, err := p.SendMessageInTransaction(ctx10s(t), m); err != nil {
			t.Fatal(err)
		}
	}
	cl.b.Close()
	cfg = cl.cfg
	cfg.Listen = cl.b.Addr() // same address: the clients reconnect by themselves
	// And the same HA port: listenPort+1 is nobody's to take (a client's
	// ephemeral port may hold it).
	cfg.HAListenPort = cl.b.cfg.HAListenPort
	cl.b = startBroker(t, cfg)
	cl.waitRoute(t, topic)
	// The old producer heartbeats every 30 s only: a new one takes over.
	cl.txnProducer(t, "GoTxnRPG", topic, l)
	var r received
	cl.consumer(t, "GoTxnRCG", topic, consumer.MessageSelector{}, &r)
	want := all(topic, "unknown", 3)
	// Then every queue consumed to its end: a second copy of a commit
	// would be consumed too.
	eventually(t, 20*time.Second, "pending transactions committed after the restart, and consumed", func() bool {
		return hasAll(r.bodies(), want) && cl.caughtUp(topic, 4, &r)
	})
	if got := r.bodies(); !maps.Equal(got, want) {
		t.Fatalf("consumed %v", got)
	}
	t.Logf("check-backs %v", l.checked())
}
