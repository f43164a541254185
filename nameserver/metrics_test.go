package nameserver

import (
	"strconv"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/internal/testkit/httpget"
	"github.com/wharfmq/wharf/remoting"
)

// TestMetrics: with MetricsAddr the name server serves /metrics with its
// routes and request counts, /healthz and /readyz.
func TestMetrics(t *testing.T) {
	ts := startServer(t, Options{MetricsAddr: "127.0.0.1:0"})
	base := "http://" + ts.srv.MetricsAddr()
	ts.register(nil, broker{name: "b1", addr: "127.0.0.1:10911", id: 0, topics: map[string]TopicConfig{
		"T1": {TopicName: "T1", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
		"T2": {TopicName: "T2", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
	}})
	ts.register(nil, broker{name: "b1", addr: "127.0.0.1:10921", id: 1, cluster: "DefaultCluster"})
	for range 3 {
		ts.mustRoute("T1")
	}
	code, body := httpget.Get(t, base+"/metrics")
	labels := `{node_id="` + ts.srv.Addr() + `",node_type="nameserver"`
	for _, want := range []string{
		"wharf_namesrv_clusters" + labels + "} 1\n",
		"wharf_namesrv_brokers" + labels + "} 1\n",
		"wharf_namesrv_broker_addresses" + labels + "} 2\n",
		"wharf_namesrv_topics" + labels + "} 2\n",
		"wharf_namesrv_requests_total" + labels + `,request_code="` + strconv.Itoa(int(remoting.CodeGetRouteInfoByTopic)) + `"} 3` + "\n",
		"wharf_namesrv_requests_total" + labels + `,request_code="` + strconv.Itoa(int(remoting.CodeRegisterBroker)) + `"} 2` + "\n",
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q:\n%s", code, want, body)
		}
	}
	if code, body := httpget.Get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz %d %q", code, body)
	}
	if code, body := httpget.Get(t, base+"/readyz"); code != 200 || body != "serving: ok\nready\n" {
		t.Fatalf("/readyz %d %q", code, body)
	}
	if err := ts.srv.serving(); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsOffAndBadAddr(t *testing.T) {
	ts := startServer(t, Options{})
	if ts.srv.MetricsAddr() != "" {
		t.Fatal("metrics listener without MetricsAddr")
	}
	s, err := New(Options{Listen: "127.0.0.1:0", Logger: quietLogger(), MetricsAddr: "256.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "metrics") {
		t.Fatalf("Start with a bad metrics address: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
