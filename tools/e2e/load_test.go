package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// Load shape (T8): 4 producers, 2 topics x 8 queues, 1-64 KiB bodies.
const (
	numProducers = 4
	queuesPerTop = 8
	minBody      = 1 << 10
	maxBody      = 64 << 10
	// sendTimeout bounds each send; the client waits it out for sends in
	// flight at a kill, so it sets the pause after each one.
	sendTimeout = 500 * time.Millisecond
	seqProp     = "E2E_SEQ"
)

var loadTopics = [...]string{"E2E_T0", "E2E_T1"}

// acked is one message whose send returned SEND_OK (or, in
// ledger.unconfirmed, another status with a queue and offset).
type acked struct {
	key           string
	broker        string // the brokerName that answered
	topic         string
	queueID       int32
	offset        int64
	producer, seq int
	sum           [sha256.Size]byte
	status        primitive.SendStatus
	at            time.Time // when the answer came
	// msgID is the answer's offsetMsgId: it names the store host that
	// wrote the message (the chaos checker's "who acknowledged").
	msgID string
}

// queueRef is one queue of one broker group.
type queueRef struct {
	broker  string
	topic   string
	queueID int32
}

// ledger records what the producers were told, across every cycle.
type ledger struct {
	mu    sync.Mutex
	acked []acked
	// unconfirmed are the sends answered with a queue and offset but
	// not SEND_OK: FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE or
	// FLUSH_DISK_TIMEOUT. The broker stored them, but only SEND_OK
	// counts as replicated (and durable); they count as failures too.
	unconfirmed []acked
	attempts    int
	failures    int
	nextSeq     [numProducers]int // per producer, across cycles
}

// body is the deterministic payload of (producer, seq): 1-64 KiB.
func body(producer, seq int) []byte { return bodyUpTo(producer, seq, maxBody) }

