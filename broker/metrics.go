package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/metricsrv"
	"github.com/wharfmq/wharf/remoting"
)

// The broker's metrics follow RocketMQ 5 (BrokerMetricsConstant,
// DefaultStoreMetricsConstant, RemotingMetricsConstant): the same names,
// the same labels, and on every series cluster, node_type="broker" and
// node_id (the broker name), so RocketMQ's Grafana dashboards read them.
// Counters are read at scrape time from counters the broker keeps anyway
// (traffic.go, the store's): the send path pays a few atomic adds.
//
// Wharf's own are under wharf_. Label cardinality is bounded by
// metricsMaxKeys (topics; topic and group pairs), past which traffic is
// counted under topic (and consumer_group) "%OTHER%".

// startMetrics opens the Prometheus listener when metricsExporterType is
// PROM.
func (b *Broker) startMetrics() error {
	if b.cfg.MetricsExporterType != config.MetricsProm {
		return nil
	}
	host := b.cfg.MetricsPromExporterHost
	if host == "" {
		host = b.cfg.BrokerIP1
	}
	reg := metricsrv.NewRegistry()
	if err := reg.Register(newBrokerCollector(b)); err != nil {
		return fmt.Errorf("broker: metrics: %w", err)
	}
	srv, err := metricsrv.Start(metricsrv.Options{
		Addr: net.JoinHostPort(host, strconv.Itoa(b.cfg.MetricsPromExporterPort)), Registry: reg,
		Checks: b.readyChecks(), Logger: b.log,
	})
	if err != nil {
		return fmt.Errorf("broker: metrics: %w", err)
	}
	b.metrics = srv
	b.log.Info("metrics listening", "url", srv.URL(), "healthz", "http://"+srv.Addr()+"/healthz", "readyz", "http://"+srv.Addr()+"/readyz")
	return nil
}

// stopMetrics closes the listener, if open.
func (b *Broker) stopMetrics() {
	if b.metrics != nil {
		if err := b.metrics.Close(); err != nil {
			b.log.Warn("metrics listener close", "err", err)
		}
	}
}

// MetricsAddr is the metrics listener's "host:port", "" when it is off.
func (b *Broker) MetricsAddr() string {
	if b.metrics == nil {
		return ""
	}
	return b.metrics.Addr()
}

// readyChecks are /readyz's conditions: the store open and writable, the
// dispatcher advancing, registered with a name server, and the disk
// taking sends.
func (b *Broker) readyChecks() []metricsrv.Check {
	return []metricsrv.Check{
		{Name: "store", Fn: func() error {
			if b.closing() {
				return errors.New("broker is shutting down")
			}
			return b.store.Err()
		}},
		{Name: "dispatch", Fn: func() error {
			if st := b.store.DispatchStall(); st != nil {
				return fmt.Errorf("stalled since %s at offset %d: %v", st.Since.UTC().Format(time.RFC3339), st.At, st.Err)
			}
			return nil
		}},
		{Name: "namesrv", Fn: b.reg.health},
		{Name: "disk", Fn: func() error {
			if err := b.store.DiskFull(); err != nil {
				return fmt.Errorf("refusing sends: %w", err)
			}
			return nil
		}},
	}
}

// timed records a handler's latency by request and response code
// (rocketmq_rpc_latency). A handler that answers later (a held pull, a
// send acknowledged after its fsync) is not timed.
func (b *Broker) timed(h remoting.Handler) remoting.Handler {
	return func(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
		start := time.Now()
		resp := h(ctx, conn, req)
		if resp != nil {
			b.traffic.rpc.observe(req.Code, resp.Code, time.Since(start))
		}
		return resp
	}
}

// brokerCollector reads the broker's state at scrape time. It is an
// unchecked collector (Describe sends nothing): its series depend on the
// topics and groups of the moment.
type brokerCollector struct {
	b *Broker

	messagesIn, messagesOut, throughputIn, throughputOut, messageSize *prometheus.Desc
	lagMessages, lagLatency, inflight, ready, queueingLatency         *prometheus.Desc
	producerConns, consumerConns, topicNum, groupNum, permission      *prometheus.Desc
	rpcLatency                                                        *prometheus.Desc
	storageSize, flushBehind, dispatchBehind, reserveTime             *prometheus.Desc

	fsync, appends, syncs, writes, appendsPerSync, segments, retentionDeleted *prometheus.Desc
	dispatchStalled, diskFull, diskUsed, replLagBytes, replLagSeconds         *prometheus.Desc
	replConnected, namesrvRegistered                                          *prometheus.Desc
	aclRequests, aclReloads                                                   *prometheus.Desc
}

