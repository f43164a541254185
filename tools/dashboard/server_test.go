package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newTestServer is a dashboard on a free loopback port whose name server
// nobody answers: enough for what is refused before any admin request.
func newTestServer(t *testing.T, adminMode bool) *Server {
	t.Helper()
	s, err := New(Options{Listen: "127.0.0.1:0", Namesrv: "127.0.0.1:1", Admin: adminMode, AllowHosts: []string{"dash.example"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func do(t *testing.T, s *Server, method, target, host string, hdr map[string]string, body string) (int, string) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = host
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

// TestMutationGuards checks each refusal of a mutating endpoint: read-only
// mode, a method other than POST, another origin, another content type,
// a host name a rebinding page would send, and an oversized body.
func TestMutationGuards(t *testing.T) {
	ro, adm := newTestServer(t, false), newTestServer(t, true)
	const host = "127.0.0.1:8080"
	jsonHdr := map[string]string{"Content-Type": "application/json", "Origin": "http://" + host}
	body := `{"topic":"T"}`
	for _, tc := range []struct {
		name   string
		s      *Server
		method string
		path   string
		host   string
		hdr    map[string]string
		body   string
		want   int
		says   string
	}{
		{"read-only refuses", ro, "POST", "/api/topic/create", host, jsonHdr, body, http.StatusForbidden, "read-only"},
		{"read-only refuses resend", ro, "POST", "/api/dlq/resend", host, jsonHdr, body, http.StatusForbidden, "read-only"},
		{"GET is not a mutation", adm, "GET", "/api/topic/delete?topic=T", host, nil, "", http.StatusMethodNotAllowed, "POST only"},
		{"cross origin", adm, "POST", "/api/topic/delete", host, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, body, http.StatusForbidden, "cross-origin"},
		{"cross site fetch", adm, "POST", "/api/topic/delete", host, map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, body, http.StatusForbidden, "cross-origin"},
		{"form post", adm, "POST", "/api/topic/delete", host, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://" + host}, "topic=T", http.StatusUnsupportedMediaType, "application/json"},
		{"rebinding host", adm, "GET", "/api/info", "attacker.example:8080", nil, "", http.StatusMisdirectedRequest, "unknown host"},
		{"rebinding host on a mutation", adm, "POST", "/api/topic/delete", "attacker.example:8080", map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example:8080"}, body, http.StatusMisdirectedRequest, "unknown host"},
		{"bad json", adm, "POST", "/api/topic/create", host, jsonHdr, `{"topic":`, http.StatusBadRequest, "request body"},
		{"no topic", adm, "POST", "/api/topic/create", host, jsonHdr, `{}`, http.StatusBadRequest, "topic is required"},
		{"too large", adm, "POST", "/api/topic/create", host, jsonHdr, `{"topic":"` + strings.Repeat("x", maxBody) + `"}`, http.StatusRequestEntityTooLarge, "too large"},
		{"missing parameter", ro, "GET", "/api/topic", host, nil, "", http.StatusBadRequest, "is required"},
		{"bad offset", ro, "GET", "/api/message?broker=b&offset=x", host, nil, "", http.StatusBadRequest, "not an integer"},
		{"static page POST", ro, "POST", "/", host, nil, "", http.StatusMethodNotAllowed, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, got := do(t, tc.s, tc.method, tc.path, tc.host, tc.hdr, tc.body)
			if code != tc.want || !strings.Contains(got, tc.says) {
				t.Fatalf("%s %s: %d %q, want %d saying %q", tc.method, tc.path, code, got, tc.want, tc.says)
			}
		})
	}
	// Allowed hosts: IP literals, localhost, the configured name.
	for _, h := range []string{"127.0.0.1:8080", "[::1]:8080", "localhost:8080", "dash.example", "DASH.example.:80"} {
		if code, got := do(t, ro, "GET", "/api/info", h, nil, ""); code != http.StatusOK || !strings.Contains(got, `"admin":false`) {
			t.Errorf("host %s: %d %q", h, code, got)
		}
	}
	// The pages carry a CSP that forbids inline script.
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = host
	w := httptest.NewRecorder()
	ro.Handler().ServeHTTP(w, r)
	if csp := w.Header().Get("Content-Security-Policy"); w.Code != 200 || !strings.Contains(csp, "default-src 'self'") || !strings.Contains(w.Body.String(), `src="app.js"`) {
		t.Fatalf("index: %d csp %q", w.Code, csp)
	}
}

// TestUnreachableNameServer answers 502 with the reason, not a hang.
func TestUnreachableNameServer(t *testing.T) {
	s := newTestServer(t, false)
	resp, err := http.Get("http://" + s.Addr() + "/api/cluster")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "unreachable") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
