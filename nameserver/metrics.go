package nameserver

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wharfmq/wharf/internal/metricsrv"
	"github.com/wharfmq/wharf/remoting"
)

// The name server's metrics (Options.MetricsAddr): what it routes and
// the requests it served, under wharf_namesrv_, each series labelled
// node_type="nameserver" and node_id (its listen address), as RocketMQ 5
// labels its nodes.

// requestCounts counts served requests by code. The map is built in New
// and only read afterwards, so counting needs no lock.
type requestCounts map[int16]*atomic.Int64

// counted wraps a handler to count its requests.
func (rc requestCounts) counted(code int16, h remoting.Handler) remoting.Handler {
	n := new(atomic.Int64)
	rc[code] = n
	return func(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
		n.Add(1)
		return h(ctx, conn, req)
	}
}

// startMetrics opens the metrics listener, if configured.
// REQUIRES: s.mu held.
func (s *Server) startMetrics() error {
	if s.opts.MetricsAddr == "" {
		return nil
	}
	reg := metricsrv.NewRegistry()
	if err := reg.Register(&nsCollector{s: s, labels: prometheus.Labels{"node_type": "nameserver", "node_id": s.rs.Addr()}}); err != nil {
		return err
	}
	srv, err := metricsrv.Start(metricsrv.Options{
		Addr: s.opts.MetricsAddr, Registry: reg, Logger: s.log,
		Checks: []metricsrv.Check{{Name: "serving", Fn: s.serving}},
	})
	if err != nil {
		return err
	}
	s.metrics = srv
	s.log.Info("metrics listening", "url", srv.URL(), "healthz", "http://"+srv.Addr()+"/healthz", "readyz", "http://"+srv.Addr()+"/readyz")
	return nil
}

// MetricsAddr is the metrics listener's address, "" when it is off.
func (s *Server) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.Addr()
}

// serving is the readiness check: started and not closed.
func (s *Server) serving() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.mu.closed:
		return errors.New("shutting down")
	case !s.mu.started:
		return errors.New("not started")
	}
	return nil
}

// nsCollector reads the route registry and request counters at scrape
// time.
type nsCollector struct {
	s      *Server
	labels prometheus.Labels
}

func (c *nsCollector) Describe(chan<- *prometheus.Desc) {}

func (c *nsCollector) Collect(ch chan<- prometheus.Metric) {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, c.labels)
	}
	clusters, brokers, live, topics := c.s.reg.counts()
	ch <- prometheus.MustNewConstMetric(d("wharf_namesrv_clusters", "Clusters with registered brokers"), prometheus.GaugeValue, float64(clusters))
	ch <- prometheus.MustNewConstMetric(d("wharf_namesrv_brokers", "Registered broker names"), prometheus.GaugeValue, float64(brokers))
	ch <- prometheus.MustNewConstMetric(d("wharf_namesrv_broker_addresses", "Live registered broker addresses (masters and slaves)"),
		prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(d("wharf_namesrv_topics", "Routed topics"), prometheus.GaugeValue, float64(topics))
	req := d("wharf_namesrv_requests_total", "Requests served, by request code", "request_code")
	for code, n := range c.s.requests {
		ch <- prometheus.MustNewConstMetric(req, prometheus.CounterValue, float64(n.Load()), strconv.Itoa(int(code)))
	}
}