func newBrokerCollector(b *Broker) *brokerCollector {
	cl := prometheus.Labels{"cluster": b.cfg.BrokerClusterName, "node_type": "broker", "node_id": b.cfg.BrokerName}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	lag := []string{"topic", "consumer_group", "is_retry", "is_system"}
	return &brokerCollector{
		b:               b,
		messagesIn:      d("rocketmq_messages_in_total", "Total number of incoming messages", "topic", "message_type", "is_system"),
		throughputIn:    d("rocketmq_throughput_in_total", "Total traffic of incoming messages (body bytes)", "topic", "message_type", "is_system"),
		messageSize:     d("rocketmq_message_size", "Incoming messages size (body bytes)", "topic", "message_type", "is_system"),
		messagesOut:     d("rocketmq_messages_out_total", "Total number of outgoing messages", lag...),
		throughputOut:   d("rocketmq_throughput_out_total", "Total traffic of outgoing messages (stored bytes)", lag...),
		lagMessages:     d("rocketmq_consumer_lag_messages", "Consumer lag messages", lag...),
		lagLatency:      d("rocketmq_consumer_lag_latency", "Consumer lag time (milliseconds)", lag...),
		inflight:        d("rocketmq_consumer_inflight_messages", "Consumer inflight messages", lag...),
		ready:           d("rocketmq_consumer_ready_messages", "Consumer ready messages", lag...),
		queueingLatency: d("rocketmq_consumer_queueing_latency", "Consumer queueing time (milliseconds)", lag...),
		producerConns:   d("rocketmq_producer_connections", "Producer connections", "protocol_type"),
		consumerConns:   d("rocketmq_consumer_connections", "Consumer connections", "consumer_group", "consume_mode", "protocol_type", "is_system"),
		topicNum:        d("rocketmq_topic_number", "Active topic number"),
		groupNum:        d("rocketmq_consumer_group_number", "Active subscription group number"),
		permission:      d("rocketmq_broker_permission", "Broker permission"),
		rpcLatency:      d("rocketmq_rpc_latency", "Request latency (milliseconds)", "protocol_type", "request_code", "response_code"),
		storageSize:     d("rocketmq_storage_size", "Broker storage size (bytes used on the store's disk)", "storage_type", "storage_medium"),
		flushBehind:     d("rocketmq_storage_flush_behind_bytes", "CommitLog bytes not yet fsynced", "storage_type", "storage_medium"),
		dispatchBehind: d("rocketmq_storage_dispatch_behind_bytes", "CommitLog bytes not yet dispatched to consume queues",
			"storage_type", "storage_medium"),
		reserveTime: d("rocketmq_storage_message_reserve_time", "Age of the oldest stored message (milliseconds)",
			"storage_type", "storage_medium"),
		fsync:             d("wharf_commitlog_fsync_seconds", "Latency of CommitLog fsync rounds"),
		appends:           d("wharf_commitlog_appends_total", "CommitLog appends (one per send request or batch)"),
		syncs:             d("wharf_commitlog_syncs_total", "CommitLog fsync rounds (group commits)"),
		writes:            d("wharf_commitlog_writes_total", "CommitLog write calls"),
		appendsPerSync:    d("wharf_commitlog_appends_per_sync", "Appends per fsync since start: how well group commit batches"),
		segments:          d("wharf_commitlog_segments", "CommitLog segment files"),
		retentionDeleted:  d("wharf_retention_deleted_segments_total", "CommitLog segments deleted by retention"),
		dispatchStalled:   d("wharf_dispatch_stalled", "1 while the dispatcher is stalled (sends refused)"),
		diskFull:          d("wharf_disk_full", "1 while sends are refused for lack of disk (disk guard)"),
		diskUsed:          d("wharf_disk_used_ratio", "Used fraction of the store's disk"),
		replLagBytes:      d("wharf_replication_lag_bytes", "Bytes a connected slave lags the master (slave: its address, or its replica id in controller mode)", "slave"),
		replLagSeconds:    d("wharf_replication_lag_seconds", "Time since a lagging slave was last caught up", "slave"),
		replConnected:     d("wharf_replication_connected", "On a slave: 1 while connected to its master"),
		namesrvRegistered: d("wharf_namesrv_registered", "Name servers holding this broker's registration"),
		aclRequests: d("wharf_acl_requests_total",
			"Requests checked by ACL: allowed, auth_failed (no or unknown access key, bad signature) or denied (a right missing)", "result"),
		aclReloads: d("wharf_acl_reloads_total", "plain_acl.yml changes put in force (ok) or kept out because they did not parse (failed)", "result"),
	}
}

