package broker

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/wiretls"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// tlsNameServer starts a name server whose port serves mode with the
// certificates of p, logging to log.
func tlsNameServer(t *testing.T, p testkit.TLSPaths, mode wiretls.Mode, log *slog.Logger) *nameserver.Server {
	t.Helper()
	s := p.Settings(mode)
	cfg, err := s.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	gate, err := wiretls.NewServer(mode, cfg, "namesrv", log)
	if err != nil {
		t.Fatal(err)
	}
	return startNameServer(t, func(o *nameserver.Options) { o.WrapListener, o.Logger = gate.Listen, log })
}

// clientTLS is the configuration of a test client that verifies the
// server against the test CA.
func clientTLS(t *testing.T, p testkit.TLSPaths) *tls.Config {
	t.Helper()
	cfg, err := wiretls.ClientConfigFor(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// goClientTLSReset turns the official Go client's TLS off again when the
// test ends, after its clients have shut down (register it before them):
// WithTls(true) writes the client's process-wide default remoting
// configuration, so every client made after it, in any test, would dial
// TLS.
func goClientTLSReset(t *testing.T) {
	t.Cleanup(func() { _, _ = producer.NewDefaultProducer(producer.WithTls(false)) })
}

// startTLSCluster starts a name server and a broker that both serve mode;
// the broker registers over TLS, verifying the name server's certificate.
func startTLSCluster(t *testing.T, mode wiretls.Mode) (*cluster, testkit.TLSPaths, *testkit.LogLines) {
	t.Helper()
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	goClientTLSReset(t)
	p := testkit.TLSFiles(t)
	log, lines := testkit.CaptureLog(t)
	ns := tlsNameServer(t, p, mode, log)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.TLS = p.Settings(mode)
	cl := &cluster{ns: ns, cfg: cfg}
	cl.b = startBroker(t, cfg, WithLogger(log))
	nc := testkit.NewTLSClient(t, ns.Addr(), clientTLS(t, p))
	testkit.Eventually(t, 10*time.Second, func() bool {
		return nc.Call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": systopic.AutoCreate}, nil).Code == remoting.RespSuccess
	}, "the broker to register over TLS")
	return cl, p, lines
}

// The official Go client with WithTls(true) produces and consumes through
// a TLS name server and broker, in both TLS modes; permissive still serves
// plaintext on the same port, enforcing refuses it and stores nothing.
func TestTLSGoClient(t *testing.T) {
	for _, mode := range []wiretls.Mode{wiretls.Permissive, wiretls.Enforcing} {
		t.Run(mode.String(), func(t *testing.T) {
			cl, p, lines := startTLSCluster(t, mode)
			tc := testkit.NewTLSClient(t, cl.b.Addr(), clientTLS(t, p))
			tc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "TLS", "readQueueNums": "1",
				"writeQueueNums": "1", "perm": "6"}, nil)
			nc := testkit.NewTLSClient(t, cl.ns.Addr(), clientTLS(t, p))
			testkit.Eventually(t, 10*time.Second, func() bool {
				return nc.Call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "TLS"}, nil).Code == remoting.RespSuccess
			}, "the route of TLS")

			// Instance names of their own: the Go client keeps a process-wide
			// client per instance, and a TLS one must not serve later tests.
			prod := cl.producer(t, producer.WithTls(true), producer.WithInstanceName("tls-"+mode.String()))
			const n = 20
			for i := range n {
				res, err := prod.SendSync(ctx10s(t), primitive.NewMessage("TLS", []byte("tls-"+strconv.Itoa(i))))
				if err != nil || res.Status != primitive.SendOK {
					t.Fatalf("send %d over TLS: %v %v", i, res, err)
				}
			}
			var r received
			cl.consumer(t, "G_TLS", "TLS", consumer.MessageSelector{}, &r, consumer.WithTls(true),
				consumer.WithInstance("tls-consumer-"+mode.String()))
			testkit.Eventually(t, 20*time.Second, func() bool { return r.count() >= n }, "the consumer to get every message over TLS")
			if got := r.bodies(); len(got) != n {
				t.Fatalf("consumed %d distinct bodies, want %d", len(got), n)
			}

			// A plaintext client on the same port.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			plain := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t)})
			defer plain.Close()
			resp, err := plain.Invoke(ctx, cl.b.Addr(), remoting.NewRequest(remoting.CodeSendMessage,
				testkit.SendHeader("TLS", 0, ""), []byte("plaintext")))
			before := cl.b.store.MaxPhysOffset()
			switch mode {
			case wiretls.Permissive:
				if err != nil || resp.Code != remoting.RespSuccess {
					t.Fatalf("permissive: plaintext send: %v %v", resp, err)
				}
			case wiretls.Enforcing:
				if err == nil {
					t.Fatalf("enforcing: plaintext send answered %v", resp)
				}
				testkit.Eventually(t, 5*time.Second, func() bool { return lines.Count("plaintext connection refused") > 0 },
					"the refusal to be logged")
				if after := cl.b.store.MaxPhysOffset(); after != before {
					t.Fatalf("enforcing: the store grew from %d to %d after a refused plaintext send", before, after)
				}
				if got := tc.Call(remoting.CodeGetMaxOffset, map[string]string{"topic": "TLS", "queueId": "0"}, nil); extInt(t, got, "offset") != n {
					t.Fatalf("enforcing: queue holds %d messages, want %d", extInt(t, got, "offset"), n)
				}
			}
		})
	}
}

