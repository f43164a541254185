package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// The three admin requests mqadmin's topicStatus, consumerProgress and
// brokerStatus send. Their bodies are Java's fastjson output: a map keyed
// by MessageQueue is written with the key as a JSON object, e.g.
// {"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}},
// which is not RFC 8259 JSON but is what Java clients parse (PROTOCOL.md,
// ResetOffsetBody has the same shape). Queues are written in queue order.

// brokerVersionDesc and brokerVersion are what a 4.9.8 broker reports
// (MQVersion.CURRENT_VERSION), matching remoting.DefaultVersion.
const (
	brokerVersionDesc = "V4_9_8"
	brokerVersion     = 409
)

// runtimeStats holds the counters GET_BROKER_RUNTIME_INFO reports. They
// count since the broker started, not since midnight as Java's do: the
// "TodayMorning" and "YesterdayMorning" marks are reported as 0, so "today"
// (now minus this morning) reads as "since start".
type runtimeStats struct {
	boot time.Time
	// bootPuts is the sum of every queue's max offset when the broker
	// opened (after the store's replay); puts since start are the sum now
	// minus this.
	bootPuts int64
	// bootEnd is the CommitLog end at start, for putMessageSizeTotal.
	bootEnd int64
}

// start records the marks the counters are measured from.
func (s *runtimeStats) start(store *engine.Store) {
	s.boot = time.Now()
	s.bootPuts = sumQueueMax(store)
	s.bootEnd = store.MaxPhysOffset()
}

func sumQueueMax(store *engine.Store) int64 {
	var n int64
	for _, st := range store.Queues() {
		n += st.Max
	}
	return n
}

// storeTimeAt returns the store time of the entry at offset of a queue, 0
// when there is none (offset < 0, trimmed, or past the end).
func (b *Broker) storeTimeAt(topic string, queueID int32, offset int64) (int64, error) {
	if offset < 0 {
		return 0, nil
	}
	e, found, err := b.store.EntryAt(topic, queueID, offset)
	if err != nil || !found {
		return 0, err
	}
	return e.StoreTime, nil
}

// handleGetTopicStats serves GET_TOPIC_STATS_INFO (202): TopicStatsTable,
// per queue of the topic its min and max offsets and the store time of its
// last message (0 when empty). Every queue (max of read and write queue
// numbers) is listed, as 5.x does; 4.9.8 lists the write queues only.
func (b *Broker) handleGetTopicStats(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString("topic")
	if err != nil {
		return badRequest(req, err)
	}
	tc, ok := b.topics.Get(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.RespTopicNotExist, fmt.Sprintf("topic[%s] not exist", topic))
	}
	n := tc.QueueNums()
	out := make([]byte, 0, 32+int(n)*160)
	out = append(out, `{"offsetTable":{`...)
	for q := range n {
		st, _ := b.store.QueueState(topic, q)
		last, err := b.storeTimeAt(topic, q, st.Max-1)
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
		if q > 0 {
			out = append(out, ',')
		}
		out = body.AppendMessageQueue(out, body.MessageQueue{BrokerName: b.cfg.BrokerName, QueueID: q, Topic: topic})
		out = append(out, ':')
		out = body.AppendTopicOffset(out, body.TopicOffset{LastUpdateTimestamp: last, MaxOffset: st.Max, MinOffset: st.Min})
	}
	out = append(out, "}}"...)
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = out
	return resp
}