// Describe sends nothing: an unchecked collector.
func (c *brokerCollector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the broker's counters and state.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.b
	sys := b.system()
	bstr := strconv.FormatBool
	counter := func(d *prometheus.Desc, v int64, l ...string) {
		emit(ch, d)(prometheus.NewConstMetric(d, prometheus.CounterValue, float64(v), l...))
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		emit(ch, d)(prometheus.NewConstMetric(d, prometheus.GaugeValue, v, l...))
	}

	b.traffic.topics.Range(func(topic string, s *topicStats) {
		isSys := bstr(sys.IsSystem(topic))
		for typ := range s.in {
			in := &s.in[typ]
			n := in.msgs.Load()
			if n == 0 {
				continue
			}
			name := msgTypeNames[typ]
			counter(c.messagesIn, n, topic, name, isSys)
			counter(c.throughputIn, in.bytes.Load(), topic, name, isSys)
			buckets := make(map[float64]uint64, len(sizeBounds))
			var cum uint64
			for i, bound := range sizeBounds {
				cum += uint64(in.sizes[i].Load())
				buckets[float64(bound)] = cum
			}
			cum += uint64(in.sizes[len(sizeBounds)].Load())
			emit(ch, c.messageSize)(prometheus.NewConstHistogram(c.messageSize, cum, float64(in.bytes.Load()), buckets, topic, name, isSys))
		}
	})
	b.traffic.groups.Range(func(k groupKey, s *groupStats) {
		l := []string{k.topic, k.group, bstr(isRetryTopic(k.topic)), bstr(sys.IsSystem(k.topic) || isSystemGroup(k.group))}
		counter(c.messagesOut, s.getNums.Value(), l...)
		counter(c.throughputOut, s.getSize.Value(), l...)
	})
	c.collectLag(ch)

	producers, consumers := b.clients.Counts()
	gauge(c.producerConns, float64(producers), "remoting")
	for _, g := range consumers {
		gauge(c.consumerConns, float64(g.Conns), g.Group, consumeMode(g.ConsumeType), "remoting", bstr(isSystemGroup(g.Group)))
	}
	topics, _ := b.topics.Snapshot()
	gauge(c.topicNum, float64(len(topics)))
	groups, _ := b.groups.Snapshot()
	gauge(c.groupNum, float64(len(groups)))
	gauge(c.permission, float64(b.permission()))

	b.traffic.rpc.t.Range(func(k rpcKey, h *rpcHist) {
		buckets := make(map[float64]uint64, len(rpcBounds))
		var cum uint64
		for i, bound := range rpcBounds {
			cum += uint64(h.counts[i].Load())
			buckets[float64(bound.Milliseconds())] = cum
		}
		cum += uint64(h.counts[len(rpcBounds)].Load())
		emit(ch, c.rpcLatency)(prometheus.NewConstHistogram(c.rpcLatency, cum, float64(h.sum.Load())/1e6, buckets,
			"remoting", requestCodeName(k.req), responseCodeName(k.resp)))
	})

	st := b.store.LogStats()
	const stType, stMedium = "local", "disk"
	if u, err := vfs.Default.GetDiskUsage(b.cfg.StorePathRootDir); err == nil && u.TotalBytes > 0 {
		gauge(c.storageSize, float64(u.TotalBytes-u.AvailBytes), stType, stMedium)
		gauge(c.diskUsed, float64(u.UsedBytes)/float64(u.TotalBytes))
	}
	gauge(c.flushBehind, float64(max(st.End-st.Synced, 0)), stType, stMedium)
	gauge(c.dispatchBehind, float64(max(st.Readable-b.store.DispatchedOffset(), 0)), stType, stMedium)
	if ts, ok := b.store.EarliestMessageTime(); ok {
		gauge(c.reserveTime, float64(max(time.Now().UnixMilli()-ts, 0)), stType, stMedium)
	}

	fb := make(map[float64]uint64, len(engine.SyncBounds))
	var cum uint64
	for i, bound := range engine.SyncBounds {
		cum += uint64(st.SyncHist[i])
		fb[bound.Seconds()] = cum
	}
	cum += uint64(st.SyncHist[len(engine.SyncBounds)])
	emit(ch, c.fsync)(prometheus.NewConstHistogram(c.fsync, cum, st.SyncTime.Seconds(), fb))
	counter(c.appends, st.Appends)
	counter(c.syncs, st.Syncs)
	counter(c.writes, st.Writes)
	if st.Syncs > 0 {
		gauge(c.appendsPerSync, float64(st.Appends)/float64(st.Syncs))
	}
	gauge(c.segments, float64(st.Segments))
	counter(c.retentionDeleted, st.RetentionRemoved)
	gauge(c.dispatchStalled, boolGauge(b.store.DispatchStall() != nil))
	gauge(c.diskFull, boolGauge(b.store.DiskFull() != nil))

	if m := b.repl.master.Load(); m != nil {
		for _, s := range m.Slaves() {
			gauge(c.replLagBytes, float64(s.LagBytes), s.Addr)
			gauge(c.replLagSeconds, s.Lag.Seconds(), s.Addr)
		}
	}
	if b.cm != nil {
		if m := b.cm.master.Load(); m != nil {
			end := b.store.ReadableOffset()
			for _, s := range m.Slaves() {
				id := strconv.FormatInt(s.ID, 10)
				gauge(c.replLagBytes, float64(max(end-s.Acked, 0)), id)
				if end > s.Acked && !s.CaughtUp.IsZero() {
					gauge(c.replLagSeconds, time.Since(s.CaughtUp).Seconds(), id)
				} else {
					gauge(c.replLagSeconds, 0, id)
				}
			}
		}
	}
	if s := b.repl.slave.Load(); s != nil {
		gauge(c.replConnected, boolGauge(s.State().Connected))
	}
	gauge(c.namesrvRegistered, float64(b.reg.registered.Load()))
	if b.acl != nil {
		st := b.acl.Stats()
		counter(c.aclRequests, int64(st.Allowed), "allowed")
		counter(c.aclRequests, int64(st.AuthFailures), "auth_failed")
		counter(c.aclRequests, int64(st.PermDenied), "denied")
		counter(c.aclReloads, int64(st.Reloads), "ok")
		counter(c.aclReloads, int64(st.ReloadFailures), "failed")
	}
}

