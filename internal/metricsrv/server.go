package metricsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultPort is RocketMQ 5's metricsPromExporterPort default.
const DefaultPort = 5557

// Check is one readiness condition: Fn returns nil when it holds, or an
// error saying what is wrong.
type Check struct {
	Name string
	Fn   func() error
}

// Options configure a Server.
type Options struct {
	// Addr is the "host:port" to listen on; "127.0.0.1:0" picks a port.
	Addr string
	// Registry is what /metrics serves (NewRegistry makes one with the Go
	// runtime and process collectors).
	Registry *prometheus.Registry
	// Checks are /readyz's conditions, in the order reported.
	Checks []Check
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Server is a running metrics and probe listener.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}

	once     sync.Once
	closeErr error
}

// NewRegistry returns a registry with the Go runtime and process
// collectors (go_*, process_*) registered.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Start listens on o.Addr and serves in the background.
func Start(o Options) (*Server, error) {
	if o.Registry == nil {
		return nil, errors.New("metricsrv: no registry")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("metricsrv: listen %s: %w", o.Addr, err)
	}
	mux := http.NewServeMux()
	// A collector error leaves the rest of the scrape standing: one bad
	// gauge must not blank the whole page.
	mux.Handle("/metrics", promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	checks := o.Checks
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, body := Ready(checks)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprint(w, body)
	})
	s := &Server{
		ln:   ln,
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn)},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("metrics listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Ready runs the checks: ok when all pass. The body has one line per
// check, "name: ok" or "name: <error>", then "ready" or "not ready".
func Ready(checks []Check) (ok bool, body string) {
	var b strings.Builder
	ok = true
	for _, c := range checks {
		if err := c.Fn(); err != nil {
			ok = false
			fmt.Fprintf(&b, "%s: %v\n", c.Name, err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.Name)
		}
	}
	if ok {
		b.WriteString("ready\n")
	} else {
		b.WriteString("not ready\n")
	}
	return ok, b.String()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the /metrics URL, for start logs.
func (s *Server) URL() string { return "http://" + s.Addr() + "/metrics" }

// Close stops the listener, waits up to 5 s for requests in flight, and
// waits for the serving goroutine. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			s.closeErr = errors.Join(err, s.srv.Close())
		}
		<-s.done
	})
	return s.closeErr
}
