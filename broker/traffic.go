package broker

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/broker/brokerstats"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine/msg"
)

// Message types, as RocketMQ 5's TopicMessageType labels them in metrics
// (message_type): the index into topicStats.in.
const (
	msgNormal = iota
	msgFIFO
	msgDelay
	msgTransaction
	msgTypes
)

var msgTypeNames = [msgTypes]string{"normal", "fifo", "delay", "transaction"}

// Properties RocketMQ 5 reads to tell a delay or a FIFO message (Wharf
// itself acts on DELAY only).
const (
	propShardingKey = "__SHARDINGKEY"
	propTimerMs     = "TIMER_DELIVER_MS"
	propTimerDelayS = "TIMER_DELAY_SEC"
	propTimerDelayM = "TIMER_DELAY_MS"
)

// messageType classifies a sent message by its properties, in RocketMQ's
// order (TopicMessageType.parseFromMessageProperty). Each test is a scan
// of the properties string: no allocation.
func messageType(props string) int {
	switch {
	case transaction.IsTranMsg(props):
		return msgTransaction
	case hasProp(props, msg.PropDelay) || hasProp(props, propTimerMs) || hasProp(props, propTimerDelayS) || hasProp(props, propTimerDelayM):
		return msgDelay
	case hasProp(props, propShardingKey):
		return msgFIFO
	}
	return msgNormal
}

func hasProp(props, name string) bool {
	_, ok := msg.Property(props, name)
	return ok
}

// sizeBounds are rocketmq_message_size's buckets (bytes), as RocketMQ 5:
// 1 KiB, 4 KiB, 512 KiB, 1 MiB, 2 MiB, 4 MiB.
var sizeBounds = [...]int64{1 << 10, 4 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20}

// inStats counts one topic's incoming messages of one type.
type inStats struct {
	msgs, bytes atomic.Int64
	// sizes[i] counts bodies <= sizeBounds[i] and > the bound before;
	// the last one counts the rest.
	sizes [len(sizeBounds) + 1]atomic.Int64
}

func (s *inStats) observe(size int64) {
	i := 0
	for i < len(sizeBounds) && size > sizeBounds[i] {
		i++
	}
	s.sizes[i].Add(1)
}

// topicStats is one topic's traffic: by message type for the metrics, and
// RocketMQ's TOPIC_PUT_NUMS and TOPIC_PUT_SIZE for VIEW_BROKER_STATS_DATA.
type topicStats struct {
	in               [msgTypes]inStats
	putNums, putSize brokerstats.Item
}

// groupKey is a topic and a consumer group.
type groupKey struct{ topic, group string }

// groupStats is what a group pulled from a topic: messages and bytes
// (GROUP_GET_NUMS, GROUP_GET_SIZE), and per queue the offset its last
// pull reached (for in-flight and ready messages).
type groupStats struct {
	getNums, getSize brokerstats.Item

	mu     sync.Mutex
	pulled map[int32]int64 // guarded by mu
}

// overflowKey is the key traffic of keys beyond the tables' bound is
// counted under (a topic or group name no client can use: '%' is
// reserved for %RETRY% and %DLQ% and not followed by "OTHER%").
const overflowKey = "%OTHER%"

// Indexes of the broker-wide counters Rates samples.
const (
	ratePut = iota
	rateGetFound
	rateGetMiss
	rateGetTransferred
	rateCounters
)

// traffic is the broker's traffic accounting: per-topic and per-group
// counters (bounded, see brokerstats.Table), the broker-wide counters
// behind GET_BROKER_RUNTIME_INFO's rates, and the request latencies.
type traffic struct {
	topics *brokerstats.Table[string, topicStats]
	groups *brokerstats.Table[groupKey, groupStats]
	// brokerPut and brokerGet are BROKER_PUT_NUMS and BROKER_GET_NUMS
	// (keyed by the cluster name in VIEW_BROKER_STATS_DATA).
	brokerPut, brokerGet brokerstats.Item
	// Pull requests that found messages, that found none, and the
	// messages they carried.
	getFound, getMiss, getTransferred atomic.Int64

	rates   *brokerstats.Rates
	sampler *brokerstats.Sampler
	rpc     rpcStats
}

