package remoting

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const codeCount int16 = 1010 // inline: counts, takes 2 ms, replies

// countingServer serves codeCount inline, slowly enough that a burst of
// requests is still partly unread in the socket when the peer closes.
func countingServer(t *testing.T, opts ServerOptions) (*Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s, _ := startServer(t, opts)
	s.HandleInline(codeCount, func(_ context.Context, _ *Conn, req *Command) *Command {
		time.Sleep(2 * time.Millisecond)
		n.Add(1)
		return NewResponse(req, RespSuccess, "")
	})
	return s, &n
}

// burstAndClose sends n codeCount requests (not oneway, as the Go client
// sends its last offset commits) in one write and closes at once.
func burstAndClose(t *testing.T, addr string, n int) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := range n {
		if buf, err = AppendFrame(buf, &Command{Code: codeCount, Opaque: int32(i + 1), Language: "GO"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
}

// A peer that sends requests and closes with a reply unread resets the
// connection; the requests it sent before must still be served, although
// the replies to them can no longer be written.
func TestRequestsServedAfterPeerReset(t *testing.T) {
	s, served := countingServer(t, ServerOptions{})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1<<10)
	frame := func(i int) []byte {
		b, err := AppendFrame(nil, &Command{Code: codeCount, Opaque: int32(i + 1), Language: "GO", Body: body})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := nc.Write(frame(0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // its reply arrives and stays unread
	// More than the server's read buffer holds, so some of it is still in
	// the kernel when the server's first write after the reset fails.
	const n = 50
	var burst []byte
	for i := 1; i < n; i++ {
		burst = append(burst, frame(i)...)
	}
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	_ = nc.Close() // with a reply unread: a reset
	deadline := time.Now().Add(5 * time.Second)
	for served.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := served.Load(); got != n {
		t.Fatalf("served %d of the %d requests sent before the peer reset the connection", got, n)
	}
}

// Drain serves what connections already sent, then Close closes them; a
// quiet connection is drained within the quiet period, not the whole
// drain timeout.
func TestDrainServesBufferedRequests(t *testing.T) {
	s, served := countingServer(t, ServerOptions{})
	idle := dialRaw(t, s.Addr()) // a quiet connection must not hold Drain up
	idle.send(&Command{Code: codeEcho, Opaque: 1, Language: "GO"})
	if _, err := idle.read(); err != nil {
		t.Fatal(err)
	}
	const n = 50
	burstAndClose(t, s.Addr(), n)
	start := time.Now()
	s.Drain(context.Background())
	took := time.Since(start)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := served.Load(); got != n {
		t.Fatalf("served %d of the %d requests sent before Drain", got, n)
	}
	if took >= DefaultDrainTimeout {
		t.Fatalf("Drain took %v: a quiet connection held it to the timeout", took)
	}
	idle.expectClosed()
}

// A connection silent in the middle of a frame is cut after FrameTimeout;
// one idle between whole frames for as long is not.
func TestPartialFrameCutIdleConnectionKept(t *testing.T) {
	const frameTimeout = 150 * time.Millisecond
	s, logs := startServer(t, ServerOptions{FrameTimeout: frameTimeout, IdleTimeout: 20 * frameTimeout})
	ok, err := EncodeFrame(&Command{Code: codeEcho, Opaque: 1, Language: "GO"})
	if err != nil {
		t.Fatal(err)
	}
	idle := dialRaw(t, s.Addr())
	idle.send(&Command{Code: codeEcho, Opaque: 1, Language: "GO"})
	if _, err := idle.read(); err != nil {
		t.Fatal(err)
	}
	// Partial in the kernel only (3 bytes of the length), and partial after
	// a whole frame (read ahead into the server's buffer).
	partials := map[string][]byte{"in the length": ok[:3], "after a whole frame": append(ok[:len(ok):len(ok)], ok[:10]...)}
	start := time.Now()
	for name, b := range partials {
		r := dialRaw(t, s.Addr())
		if _, err := r.nc.Write(b); err != nil {
			t.Fatal(err)
		}
		r.expectClosed()
		if d := time.Since(start); d < frameTimeout || d > 10*frameTimeout {
			t.Fatalf("%s: partial frame cut after %v, frame timeout %v", name, d, frameTimeout)
		}
		start = time.Now()
	}
	// The idle connection is now older than two frame timeouts, and served.
	idle.send(&Command{Code: codeEcho, Opaque: 2, Language: "GO"})
	if resp, err := idle.read(); err != nil || resp.Opaque != 2 {
		t.Fatalf("idle connection between frames was cut: %v %v", resp, err)
	}
	if n := strings.Count(logs.String(), "silent inside a frame"); n != len(partials) {
		t.Fatalf("%d partial-frame closes logged, want %d:\n%s", n, len(partials), logs)
	}
}
