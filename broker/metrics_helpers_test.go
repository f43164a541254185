package broker

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/wharfmq/wharf/broker/config"
)

// metricsConfig is testConfig with the metrics listener on a free
// loopback port.
func metricsConfig(dir string) config.Config {
	cfg := testConfig(dir)
	cfg.MetricsExporterType, cfg.MetricsPromExporterHost, cfg.MetricsPromExporterPort = config.MetricsProm, "127.0.0.1", 0
	return cfg
}

// scrape GETs /metrics over HTTP and parses it.
func scrape(t *testing.T, b *Broker) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series finds the series of name whose labels include want; ok is false
// when there is none.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) (*dto.Metric, bool) {
	f := fams[name]
	if f == nil {
		return nil, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m, true
	}
	return nil, false
}

// value is a counter's or gauge's value, or a histogram's sample count;
// -1 when the series is missing.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	m, ok := series(fams, name, want)
	switch {
	case !ok:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}
