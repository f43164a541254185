package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/tools/admin"
)

// DefaultListen is the dashboard's address when Options.Listen is empty:
// loopback only.
const DefaultListen = "127.0.0.1:8080"

// requestTimeout bounds the admin requests of one API call.
const requestTimeout = 20 * time.Second

// maxBody bounds a mutating request's JSON body.
const maxBody = 64 << 10

//go:embed web
var webFS embed.FS

// Options configures a Server.
type Options struct {
	// Listen is the HTTP address; empty means DefaultListen.
	Listen string
	// Namesrv is the name servers, "host:port[;host:port...]".
	Namesrv string
	// Admin enables the mutating endpoints and their buttons.
	Admin bool
	// AllowHosts are further host names the dashboard answers to, besides
	// IP addresses, localhost and this machine's name.
	AllowHosts []string
	// Timeout bounds each admin request; 0 means admin.DefaultTimeout.
	Timeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is a running dashboard. Close stops it.
type Server struct {
	opts  Options
	log   *slog.Logger
	ac    *admin.Client
	ln    net.Listener
	srv   *http.Server
	hosts []string
	wg    sync.WaitGroup
}

// New listens on opts.Listen and serves the dashboard until Close.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log}
	s.hosts = append([]string{"localhost"}, opts.AllowHosts...)
	if h, err := os.Hostname(); err == nil && h != "" {
		s.hosts = append(s.hosts, h)
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("dashboard: listen on %s: %w", opts.Listen, err)
	}
	s.ln = ln
	s.ac = admin.New(admin.Options{Namesrv: opts.Namesrv, Timeout: opts.Timeout, Logger: log})
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * requestTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("dashboard stopped serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the dashboard listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the dashboard's address as a browser opens it.
func (s *Server) URL() string { return "http://" + s.Addr() + "/" }

// Close stops serving, waiting a little for requests in flight, and closes
// the admin connections.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	s.wg.Wait()
	return errors.Join(err, s.ac.Close())
}

// Handler is the dashboard's HTTP handler: the pages and the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		files.ServeHTTP(w, r)
	})

	mux.HandleFunc("GET /api/info", s.get(s.info))
	mux.HandleFunc("GET /api/cluster", s.get(s.cluster))
	mux.HandleFunc("GET /api/topics", s.get(s.topics))
	mux.HandleFunc("GET /api/topic", s.get(s.topic))
	mux.HandleFunc("GET /api/groups", s.get(s.groups))
	mux.HandleFunc("GET /api/group", s.get(s.group))
	mux.HandleFunc("GET /api/producers", s.get(s.producers))
	mux.HandleFunc("GET /api/messages", s.get(s.messages))
	mux.HandleFunc("GET /api/message", s.get(s.message))
	mux.HandleFunc("GET /api/dlq", s.get(s.dlq))
	mux.HandleFunc("GET /api/dlq/messages", s.get(s.dlqMessages))

	mux.HandleFunc("/api/topic/create", s.mutate(s.createTopic))
	mux.HandleFunc("/api/topic/delete", s.mutate(s.deleteTopic))
	mux.HandleFunc("/api/group/reset", s.mutate(s.resetOffset))
	mux.HandleFunc("/api/dlq/resend", s.mutate(s.resend))
	return s.guard(mux)
}

// guard refuses a Host the dashboard does not answer to and sets the
// headers every answer carries.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			http.Error(w, "unknown host "+r.Host+" (start the dashboard with --allow-host)", http.StatusMisdirectedRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether a request's Host is an IP address,
// localhost, this machine's name or an allowed name: what a DNS-rebinding
// page cannot send.
func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return slices.ContainsFunc(s.hosts, func(a string) bool { return strings.EqualFold(a, host) })
}

// httpError is an error with the HTTP status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// status maps an error to its HTTP status.
func status(err error) int {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.Is(err, admin.ErrNotFound), errors.Is(err, admin.ErrTopicNotExist):
		return http.StatusNotFound
	case errors.Is(err, admin.ErrUnreachable):
		return http.StatusBadGateway
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// writeJSON answers v as JSON with code.
func (s *Server) writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("dashboard: write answer", "err", err)
	}
}

func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	if code >= 500 {
		s.log.Warn("dashboard request failed", "path", r.URL.Path, "err", err)
	}
	s.writeJSON(w, code, map[string]string{"error": err.Error()})
}

// get wraps a read-only API call.
func (s *Server) get(fn func(ctx context.Context, q query) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		v, err := fn(ctx, query{r})
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, v)
	}
}

// mutate wraps a mutating API call: POST only, refused unless Admin, from
// the dashboard's own origin only, with a JSON body decoded into fn's
// request.
func (s *Server) mutate(fn func(ctx context.Context, body []byte) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			s.writeErr(w, r, &httpError{http.StatusMethodNotAllowed, "POST only"})
			return
		}
		if !s.opts.Admin {
			s.writeErr(w, r, &httpError{http.StatusForbidden, "read-only dashboard: start it with --admin to change the cluster"})
			return
		}
		if err := sameOrigin(r); err != nil {
			s.writeErr(w, r, err)
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			s.writeErr(w, r, &httpError{http.StatusUnsupportedMediaType, "Content-Type must be application/json"})
			return
		}
		b, err := readBody(w, r)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		v, err := fn(ctx, b)
		if err != nil {
			s.writeErr(w, r, err)
			return
		}
		s.log.Info("dashboard change", "path", r.URL.Path, "from", r.RemoteAddr, "request", string(b))
		s.writeJSON(w, http.StatusOK, v)
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "request body too large"}
	}
	if err != nil {
		return nil, badRequest("request body: %v", err)
	}
	return b, nil
}

// sameOrigin refuses a request a browser sent from another origin: its
// Origin header must name the Host it was sent to. A request without
// Origin and Sec-Fetch-Site did not come from a browser's page (curl),
// which a cross-site attacker cannot make a victim send.
func sameOrigin(r *http.Request) error {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	if o := r.Header.Get("Origin"); o != "" {
		if !strings.EqualFold(o, scheme+r.Host) {
			return &httpError{http.StatusForbidden, "cross-origin request refused (Origin " + o + ")"}
		}
		return nil
	}
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" {
		return &httpError{http.StatusForbidden, "cross-origin request refused (Sec-Fetch-Site " + sfs + ")"}
	}
	return nil
}

// query reads URL parameters.
type query struct{ r *http.Request }

func (q query) str(name string) string { return strings.TrimSpace(q.r.URL.Query().Get(name)) }

// need returns a parameter that must be present.
func (q query) need(name string) (string, error) {
	v := q.str(name)
	if v == "" {
		return "", badRequest("parameter %q is required", name)
	}
	return v, nil
}
