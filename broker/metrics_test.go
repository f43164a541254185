package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/wharfmq/wharf/internal/testkit/httpget"
	"github.com/wharfmq/wharf/internal/vfstest"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// TestReadyz: /readyz turns not ready, naming the check, while the disk
// guard refuses sends and while no name server holds the registration,
// and ready again after each; /healthz answers throughout.
func TestReadyz(t *testing.T) {
	ns := startNameServer(t, nil)
	fs := &vfstest.UsageFS{FS: vfs.NewMem()}
	fs.UsedPct.Store(40)
	cfg := metricsConfig("data")
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 1024, 4096 // in memory: a small key index
	cfg.NamesrvAddr = ns.Addr()
	b := openBroker(t, cfg, WithFS(fs))
	b.reg.period = 200 * time.Millisecond // probe the name servers often
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	var code int
	var body string
	ready := func(want int, contains string) func() bool {
		return func() bool {
			code, body = httpget.Get(t, "http://"+b.MetricsAddr()+"/readyz")
			return code == want && strings.Contains(body, contains)
		}
	}
	eventually(t, 5*time.Second, "ready after start", ready(200, "ready"))
	if body != "store: ok\ndispatch: ok\nnamesrv: ok\ndisk: ok\nready\n" {
		t.Fatalf("/readyz body %q", body)
	}

	fs.UsedPct.Store(96)
	eventually(t, 5*time.Second, "not ready on a full disk", ready(503, "disk: refusing sends: "))
	if !strings.Contains(body, "namesrv: ok\n") || !strings.HasSuffix(body, "not ready\n") {
		t.Fatalf("/readyz body %q", body)
	}
	if code, _ := httpget.Get(t, "http://"+b.MetricsAddr()+"/healthz"); code != 200 {
		t.Fatalf("/healthz while not ready: %d", code)
	}
	if v := value(scrape(t, b), "wharf_disk_full", nil); v != 1 {
		t.Errorf("wharf_disk_full = %v while refusing", v)
	}
	fs.UsedPct.Store(40) // no send needed: the check itself looks again
	eventually(t, 5*time.Second, "ready when the disk has room", ready(200, "disk: ok"))

	addr := ns.Addr()
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "not ready without a name server", ready(503, "namesrv: not registered with any of the name servers "+addr))
	if v := value(scrape(t, b), "wharf_namesrv_registered", nil); v != 0 {
		t.Errorf("wharf_namesrv_registered = %v with the name server down", v)
	}
	startNameServer(t, func(o *nameserver.Options) { o.Listen = addr })
	eventually(t, 5*time.Second, "ready when a name server is back", ready(200, "namesrv: ok"))
	if code, _ := httpget.Get(t, "http://"+b.MetricsAddr()+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
}

// TestMetricsConnectionsAndBound: producer and consumer connections as
// heartbeats announce them, and topics past metricsMaxKeys counted under
// "%OTHER%".
func TestMetricsConnectionsAndBound(t *testing.T) {
	cfg := metricsConfig(t.TempDir())
	cfg.MetricsMaxKeys = 2
	b := startBroker(t, cfg)
	c1, c2 := newTestClient(t, b.Addr()), newTestClient(t, b.Addr())
	expectCode(t, c1.call(remoting.CodeHeartBeat, nil, heartbeatBody("c1", "G", 1, "T")), remoting.RespSuccess, "heartbeat")
	expectCode(t, c2.call(remoting.CodeHeartBeat, nil, heartbeatBody("c2", "G", 1, "T")), remoting.RespSuccess, "heartbeat")
	fams := scrape(t, b)
	if v := value(fams, "rocketmq_producer_connections", map[string]string{"protocol_type": "remoting"}); v != 2 {
		t.Errorf("producer connections %v, want 2", v)
	}
	if v := value(fams, "rocketmq_consumer_connections", map[string]string{"consumer_group": "G", "consume_mode": "push", "is_system": "false"}); v != 2 {
		t.Errorf("consumer connections %v, want 2", v)
	}
	c2.c.Close()
	eventually(t, 5*time.Second, "one consumer connection left", func() bool {
		return value(scrape(t, b), "rocketmq_consumer_connections", map[string]string{"consumer_group": "G"}) == 1
	})

	for i, topic := range []string{"BoundA", "BoundB", "BoundC", "BoundD"} {
		createTopic(t, c1, topic, 1)
		for range i + 1 {
			expectCode(t, c1.send(topic, 0, "", "x"), remoting.RespSuccess, "send")
		}
	}
	fams = scrape(t, b)
	for topic, want := range map[string]float64{"BoundA": 1, "BoundB": 2, "%OTHER%": 7, "BoundC": -1, "BoundD": -1} {
		if v := value(fams, "rocketmq_messages_in_total", map[string]string{"topic": topic}); v != want {
			t.Errorf("messages in of %s = %v, want %v", topic, v, want)
		}
	}
}