// lagRow is one (topic, group) row of the lag gauges.
type lagRow struct {
	lag, inflight, ready int64
	// oldest unconsumed and oldest unpulled store times (ms; 0: none)
	unconsumed, unpulled int64
}

// collectLag reports, per group and topic it committed offsets for, the
// messages behind (lag), pulled but not committed (inflight), not yet
// pulled (ready), and the age of the oldest unconsumed and unpulled ones.
// Rows past metricsMaxKeys are summed under "%OTHER%".
func (c *brokerCollector) collectLag(ch chan<- prometheus.Metric) {
	b := c.b
	all, err := b.store.ConsumerOffsets()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lagMessages, err)
		return
	}
	rows := map[groupKey]*lagRow{}
	var keys []groupKey
	for group, offs := range all {
		for ref, committed := range offs {
			if committed < 0 {
				continue
			}
			st, ok := b.store.QueueState(ref.Topic, ref.QueueID)
			if !ok {
				continue
			}
			k := groupKey{ref.Topic, group}
			r := rows[k]
			if r == nil {
				r = &lagRow{}
				rows[k] = r
				keys = append(keys, k)
			}
			committed = min(max(committed, st.Min), st.Max)
			r.lag += st.Max - committed
			pulled, ok := b.traffic.pulledTo(ref.Topic, group, ref.QueueID)
			if !ok || pulled < committed {
				pulled = committed
			}
			pulled = min(pulled, st.Max)
			r.inflight += pulled - committed
			r.ready += st.Max - pulled
			if committed < st.Max {
				if ts, _ := b.storeTimeAt(ref.Topic, ref.QueueID, committed); ts > 0 && (r.unconsumed == 0 || ts < r.unconsumed) {
					r.unconsumed = ts
				}
			}
			if pulled < st.Max {
				if ts, _ := b.storeTimeAt(ref.Topic, ref.QueueID, pulled); ts > 0 && (r.unpulled == 0 || ts < r.unpulled) {
					r.unpulled = ts
				}
			}
		}
	}
	slices.SortFunc(keys, func(x, y groupKey) int {
		return strings.Compare(x.topic+"\x00"+x.group, y.topic+"\x00"+y.group)
	})
	limit := b.cfg.MetricsMaxKeys
	if limit <= 0 {
		limit = config.DefaultMetricsMaxKeys
	}
	var other *lagRow
	if len(keys) > limit {
		other = &lagRow{}
		for _, k := range keys[limit:] {
			r := rows[k]
			other.lag += r.lag
			other.inflight += r.inflight
			other.ready += r.ready
			other.unconsumed = minNonZero(other.unconsumed, r.unconsumed)
			other.unpulled = minNonZero(other.unpulled, r.unpulled)
		}
		keys = keys[:limit]
	}
	now := time.Now().UnixMilli()
	sys := b.system()
	emit := func(k groupKey, r *lagRow, isRetry, isSys string) {
		l := []string{k.topic, k.group, isRetry, isSys}
		emit(ch, c.lagMessages)(prometheus.NewConstMetric(c.lagMessages, prometheus.GaugeValue, float64(r.lag), l...))
		emit(ch, c.inflight)(prometheus.NewConstMetric(c.inflight, prometheus.GaugeValue, float64(r.inflight), l...))
		emit(ch, c.ready)(prometheus.NewConstMetric(c.ready, prometheus.GaugeValue, float64(r.ready), l...))
		emit(ch, c.lagLatency)(prometheus.NewConstMetric(c.lagLatency, prometheus.GaugeValue, float64(sinceMs(now, r.unconsumed)), l...))
		emit(ch, c.queueingLatency)(prometheus.NewConstMetric(c.queueingLatency, prometheus.GaugeValue, float64(sinceMs(now, r.unpulled)), l...))
	}
	for _, k := range keys {
		emit(k, rows[k], strconv.FormatBool(isRetryTopic(k.topic)), strconv.FormatBool(sys.IsSystem(k.topic) || isSystemGroup(k.group)))
	}
	if other != nil {
		emit(groupKey{overflowKey, overflowKey}, other, "false", "false")
	}
}

