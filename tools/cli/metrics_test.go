package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/httpget"
)

// TestStandaloneMetrics: `wharf standalone` prints the metrics URLs in its
// start log and serves RocketMQ-named metrics and the probes there, for
// the broker and (with --namesrv-metrics) the name server.
func TestStandaloneMetrics(t *testing.T) {
	p := startWharf(t, "standalone", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--namesrv-listen", "127.0.0.1:0",
		"--metrics", "127.0.0.1:0", "--namesrv-metrics", "127.0.0.1:0")
	nsURL := p.fieldOf(t, "name server serving", "metrics", 20*time.Second)
	bURL := p.fieldOf(t, "broker serving", "metrics", 20*time.Second)
	if !strings.HasPrefix(bURL, "http://127.0.0.1:") || !strings.HasSuffix(bURL, "/metrics") {
		t.Fatalf("broker metrics URL %q", bURL)
	}
	code, body := httpget.Get(t, bURL)
	if code != 200 || !strings.Contains(body, `rocketmq_topic_number{cluster="DefaultCluster",node_id="broker-a",node_type="broker"}`) {
		t.Fatalf("broker /metrics %d:\n%.2000s", code, body)
	}
	readyz := strings.TrimSuffix(bURL, "/metrics") + "/readyz"
	testkit.Eventually(t, 15*time.Second, func() bool {
		code, _ := httpget.Get(t, readyz)
		return code == 200
	}, "broker ready at %s", readyz)
	if code, body := httpget.Get(t, nsURL); code != 200 || !strings.Contains(body, "wharf_namesrv_brokers{") {
		t.Fatalf("name server /metrics %d:\n%.2000s", code, body)
	}
	if err := p.stop(t, os.Interrupt); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsAddrFromConf(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		path := filepath.Join(dir, "namesrv.conf")
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for conf, want := range map[string]string{
		"listenPort=9876\n":             "",
		"metricsExporterType=DISABLE\n": "",
		"metricsExporterType=PROM\n":    ":5557",
		"metricsExporterType = prom\nmetricsPromExporterHost=127.0.0.1\nmetricsPromExporterPort=9100\n": "127.0.0.1:9100",
	} {
		got, err := metricsAddrFromConf(t, write(conf))
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", conf, got, err, want)
		}
	}
	for _, bad := range []string{"metricsExporterType=OTLP_GRPC\n", "metricsExporterType=PROM\nmetricsPromExporterPort=x\n"} {
		if _, err := metricsAddrFromConf(t, write(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// metricsAddrFromConf reads the file at path as wharf namesrv -c does.
func metricsAddrFromConf(t *testing.T, path string) (string, error) {
	t.Helper()
	props, err := readConf(path, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return metricsAddr(path, props)
}
