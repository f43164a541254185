package remoting

import (
	"strings"
	"testing"
	"time"
)

// A TLS ClientHello on a plaintext port closes the connection with one
// clear line per connection, at most one a second, never "frame too
// large"; a frame after it on another connection is served.
func TestTLSHandshakeOnPlaintextPort(t *testing.T) {
	s, logs := startServer(t, ServerOptions{})
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0xf8, 0x01, 0x00, 0x00, 0xf4, 0x03, 0x03}
	start := time.Now()
	const conns = 10
	for range conns {
		rc := dialRaw(t, s.Addr())
		if _, err := rc.nc.Write(hello); err != nil {
			t.Fatal(err)
		}
		rc.expectClosed()
	}
	// The server logs before it closes: every line is in by now.
	out := logs.String()
	// One line a second at most: 1 when the connections took under a
	// second, as they do on loopback.
	most := 1 + int(time.Since(start)/time.Second)
	if n := strings.Count(out, "TLS handshake on a plaintext port"); n < 1 || n > most {
		t.Fatalf("%d lines about %d TLS clients, want 1..%d:\n%s", n, conns, most, out)
	}
	if strings.Contains(out, "frame too large") || strings.Contains(out, "bad frame") {
		t.Fatalf("the TLS clients were logged as bad frames:\n%s", out)
	}
	rc := dialRaw(t, s.Addr())
	rc.send(NewRequest(codeEcho, map[string]string{"k": "v"}, nil))
	if resp, err := rc.read(); err != nil || resp.Code != RespSuccess {
		t.Fatalf("a plaintext request after the TLS clients: %v %v", resp, err)
	}
}