func newTraffic(maxKeys int) *traffic {
	t := &traffic{
		topics: brokerstats.NewTable(maxKeys, overflowKey, func() *topicStats { return new(topicStats) }),
		groups: brokerstats.NewTable(maxKeys, groupKey{overflowKey, overflowKey},
			func() *groupStats { return &groupStats{pulled: map[int32]int64{}} }),
	}
	t.rpc.t = brokerstats.NewTable(0, rpcKey{-1, -1}, func() *rpcHist { return new(rpcHist) })
	t.rates = brokerstats.NewRates(rateCounters, func(dst []int64) {
		dst[ratePut] = t.brokerPut.Value()
		dst[rateGetFound] = t.getFound.Load()
		dst[rateGetMiss] = t.getMiss.Load()
		dst[rateGetTransferred] = t.getTransferred.Load()
	})
	t.sampler = brokerstats.NewSampler(t.rates, t.eachItem)
	return t
}

// getTotalTps is the rate of pull requests, found or not, over 10 s,
// 1 min and 10 min (Java: getFoundTps plus getMissTps).
func (t *traffic) getTotalTps() string {
	r := t.rates
	sum := func(secs int) float64 { return r.Rate(rateGetFound, secs) + r.Rate(rateGetMiss, secs) }
	return fmt.Sprintf("%.2f %.2f %.2f", sum(10), sum(60), sum(600))
}

// eachItem visits every Item, for the sampler.
func (t *traffic) eachItem(fn func(*brokerstats.Item)) {
	fn(&t.brokerPut)
	fn(&t.brokerGet)
	t.topics.Range(func(_ string, s *topicStats) {
		fn(&s.putNums)
		fn(&s.putSize)
	})
	t.groups.Range(func(_ groupKey, s *groupStats) {
		fn(&s.getNums)
		fn(&s.getSize)
	})
}

// countPut counts stored messages sent to topic: their number, type and
// body sizes.
func (t *traffic) countPut(topic string, typ int, ms []*msg.Message) {
	s := t.topics.Get(topic)
	in := &s.in[typ]
	var bytes int64
	for _, m := range ms {
		n := int64(len(m.Body))
		bytes += n
		in.observe(n)
	}
	n := int64(len(ms))
	in.msgs.Add(n)
	in.bytes.Add(bytes)
	s.putNums.Add(n)
	s.putSize.Add(bytes)
	t.brokerPut.Add(n)
}

// countPull counts one pull's outcome: found (count messages, size
// bytes, the queue read up to next) or not.
func (t *traffic) countPull(topic, group string, queueID int32, found bool, count int, size int, next int64) {
	if !found {
		t.getMiss.Add(1)
		return
	}
	t.getFound.Add(1)
	t.getTransferred.Add(int64(count))
	t.brokerGet.Add(int64(count))
	s := t.groups.Get(groupKey{topic, group})
	s.getNums.Add(int64(count))
	s.getSize.Add(int64(size))
	s.mu.Lock()
	if next > s.pulled[queueID] {
		s.pulled[queueID] = next
	}
	s.mu.Unlock()
}

// pulledTo returns the offset the group's pulls reached on a queue of
// topic; ok is false when it has pulled none there since start.
func (t *traffic) pulledTo(topic, group string, queueID int32) (int64, bool) {
	s, ok := t.groups.Lookup(groupKey{topic, group})
	if !ok {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	off, ok := s.pulled[queueID]
	return off, ok
}

// isRetryTopic says whether a topic is a retry or dead-letter topic
// (RocketMQ's is_retry label).
func isRetryTopic(topic string) bool {
	return strings.HasPrefix(topic, retry.TopicPrefix) || strings.HasPrefix(topic, retry.DLQPrefix)
}

// rpcBounds are rocketmq_rpc_latency's buckets, as RocketMQ 5's
// RemotingMetricsManager: 1, 3, 5, 7, 10, 100 ms, 1, 2, 3 s.
var rpcBounds = [...]time.Duration{time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond, 7 * time.Millisecond,
	10 * time.Millisecond, 100 * time.Millisecond, time.Second, 2 * time.Second, 3 * time.Second}

// rpcKey is a request code and the code it was answered with.
type rpcKey struct{ req, resp int16 }

// rpcHist is a latency histogram of one rpcKey.
type rpcHist struct {
	counts [len(rpcBounds) + 1]atomic.Int64 // non-cumulative
	sum    atomic.Int64                     // nanoseconds
}

// rpcStats is the latency of every request answered, by request and
// response code (bounded by the table: codes are a small set).
type rpcStats struct {
	t *brokerstats.Table[rpcKey, rpcHist]
}

func (r *rpcStats) observe(req, resp int16, d time.Duration) {
	h := r.t.Get(rpcKey{req, resp})
	i := 0
	for i < len(rpcBounds) && d > rpcBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
}