// emit returns a func sending a metric to ch, or, when building it failed
// (a label value that is not UTF-8, from a client's topic or group name),
// an invalid metric: the scrape reports the error and serves the rest.
func emit(ch chan<- prometheus.Metric, d *prometheus.Desc) func(prometheus.Metric, error) {
	return func(m prometheus.Metric, err error) {
		if err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			return
		}
		ch <- m
	}
}

func sinceMs(now, ts int64) int64 {
	if ts == 0 {
		return 0
	}
	return max(now-ts, 0)
}

func minNonZero(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// permission is the broker's permission as RocketMQ reports it
// (brokerPermission): read and write on a master, read on a slave.
func (b *Broker) permission() int {
	const read, write = 4, 2
	if b.isSlave() {
		return read
	}
	return read | write
}

// systemGroups are RocketMQ's built-in consumer groups (MixAll), and
// systemGroupPrefix the prefix of its system groups, matched without case
// as BrokerMetricsManager.isSystemGroup does.
var systemGroups = map[string]bool{
	"TOOLS_CONSUMER": true, "FILTERSRV_CONSUMER": true, "__MONITOR_CONSUMER": true, "CLIENT_INNER_PRODUCER": true,
	"SELF_TEST_P_GROUP": true, "SELF_TEST_C_GROUP": true, "CID_ONS-HTTP-PROXY": true, "CID_ONSAPI_PERMISSION": true,
	"CID_ONSAPI_OWNER": true, "CID_ONSAPI_PULL": true, "CID_RMQ_SYS_TRANS": true,
}

const systemGroupPrefix = "cid_rmq_sys_"

func isSystemGroup(group string) bool {
	if systemGroups[group] {
		return true
	}
	return len(group) >= len(systemGroupPrefix) && strings.EqualFold(group[:len(systemGroupPrefix)], systemGroupPrefix)
}

// consumeMode is RocketMQ's consume_mode label of a heartbeat's
// consumeType (ConsumeType.getTypeCN, lower case).
func consumeMode(consumeType string) string {
	switch consumeType {
	case "CONSUME_ACTIVELY":
		return "pull"
	case "CONSUME_PASSIVELY":
		return "push"
	case "CONSUME_POP":
		return "pop"
	}
	return strings.ToLower(consumeType)
}

// requestCodeNames are RocketMQ's names (RequestCode's field names, lower
// case, as RemotingHelper.getRequestCodeDesc) of the codes the broker
// serves most; others are given as their number, as RocketMQ does for a
// code it does not know.
var requestCodeNames = map[int16]string{
	remoting.CodeSendMessage: "send_message", remoting.CodeSendMessageV2: "send_message_v2",
	remoting.CodeSendBatchMessage: "send_batch_message", remoting.CodePullMessage: "pull_message",
	remoting.CodeQueryConsumerOffset: "query_consumer_offset", remoting.CodeUpdateConsumerOffset: "update_consumer_offset",
	remoting.CodeHeartBeat: "heart_beat", remoting.CodeUnregisterClient: "unregister_client",
	remoting.CodeGetConsumerListByGroup: "get_consumer_list_by_group", remoting.CodeGetMaxOffset: "get_max_offset",
	remoting.CodeGetMinOffset: "get_min_offset", remoting.CodeSearchOffsetByTimestamp: "search_offset_by_timestamp",
	remoting.CodeConsumerSendMsgBack: "consumer_send_msg_back", remoting.CodeEndTransaction: "end_transaction",
	remoting.CodeLockBatchMQ: "lock_batch_mq", remoting.CodeUnlockBatchMQ: "unlock_batch_mq",
	remoting.CodeQueryMessage: "query_message", remoting.CodeViewMessageByID: "view_message_by_id",
	remoting.CodeGetBrokerRuntimeInfo: "get_broker_runtime_info", remoting.CodeUpdateAndCreateTopic: "update_and_create_topic",
	remoting.CodeGetTopicStatsInfo: "get_topic_stats_info", remoting.CodeGetConsumeStats: "get_consume_stats",
	remoting.CodeViewBrokerStatsData: "view_broker_stats_data", remoting.CodeGetAllTopicConfig: "get_all_topic_config",
	remoting.CodeGetAllSubscriptionGroupConfig: "get_all_subscriptiongroup_config",
	remoting.CodeGetAllConsumerOffset:          "get_all_consumer_offset", remoting.CodeGetAllDelayOffset: "get_all_delay_offset",
	remoting.CodeDeleteTopicInBroker: "delete_topic_in_broker", remoting.CodeGetEarliestMsgStoreTime: "get_earliest_msg_storetime",
	remoting.CodeSendReplyMessage: "send_reply_message", remoting.CodeSendReplyMessageV2: "send_reply_message_v2",
	remoting.CodeInvokeBrokerToResetOffset: "invoke_broker_to_reset_offset",
}

// responseCodeNames are RocketMQ's names of the common response codes
// (ResponseCode's field names, lower case).
var responseCodeNames = map[int16]string{
	remoting.RespSuccess: "success", remoting.RespSystemError: "system_error", remoting.RespSystemBusy: "system_busy",
	remoting.RespMessageIllegal: "message_illegal", remoting.RespServiceNotAvailable: "service_not_available",
	remoting.RespNoPermission: "no_permission", remoting.RespTopicNotExist: "topic_not_exist",
	remoting.RespPullNotFound: "pull_not_found", remoting.RespPullRetryImmediately: "pull_retry_immediately",
	remoting.RespPullOffsetMoved: "pull_offset_moved",
}

func requestCodeName(c int16) string {
	if n, ok := requestCodeNames[c]; ok {
		return n
	}
	return strconv.Itoa(int(c))
}

func responseCodeName(c int16) string {
	if n, ok := responseCodeNames[c]; ok {
		return n
	}
	return strconv.Itoa(int(c))
}