func TestMessageType(t *testing.T) {
	for props, want := range map[string]int{
		"":                                      msgNormal,
		props("KEYS", "k"):                      msgNormal,
		props("TRAN_MSG", "true"):               msgTransaction,
		props("TRAN_MSG", "true", "DELAY", "3"): msgTransaction,
		props("DELAY", "3"):                     msgDelay,
		props("TIMER_DELIVER_MS", "1"):          msgDelay,
		props("__SHARDINGKEY", "order-1"):       msgFIFO,
		props("TRAN_MSG", "false"):              msgNormal,
	} {
		if got := messageType(props); got != want {
			t.Errorf("messageType(%q) = %s, want %s", props, msgTypeNames[got], msgTypeNames[want])
		}
	}
	p := props("KEYS", "k", "__SHARDINGKEY", "x")
	if n := testing.AllocsPerRun(100, func() { messageType(p) }); n != 0 {
		t.Errorf("messageType allocates %.1f times", n)
	}
}

func TestMetricsNames(t *testing.T) {
	for g, want := range map[string]bool{"CID_RMQ_SYS_TRANS": true, "cid_rmq_sys_x": true, "TOOLS_CONSUMER": true, "G": false, "cid": false} {
		if isSystemGroup(g) != want {
			t.Errorf("isSystemGroup(%q) != %v", g, want)
		}
	}
	for ct, want := range map[string]string{"CONSUME_PASSIVELY": "push", "CONSUME_ACTIVELY": "pull", "CONSUME_POP": "pop"} {
		if consumeMode(ct) != want {
			t.Errorf("consumeMode(%q) = %q", ct, consumeMode(ct))
		}
	}
	if requestCodeName(remoting.CodeSendMessageV2) != "send_message_v2" || requestCodeName(9999) != "9999" ||
		responseCodeName(remoting.RespSuccess) != "success" || responseCodeName(-5) != "-5" {
		t.Error("code names")
	}
}

// TestEmitBadLabel: a label value that is not UTF-8 (a topic or group
// name in a binary-serialized header) becomes an invalid metric, which
// the scrape reports and skips, not a panic.
func TestEmitBadLabel(t *testing.T) {
	d := prometheus.NewDesc("x_total", "x", []string{"topic"}, nil)
	ch := make(chan prometheus.Metric, 1)
	emit(ch, d)(prometheus.NewConstMetric(d, prometheus.CounterValue, 1, "bad\xfftopic"))
	var m dto.Metric
	if err := (<-ch).Write(&m); err == nil {
		t.Fatal("a non-UTF-8 label value made a valid metric")
	}
	emit(ch, d)(prometheus.NewConstMetric(d, prometheus.CounterValue, 1, "good"))
	if err := (<-ch).Write(&m); err != nil || m.Counter.GetValue() != 1 {
		t.Fatalf("valid metric: %v %v", err, &m)
	}
}