// bodyUpTo is body with min(minBody, hi/4) to hi bytes.
func bodyUpTo(producer, seq, hi int) []byte {
	lo := min(minBody, hi/4)
	r := rand.New(rand.NewPCG(uint64(producer)+1, uint64(seq)))
	b := make([]byte, lo+r.IntN(hi-lo+1))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func msgKey(producer, seq int) string { return "p" + strconv.Itoa(producer) + "-s" + strconv.Itoa(seq) }

// load runs numProducers official-client producers with synchronous sends
// until stop is closed; run returns once all are shut down.
type load struct {
	l *ledger
	// attempt bounds one send attempt (the client's SendMsgTimeout) and
	// call a whole SendSync, its retries included; zero means
	// sendTimeout for both. A test that needs retries to outlive a dead
	// broker gives call room for them.
	attempt, call time.Duration
	nsAddr        string
	// namesrv, when set, lists the name servers instead of nsAddr.
	namesrv []string
	// topics, when set, replaces loadTopics: a replicated run's topics
	// exist on every group.
	topics []string
	cycle  int
	// bodyMax, when set, caps the body size below maxBody (a replicated
	// run at full speed writes two copies of everything).
	bodyMax int
}

func (ld *load) nameServers() []string {
	if len(ld.namesrv) > 0 {
		return ld.namesrv
	}
	return []string{ld.nsAddr}
}

func (ld *load) topicList() []string {
	if len(ld.topics) > 0 {
		return ld.topics
	}
	return loadTopics[:]
}

func (ld *load) timeouts() (attempt, call time.Duration) {
	attempt, call = ld.attempt, ld.call
	if attempt <= 0 {
		attempt = sendTimeout
	}
	if call <= 0 {
		call = sendTimeout
	}
	return attempt, call
}

func (ld *load) run(t *testing.T, stop <-chan struct{}) {
	t.Helper()
	attempt, _ := ld.timeouts()
	var wg sync.WaitGroup
	for p := range numProducers {
		prod, err := producer.NewDefaultProducer(
			producer.WithNsResolver(primitive.NewPassthroughResolver(ld.nameServers())),
			producer.WithGroupName("E2E_PG_"+strconv.Itoa(p)),
			producer.WithInstanceName(fmt.Sprintf("e2e-%d-%d", ld.cycle, p)),
			producer.WithRetry(2),
			producer.WithSendMsgTimeout(attempt),
			// Stored bodies must be byte-identical to what was sent.
			producer.WithCompressMsgBodyOverHowmuch(1<<30),
		)
		if err != nil {
			t.Errorf("producer %d: %v", p, err)
			continue
		}
		if err := prod.Start(); err != nil {
			t.Errorf("producer %d start: %v", p, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer prod.Shutdown()
			ld.produce(p, prod, stop)
		}()
	}
	wg.Wait()
}

func (ld *load) produce(p int, prod interface {
	SendSync(context.Context, ...*primitive.Message) (*primitive.SendResult, error)
}, stop <-chan struct{}) {
	topics := ld.topicList()
	_, callTimeout := ld.timeouts()
	for {
		select {
		case <-stop:
			return
		default:
		}
		ld.l.mu.Lock()
		seq := ld.l.nextSeq[p]
		ld.l.nextSeq[p]++
		ld.l.attempts++
		ld.l.mu.Unlock()
		topic := topics[seq%len(topics)]
		b := body(p, seq)
		if ld.bodyMax > 0 {
			b = bodyUpTo(p, seq, ld.bodyMax)
		}
		key := msgKey(p, seq)
		m := primitive.NewMessage(topic, b)
		m.WithKeys([]string{key})
		m.WithProperty(seqProp, strconv.Itoa(seq))
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		res, err := prod.SendSync(ctx, m)
		cancel()
		if err != nil || res == nil || res.Status != primitive.SendOK || res.MessageQueue == nil {
			ld.l.mu.Lock()
			ld.l.failures++
			if err == nil && res != nil && res.MessageQueue != nil {
				ld.l.unconfirmed = append(ld.l.unconfirmed, acked{key: key, broker: res.MessageQueue.BrokerName,
					topic: topic, queueID: int32(res.MessageQueue.QueueId), offset: res.QueueOffset,
					producer: p, seq: seq, sum: sha256.Sum256(b), status: res.Status, at: time.Now()})
			}
			ld.l.mu.Unlock()
			// The broker is down or restarting: do not spin.
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		a := acked{key: key, broker: res.MessageQueue.BrokerName, topic: topic,
			queueID: int32(res.MessageQueue.QueueId), offset: res.QueueOffset,
			producer: p, seq: seq, sum: sha256.Sum256(b), status: res.Status, at: time.Now(), msgID: res.OffsetMsgID}
		ld.l.mu.Lock()
		ld.l.acked = append(ld.l.acked, a)
		ld.l.mu.Unlock()
	}
}

// lastPerQueue returns the acked message with the highest offset per queue.
func (l *ledger) lastPerQueue() map[queueRef]acked {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[queueRef]acked{}
	for _, a := range l.acked {
		k := queueRef{a.broker, a.topic, a.queueID}
		if cur, ok := out[k]; !ok || a.offset > cur.offset {
			out[k] = a
		}
	}
	return out
}

// checkRecord compares a stored record with what was acked.
func checkRecord(a acked, r msg.Record) error {
	if k, _ := msg.Property(string(r.Properties), msg.PropKeys); k != a.key {
		return fmt.Errorf("%s/%d@%d holds key %q, acked %q", a.topic, a.queueID, a.offset, k, a.key)
	}
	if sha256.Sum256(r.Body) != a.sum {
		return fmt.Errorf("%s/%d@%d (key %s): body of %d bytes differs from the acked one", a.topic, a.queueID, a.offset, a.key, len(r.Body))
	}
	return nil
}

// verifyOnline pulls, through the running broker, the last acked message
// of every queue: a cheap check after each restart that the acked tail
// survived.
func verifyOnline(t *testing.T, pc *probeClient, l *ledger) int {
	t.Helper()
	n := 0
	for _, a := range l.lastPerQueue() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := pc.pullOne(ctx, a.topic, a.queueID, a.offset)
		cancel()
		if err != nil {
			t.Errorf("acked message %s lost after restart: %v", a.key, err)
			continue
		}
		if err := checkRecord(a, r); err != nil {
			t.Errorf("after restart: %v", err)
			continue
		}
		n++
	}
	return n
}

// offlineReport is what verifyOffline found.
type offlineReport struct {
	acked, lost, mismatched, stored, duplicates, storedUnacked int
	report                                                     string
}

// verifyOffline opens the data dir with the engine after the broker is
// gone and checks every acked message at its acked (topic, queue, offset),
// per-queue order, and counts duplicates by key.
func verifyOffline(t *testing.T, dir string, l *ledger) offlineReport {
	t.Helper()
	st, err := engine.Open(engine.Options{Dir: dir, SegmentSize: segmentSize, Logger: quietLogger(), RetentionInterval: -1})
	if err != nil {
		t.Fatalf("open data dir offline: %v", err)
	}
	defer st.Close()
	if err := st.WaitDispatched(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	var rep offlineReport
	rr := st.RecoveryReport()
	rep.report = fmt.Sprintf("clean=%v scanned=%d records in %v, cut=%d", rr.Clean, rr.Records, rr.Duration, rr.CutAt)

	l.mu.Lock()
	all := slices.Clone(l.acked)
	l.mu.Unlock()
	rep.acked = len(all)
	ackedKeys := make(map[string]bool, len(all))
	var buf []byte
	for _, a := range all {
		ackedKeys[a.key] = true
		res, err := st.Get(a.topic, a.queueID, a.offset, 1, nil, buf)
		if err != nil || res.Status != engine.Found || res.Count != 1 {
			rep.lost++
			if rep.lost <= 10 {
				t.Errorf("acked %s at %s/%d@%d lost: status %v err %v", a.key, a.topic, a.queueID, a.offset, res.Status, err)
			}
			continue
		}
		buf = res.Data
		r, err := msg.Decode(res.Data)
		if err == nil {
			err = checkRecord(a, r)
		}
		if err != nil {
			rep.mismatched++
			if rep.mismatched <= 10 {
				t.Errorf("acked %s: %v", a.key, err)
			}
		}
	}

	// Order: one producer's acked messages in a queue keep send order.
	byPQ := map[string][]acked{}
	for _, a := range all {
		k := fmt.Sprintf("%d/%s/%d", a.producer, a.topic, a.queueID)
		byPQ[k] = append(byPQ[k], a)
	}
	for k, as := range byPQ {
		slices.SortFunc(as, func(x, y acked) int { return x.seq - y.seq })
		for i := 1; i < len(as); i++ {
			if as[i].offset <= as[i-1].offset {
				t.Errorf("order broken in %s: seq %d at offset %d after seq %d at offset %d",
					k, as[i].seq, as[i].offset, as[i-1].seq, as[i-1].offset)
				break
			}
		}
	}

	// Duplicates: every stored copy of a key beyond the first.
	copies := map[string]int{}
	for _, topic := range loadTopics {
		for q := range int32(queuesPerTop) {
			qs, ok := st.QueueState(topic, q)
			if !ok {
				continue
			}
			for off := qs.Min; off < qs.Max; {
				res, err := st.Get(topic, q, off, 32, nil, buf)
				if err != nil || res.Status != engine.Found {
					t.Errorf("scan %s/%d@%d: status %v err %v", topic, q, off, res.Status, err)
					break
				}
				buf = res.Data
				for data := res.Data; len(data) > 0; {
					r, err := msg.Decode(data)
					if err != nil {
						t.Errorf("scan %s/%d@%d: %v", topic, q, off, err)
						break
					}
					k, _ := msg.Property(string(r.Properties), msg.PropKeys)
					copies[k]++
					rep.stored++
					data = data[len(r.Raw):]
				}
				off = res.NextOffset
			}
		}
	}
	for k, n := range copies {
		rep.duplicates += n - 1
		if !ackedKeys[k] {
			rep.storedUnacked++
		}
	}
	return rep
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}
