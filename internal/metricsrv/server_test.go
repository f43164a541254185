package metricsrv

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wharfmq/wharf/internal/testkit/httpget"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestServer(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "test_things_total", Help: "things"})
	reg.MustRegister(c)
	c.Add(7)
	var diskErr atomic.Pointer[error]
	srv, err := Start(Options{Addr: "127.0.0.1:0", Registry: reg, Checks: []Check{
		{Name: "store", Fn: func() error { return nil }},
		{Name: "disk", Fn: func() error {
			if p := diskErr.Load(); p != nil {
				return *p
			}
			return nil
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	base := "http://" + srv.Addr()
	if srv.URL() != base+"/metrics" {
		t.Fatalf("URL %q", srv.URL())
	}

	code, body := httpget.Get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "test_things_total 7\n") || !strings.Contains(body, "go_goroutines ") ||
		!strings.Contains(body, "process_") {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if code, body := httpget.Get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := httpget.Get(t, base+"/readyz"); code != 200 || body != "store: ok\ndisk: ok\nready\n" {
		t.Fatalf("/readyz ready: %d %q", code, body)
	}
	e := errors.New("refusing sends: disk full")
	diskErr.Store(&e)
	if code, body := httpget.Get(t, base+"/readyz"); code != 503 || body != "store: ok\ndisk: refusing sends: disk full\nnot ready\n" {
		t.Fatalf("/readyz not ready: %d %q", code, body)
	}
	// Still alive while not ready.
	if code, _ := httpget.Get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz while not ready: %d", code)
	}
	diskErr.Store(nil)
	if code, _ := httpget.Get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after recovery: %d", code)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("served after Close")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{Addr: "127.0.0.1:0"}); err == nil {
		t.Fatal("started without a registry")
	}
	srv, err := Start(Options{Addr: "127.0.0.1:0", Registry: NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := Start(Options{Addr: srv.Addr(), Registry: NewRegistry()}); err == nil || !strings.Contains(err.Error(), srv.Addr()) {
		t.Fatalf("second listener on %s: %v", srv.Addr(), err)
	}
}
