// Package metricsrv is the HTTP listener a Wharf server (broker or name
// server) opens for monitoring, RocketMQ 5's Prometheus exporter
// (metricsExporterType=PROM, default port 5557). It serves:
//
//	/metrics  the server's Prometheus registry, in the text format
//	/healthz  200 "ok" while the process serves HTTP at all
//	/readyz   200 when every readiness check passes; 503 otherwise, the
//	          body naming each failing check and why ("disk: ...")
//
// It owns one goroutine (the HTTP server), stopped by Close. The checks are
// run on every /readyz request, so they must be cheap and non-blocking.
package metricsrv
