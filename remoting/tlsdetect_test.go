package remoting

import (
	"strings"
	"testing"
)

// A TLS ClientHello on a plaintext port closes the connection with one
// clear line per connection, at most one a second, never "frame too
// large"; a frame after it on another connection is served.
func TestTLSHandshakeOnPlaintextPort(t *testing.T) {
	s, logs := startServer(t, ServerOptions{})
	hello := []byte{0x16, 0x03, 0x01, 0x00, 0xf8, 0x01, 0x00, 0x00, 0xf4, 0x03, 0x03}
	for range 3 {
		rc := dialRaw(t, s.Addr())
		if _, err := rc.nc.Write(hello); err != nil {
			t.Fatal(err)
		}
		rc.expectClosed()
	}
	// The server logs before it closes: every line is in by now.
	out := logs.String()
	if n := strings.Count(out, "TLS handshake on a plaintext port"); n != 1 {
		t.Fatalf("%d lines about the TLS clients, want 1 (three within a second):\n%s", n, out)
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