// A TLS client on a plaintext port: the server logs what happened, not a
// "frame too large", and the client gets no answer.
func TestTLSClientOnPlaintextPort(t *testing.T) {
	log, lines := testkit.CaptureLog(t)
	ns := startNameServer(t, func(o *nameserver.Options) { o.Logger = log })
	p := testkit.TLSFiles(t)
	tc := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), TLS: clientTLS(t, p), DialTimeout: 2 * time.Second})
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if resp, err := tc.Invoke(ctx, ns.Addr(), remoting.NewRequest(remoting.CodeGetRouteInfoByTopic,
		map[string]string{"topic": systopic.AutoCreate}, nil)); err == nil {
		t.Fatalf("a TLS client got an answer from a plaintext port: %v", resp)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return lines.Count("TLS handshake on a plaintext port") == 1 },
		"the name server to log the TLS client")
	if n := lines.Count("frame too large"); n != 0 {
		t.Fatalf("%d lines say frame too large", n)
	}
}

// The official Go client with WithTls(true) against plaintext ports: the
// send fails and the name server says why in its log.
func TestTLSGoClientOnPlaintextCluster(t *testing.T) {
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	goClientTLSReset(t)
	log, lines := testkit.CaptureLog(t)
	ns := startNameServer(t, func(o *nameserver.Options) { o.Logger = log })
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cl := &cluster{ns: ns, cfg: cfg, b: startBroker(t, cfg)}
	prod := cl.producer(t, producer.WithTls(true), producer.WithRetry(0), producer.WithSendMsgTimeout(2*time.Second),
		producer.WithInstanceName("tls-on-plaintext"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if res, err := prod.SendSync(ctx, primitive.NewMessage("TLS_ON_PLAIN", []byte("x"))); err == nil {
		t.Fatalf("a TLS Go client sent to a plaintext cluster: %v", res)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return lines.Count("TLS handshake on a plaintext port") > 0 },
		"the name server to log the TLS client")
	if n := lines.Count("frame too large"); n != 0 {
		t.Fatalf("%d lines say frame too large", n)
	}
}

// A SYNC_MASTER and its slave with TLS enforced on every port: the slave
// registers and dials the master's HA port over TLS, and a SEND_OK is
// already on the slave.
func TestTLSReplication(t *testing.T) {
	p := testkit.TLSFiles(t)
	log, lines := testkit.CaptureLog(t)
	ns := tlsNameServer(t, p, wiretls.Enforcing, log)
	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr, mcfg.BrokerRole, mcfg.TLS = ns.Addr(), config.SyncMaster, p.Settings(wiretls.Enforcing)
	master := startBroker(t, mcfg, WithLogger(log))
	slave, _ := startSlave(t, ns.Addr(), 50*time.Millisecond, func(c *config.Config) {
		c.MappedFileSizeCommitLog = mcfg.MappedFileSizeCommitLog
		c.TLS = p.Settings(wiretls.Enforcing)
	})
	testkit.Eventually(t, 10*time.Second, func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && st[0].Acked >= 0 // trusted at connect; in sync after its first report
	}, "the slave to follow over TLS and be trusted")
	pc := testkit.NewTLSClient(t, master.Addr(), clientTLS(t, p))
	pc.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": "HA_TLS", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil)
	for i := range 5 {
		resp := pc.Call(remoting.CodeSendMessage, testkit.SendHeader("HA_TLS", 0, ""), []byte("m"+strconv.Itoa(i)))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("send %d: code %d %s", i, resp.Code, resp.Remark)
		}
		if got, want := slave.store.MaxPhysOffset(), master.store.MaxPhysOffset(); got < want {
			t.Fatalf("SEND_OK for send %d with the slave at %d of %d", i, got, want)
		}
	}
	if n := lines.Count("plaintext connection refused"); n != 0 {
		t.Fatalf("%d plaintext connections refused: something in the cluster dialed without TLS", n)
	}

	// A plaintext peer on the enforcing HA port is refused.
	plain := testkit.NewClient(t, master.repl.master.Load().Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	conn, err := plain.RC.Conn(ctx, plain.Addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.InvokeOneway(remoting.NewRequest(remoting.CodeHeartBeat, nil, nil))
	testkit.Eventually(t, 5*time.Second, func() bool { return lines.Count("plaintext connection refused") > 0 },
		"the HA port to refuse plaintext")
	if lines.Count("port=ha") == 0 {
		t.Fatalf("the refusal does not name the HA port")
	}
}

// A broker whose certificate file is missing or whose key is encrypted
// does not start, and the error names the file.
func TestTLSStartErrors(t *testing.T) {
	p := testkit.TLSFiles(t)
	missing := filepath.Join(t.TempDir(), "nope.pem")
	encrypted := filepath.Join(t.TempDir(), "enc.key")
	if err := os.WriteFile(encrypted, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*wiretls.Settings)
		want string
	}{
		{"missing cert", func(s *wiretls.Settings) { s.ServerCertPath = missing }, missing},
		{"encrypted key", func(s *wiretls.Settings) { s.ServerKeyPath = encrypted }, "encrypted"},
		{"no cert key", func(s *wiretls.Settings) { s.ServerCertPath = "" }, "tls.server.certPath"},
		{"missing trust", func(s *wiretls.Settings) { s.ClientTrustCertPath = missing }, missing},
		{"missing config file", func(s *wiretls.Settings) { s.ConfigFile = missing }, missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.TLS = p.Settings(wiretls.Enforcing)
			tc.mut(&cfg.TLS)
			b, err := New(cfg, WithLogger(testLogger(t)))
			if err == nil {
				b.Close()
				t.Fatal("the broker started")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not name %q", err, tc.want)
			}
		})
	}
}
