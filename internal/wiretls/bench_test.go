package wiretls_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/wiretls"
	"github.com/wharfmq/wharf/remoting"
)

// BenchmarkInvoke measures request/response round trips of 1 KiB over a
// remoting connection, plaintext against TLS, on one permissive port: the
// cost TLS adds per send (not for figures on a shared machine).
func BenchmarkInvoke(b *testing.B) {
	p := testkit.TLSFiles(b)
	s := p.Settings(wiretls.Permissive)
	scfg, err := s.ServerConfig()
	if err != nil {
		b.Fatal(err)
	}
	gate, err := wiretls.NewServer(s.Mode, scfg, "bench", testkit.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	srv := remoting.NewServer(remoting.ServerOptions{Logger: testkit.Logger(b)})
	srv.Handle(1001, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		return remoting.NewResponse(req, remoting.RespSuccess, "")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.StartListener(gate.Listen(ln)); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	ccfg, err := wiretls.ClientConfigFor(p.CA)
	if err != nil {
		b.Fatal(err)
	}
	body := make([]byte, 1024)
	for _, bc := range []struct {
		name string
		cfg  *tls.Config
	}{{"plaintext", nil}, {"tls", ccfg}} {
		b.Run(bc.name, func(b *testing.B) {
			c := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(b), TLS: bc.cfg})
			defer c.Close()
			ctx := context.Background()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Invoke(ctx, srv.Addr(), remoting.NewRequest(1001, map[string]string{}, body))
					if err != nil || resp.Code != remoting.RespSuccess {
						b.Errorf("invoke: %v %v", resp, err)
						return
					}
				}
			})
		})
	}
}
