package remoting

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestAuthorizeRefusesBeforeTheHandler: a refusal from ServerOptions.Authorize
// is the reply (with the request's opaque), and the handler never runs; a
// request it lets through is served. ClientOptions.Sign sees every request
// the client sends, so the server can check what it added.
func TestAuthorizeRefusesBeforeTheHandler(t *testing.T) {
	var served atomic.Int32
	s, _ := startServer(t, ServerOptions{Authorize: func(_ *Conn, req *Command) *Command {
		if req.ExtFields["signed"] != "yes" {
			return NewResponse(req, RespNoPermission, "not signed")
		}
		return nil
	}})
	s.Handle(codeSlow, func(_ context.Context, _ *Conn, req *Command) *Command {
		served.Add(1)
		return NewResponse(req, RespSuccess, "")
	})

	plain := newClient(t)
	resp, err := plain.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeSlow, map[string]string{}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RespNoPermission || resp.Remark != "not signed" {
		t.Fatalf("unsigned request: got %v, want code %d", resp, RespNoPermission)
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("handler ran %d times for a refused request", n)
	}

	signed := NewClient(ClientOptions{Logger: testLogger(io.Discard), Sign: func(c *Command) { c.SetExt("signed", "yes") }})
	t.Cleanup(func() { _ = signed.Close() })
	resp, err = signed.Invoke(ctxTimeout(t, 5*time.Second), s.Addr(), NewRequest(codeSlow, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != RespSuccess || served.Load() != 1 {
		t.Fatalf("signed request: got %v, served %d", resp, served.Load())
	}
}