// handleGetConsumeStats serves GET_CONSUME_STATS (208): ConsumeStats, per
// queue of the topic (or, without topic, of every topic the group has
// offsets for, its retry topic and the topics its online consumers
// subscribe to) the broker's max offset, the group's committed offset (0
// when it has none, as Java) and the store time of the last consumed
// message (0 when none). consumeTps is always 0: the broker keeps no
// per-group rate.
//
// As Java, a topic the broker does not have is skipped, and so is one the
// group's online consumers do not subscribe to. Unlike Java, which answers
// an empty table, a group this broker knows nothing of (no config, no
// offset, no consumer online) is SUBSCRIPTION_GROUP_NOT_EXIST (26); Java's
// mqadmin turns the empty table into an error anyway.
func (b *Broker) handleGetConsumeStats(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := groupHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	topic := strings.TrimSpace(req.ExtStringOr("topic", ""))
	if topic != "" {
		if remark, ok := meta.ValidateTopic(topic); !ok {
			return badRequest(req, fmt.Errorf("%s", remark))
		}
	}
	offsets, err := b.store.GroupOffsets(group)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	subs := b.clients.OnlineSubscriptions(group)
	if _, ok := b.groups.Get(group); !ok && len(offsets) == 0 && subs == nil {
		return remoting.NewResponse(req, remoting.RespSubscriptionGroupNotExist,
			fmt.Sprintf("the consumer group[%s] not exist on this broker (no config, no offset, no consumer online)", group))
	}
	var topics []string
	if topic != "" {
		topics = []string{topic}
	} else {
		for ref := range offsets {
			topics = append(topics, ref.Topic)
		}
		topics = append(topics, retry.TopicPrefix+group)
		topics = append(topics, subs...)
		slices.Sort(topics)
		topics = slices.Compact(topics)
	}
	out := make([]byte, 0, 256)
	out = append(out, `{"consumeTps":`...)
	out = body.AppendJavaDouble(out, 0)
	out = append(out, `,"offsetTable":{`...)
	first := true
	for _, t := range topics {
		tc, ok := b.topics.Get(t)
		if !ok {
			continue
		}
		if len(subs) > 0 && !slices.Contains(subs, t) {
			continue // Java: the online consumers do not subscribe to it
		}
		for q := range tc.ReadQueueNums {
			st, _ := b.store.QueueState(t, q)
			off, ok, err := b.store.ConsumerOffset(group, t, q)
			if err != nil {
				return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
			}
			if !ok {
				off = 0
			}
			last, err := b.storeTimeAt(t, q, off-1)
			if err != nil {
				return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = body.AppendMessageQueue(out, body.MessageQueue{BrokerName: b.cfg.BrokerName, QueueID: q, Topic: t})
			out = append(out, ':')
			out = body.AppendOffsetWrapper(out, body.OffsetWrapper{BrokerOffset: st.Max, ConsumerOffset: off, LastTimestamp: last})
		}
	}
	out = append(out, "}}"...)
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = out
	return resp
}

// handleGetRuntimeInfo serves GET_BROKER_RUNTIME_INFO (28): a KVTable
// {"table":{...}} of strings with the keys of Java's prepareRuntimeInfo
// that Wharf has data for. Counters are since start (see runtimeStats);
// rates are "10 s, 1 min, 10 min" per-second figures sampled every second
// (traffic.go), as Java's StoreStatsService; thread-pool keys are absent (no pools). Wharf adds the
// process figures of addProcessInfo, which Java clients list like any
// other key.
func (b *Broker) handleGetRuntimeInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	kv, err := json.Marshal(body.KVTable{Table: b.runtimeInfo(time.Now())})
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	resp.Body = kv
	return resp
}

func (b *Broker) runtimeInfo(now time.Time) map[string]string {
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	s := &b.stats
	puts := max(sumQueueMax(b.store)-s.bootPuts, 0)
	cst := b.store.LogStats()
	end, readable := cst.End, cst.Readable
	t := map[string]string{
		"brokerVersionDesc":           brokerVersionDesc,
		"brokerVersion":               strconv.Itoa(brokerVersion),
		"msgPutTotalYesterdayMorning": "0",
		"msgPutTotalTodayMorning":     "0",
		"msgPutTotalTodayNow":         i64(puts),
		"msgGetTotalYesterdayMorning": "0",
		"msgGetTotalTodayMorning":     "0",
		"msgGetTotalTodayNow":         i64(b.traffic.getTransferred.Load()),
		"putMessageTimesTotal":        i64(puts),
		"putMessageSizeTotal":         i64(max(end-s.bootEnd, 0)),
		"commitLogMinOffset":          i64(cst.MinOffset),
		"commitLogMaxOffset":          i64(end),
		"dispatchBehindBytes":         i64(max(readable-b.store.DispatchedOffset(), 0)),
		"remainHowManyDataToFlush":    humanBytes(max(end-cst.Synced, 0)),
		"pageCacheLockTimeMills":      "0",
		"putTps":                      b.traffic.rates.TPS(ratePut),
		"getFoundTps":                 b.traffic.rates.TPS(rateGetFound),
		"getMissTps":                  b.traffic.rates.TPS(rateGetMiss),
		"getTotalTps":                 b.traffic.getTotalTps(),
		"getTransferedTps":            b.traffic.rates.TPS(rateGetTransferred),
		"bootTimestamp":               i64(s.boot.UnixMilli()),
		"runtime":                     formatRuntime(now.Sub(s.boot)),
		"earliestMessageTimeStamp":    i64(b.earliestMessageTime()),
		// Wharf's own: how well group commit batches (appends per fsync).
		"commitLogAppends": i64(cst.Appends),
		"commitLogWrites":  i64(cst.Writes),
		"commitLogSyncs":   i64(cst.Syncs),
	}
	// Wharf's own: whether new messages reach consumers (issue 9 §4).
	t["dispatchState"] = "ok"
	if st := b.store.DispatchStall(); st != nil {
		t["dispatchState"] = fmt.Sprintf("STALLED since %s at %d, sends refused: %v",
			st.Since.UTC().Format(time.RFC3339), st.At, st.Err)
	}
	if u, err := vfs.Default.GetDiskUsage(b.cfg.StorePathRootDir); err == nil && u.TotalBytes > 0 {
		ratio := strconv.FormatFloat(float64(u.UsedBytes)/float64(u.TotalBytes), 'f', -1, 64)
		t["commitLogDiskRatio"] = ratio
		t["consumeQueueDiskRatio"] = ratio // one disk holds both
		t["commitLogDirCapacity"] = fmt.Sprintf("Total : %s, Free : %s.", humanBytes(int64(u.TotalBytes)), humanBytes(int64(u.AvailBytes)))
	}
	b.addRoleInfo(t)
	b.addProcessInfo(t)
	return t
}

