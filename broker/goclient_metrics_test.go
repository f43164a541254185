package broker

import (
	"fmt"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/remoting"
)

// TestGoClientMetrics scrapes /metrics over HTTP around a load from the
// official Go client: N sends, of which a push consumer reads the first
// half (the second half is sent after it stopped), and checks the
// RocketMQ-named counters and gauges against exactly what was sent and
// consumed.
func TestGoClientMetrics(t *testing.T) {
	start := time.Now()
	cl := startClusterWith(t, metricsConfig(t.TempDir()))
	const topic, group, n = "MetricsT", "MetricsG", 40
	cl.createTopic(t, topic, 2)
	p := cl.producer(t)
	ctx := ctx10s(t)
	bodyBytes := 0
	send := func(from, to int) {
		for i := from; i < to; i++ {
			body := fmt.Sprintf("metrics-%d-%s", i, string(make([]byte, i%7)))
			if _, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte(body))); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
			bodyBytes += len(body)
		}
	}
	send(0, n/2)

	r := &received{}
	// Its own client instance: its connection closes at Shutdown, and a
	// pull it left held at the broker delivers nothing after.
	c := cl.consumer(t, group, topic, consumer.MessageSelector{}, r, consumer.WithInstance("metrics-consumer"))
	eventually(t, 10*time.Second, "the consumer got the first half", func() bool { return r.count() >= n/2 && r.idle() })
	fams := scrape(t, cl.b)
	if v := value(fams, "rocketmq_consumer_connections", map[string]string{"consumer_group": group, "consume_mode": "push"}); v != 1 {
		t.Errorf("consumer connections of %s = %v, want 1", group, v)
	}
	if err := c.Shutdown(); err != nil { // commits its offsets
		t.Fatal(err)
	}
	if r.count() != n/2 {
		t.Fatalf("consumer got %d messages, want %d", r.count(), n/2)
	}
	var outBytes int64
	for _, m := range r.msgs {
		outBytes += int64(m.StoreSize)
	}
	eventually(t, 10*time.Second, "the consumer's connection closed", func() bool {
		_, groups := cl.b.clients.Counts()
		return len(groups) == 0
	})
	send(n/2, n)
	waitDispatched(t, cl.b)
	eventually(t, 10*time.Second, "the group's offsets committed", func() bool {
		var sum int64
		for q := range int32(2) {
			off, _, _ := cl.b.store.ConsumerOffset(group, topic, q)
			sum += off
		}
		return sum == n/2
	})

	fams = scrape(t, cl.b)
	in := map[string]string{"topic": topic, "message_type": "normal", "is_system": "false",
		"cluster": cl.cfg.BrokerClusterName, "node_type": "broker", "node_id": cl.cfg.BrokerName}
	out := map[string]string{"topic": topic, "consumer_group": group, "is_retry": "false", "is_system": "false"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"rocketmq_messages_in_total", in, n},
		{"rocketmq_throughput_in_total", in, float64(bodyBytes)},
		{"rocketmq_message_size", in, n},
		{"rocketmq_messages_out_total", out, n / 2},
		{"rocketmq_throughput_out_total", out, float64(outBytes)},
		{"rocketmq_consumer_lag_messages", out, n / 2},
		{"rocketmq_consumer_inflight_messages", out, 0},
		{"rocketmq_consumer_ready_messages", out, n / 2},
		{"rocketmq_storage_dispatch_behind_bytes", nil, 0},
		{"wharf_dispatch_stalled", nil, 0},
		{"wharf_disk_full", nil, 0},
		{"rocketmq_broker_permission", nil, 6},
	} {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	size, _ := series(fams, "rocketmq_message_size", in)
	if h := size.GetHistogram(); h.GetSampleSum() != float64(bodyBytes) || h.Bucket[0].GetUpperBound() != 1024 ||
		h.Bucket[0].GetCumulativeCount() != n {
		t.Errorf("rocketmq_message_size: %v", h)
	}
	if lat := value(fams, "rocketmq_consumer_lag_latency", out); lat < 0 || lat > float64(time.Since(start).Milliseconds()) {
		t.Errorf("rocketmq_consumer_lag_latency = %v ms, test ran %v", lat, time.Since(start))
	}
	topics, _ := cl.b.topics.Snapshot()
	if got := value(fams, "rocketmq_topic_number", nil); got != float64(len(topics)) {
		t.Errorf("rocketmq_topic_number = %v, want %d", got, len(topics))
	}
	var sends float64
	for _, code := range []string{"send_message", "send_message_v2"} {
		if v := value(fams, "rocketmq_rpc_latency", map[string]string{"request_code": code, "response_code": "success"}); v > 0 {
			sends += v
		}
	}
	if sends != n {
		t.Errorf("rocketmq_rpc_latency counts %v successful sends, want %d", sends, n)
	}
	if v := value(fams, "wharf_commitlog_appends_total", nil); v < n {
		t.Errorf("wharf_commitlog_appends_total = %v, want >= %d", v, n)
	}
	if v := value(fams, "wharf_commitlog_segments", nil); v < 1 {
		t.Errorf("wharf_commitlog_segments = %v", v)
	}
	if v := value(fams, "wharf_namesrv_registered", nil); v != 1 {
		t.Errorf("wharf_namesrv_registered = %v, want 1", v)
	}

	// The same counters behind VIEW_BROKER_STATS_DATA and the runtime
	// table's rates.
	cl.b.traffic.sampler.SnapshotItems(time.Now())
	tc := newTestClient(t, cl.b.Addr())
	for _, c := range []struct {
		name, key string
		sum       int64
	}{
		{statsTopicPutNums, topic, n},
		{statsTopicPutSize, topic, int64(bodyBytes)},
		{statsGroupGetNums, topic + "@" + group, n / 2},
		{statsGroupGetSize, topic + "@" + group, outBytes},
	} {
		resp := tc.call(remoting.CodeViewBrokerStatsData, map[string]string{"statsName": c.name, "statsKey": c.key}, nil)
		expectCode(t, resp, remoting.RespSuccess, c.name)
		var sd brokerStatsData
		decodeStatsData(t, resp.Body, &sd)
		if sd.StatsMinute.Sum != c.sum || sd.StatsHour.Sum != c.sum || sd.StatsDay.Sum != c.sum {
			t.Errorf("%s %s: %+v, want sum %d in every window", c.name, c.key, sd, c.sum)
		}
	}
	eventually(t, 5*time.Second, "putTps over 10 s", func() bool {
		var tenSec float64
		fmt.Sscanf(runtimeTable(t, tc)["putTps"], "%f", &tenSec)
		return tenSec > 0
	})
}
