package remoting

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

// TestClientWarnsOnceAboutAPeerSendingGarbage: a client whose configured
// address is no remoting port (a broker's controllerAddr naming an HTTP
// server, say) redials it every second; the bad frame each connection
// reads is logged once per badFrameLogEvery, not once per connection.
func TestClientWarnsOnceAboutAPeerSendingGarbage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			_, _ = c.Write(append([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"), bytes.Repeat([]byte{0x7f}, 64)...))
			c.Close()
		}
	}()
	logs := &loglines.Lines{}
	c := NewClient(ClientOptions{Logger: testLogger(logs)})
	t.Cleanup(func() { c.Close() })
	for range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Invoke(ctx, ln.Addr().String(), NewRequest(codeEcho, nil, nil))
		cancel()
		if err == nil {
			t.Fatal("a request to a peer that sends garbage succeeded")
		}
	}
	if n := strings.Count(logs.String(), "closing connection after bad frame"); n != 1 {
		t.Fatalf("%d bad-frame lines over 6 connections to one address, want 1:\n%s", n, logs)
	}
}