// processMetrics are the runtime/metrics addProcessInfo reads; unlike
// runtime.ReadMemStats they do not stop the world.
var processMetrics = [...]string{
	"/sched/goroutines:goroutines",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
}

// addProcessInfo adds Wharf's own keys, for soak tests and operators:
// goroutines; heapInuse (bytes in in-use heap spans, MemStats.HeapInuse);
// heapLive (bytes of heap objects marked live by the last GC, the figure
// that does not swing with the GC cycle; 0 before the first GC); goSys (all memory the Go runtime
// mapped); connections (open remoting connections); requestGoroutines
// (handlers running and SYNC_FLUSH ackers, which come and go with the
// load); openFds (the
// process's open file descriptors, where /proc/self/fd is readable).
func (b *Broker) addProcessInfo(t map[string]string) {
	var s [len(processMetrics)]metrics.Sample
	for i, name := range processMetrics {
		s[i].Name = name
	}
	metrics.Read(s[:])
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0 // not supported by this runtime
		}
		return s[i].Value.Uint64()
	}
	t["goroutines"] = strconv.FormatUint(u(0), 10)
	t["heapInuse"] = strconv.FormatUint(u(1)+u(2), 10)
	t["heapLive"] = strconv.FormatUint(u(3), 10)
	t["goSys"] = strconv.FormatUint(u(4), 10)
	conns := b.srv.Conns()
	t["connections"] = strconv.Itoa(len(conns))
	// Goroutines that come and go with requests: handlers running and
	// SYNC_FLUSH ackers of connections that pipeline. The rest is the
	// broker's own plus one reader per connection, which must stay flat.
	var transient int64
	for _, c := range conns {
		transient += c.HandlersRunning()
	}
	t["requestGoroutines"] = strconv.FormatInt(transient+int64(countAckers(b)), 10)
	if n, ok := openFDs(); ok {
		t["openFds"] = strconv.Itoa(n)
	}
}

// openFDs counts the entries of /proc/self/fd, less the one reading it.
func openFDs() (int, bool) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, false
	}
	return len(names) - 1, true
}

// earliestMessageTime is the store time of the first record still in the
// CommitLog, -1 when it holds none (as Java).
func (b *Broker) earliestMessageTime() int64 {
	ts, ok := b.store.EarliestMessageTime()
	if !ok {
		return -1
	}
	return ts
}

// formatRuntime renders an uptime as Java's StoreStatsService does.
func formatRuntime(d time.Duration) string {
	sec := int64(max(d, 0) / time.Second)
	return fmt.Sprintf("[ %d days, %d hours, %d minutes, %d seconds ]", sec/86400, sec/3600%24, sec/60%60, sec%60)
}

// humanBytes renders a size in binary units with one decimal, as Java's
// MixAll.humanReadableByteCount(bytes, false): "512 B", "1.5 KiB".
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	const units = "KMGTPE"
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}
