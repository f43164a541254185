package brokertest

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// Config is the broker configuration of a test: the defaults, listening
// on loopback, with its store in dir and sized by testkit.
func Config(dir string) config.Config { return testkit.BrokerConfig(dir) }

// Start starts a broker with Config(t.TempDir()) after mut (if not nil)
// has adjusted it, and closes it at the end of the test, failing the test
// if Close fails. opts come after a Logger(t), so a WithLogger among them
// wins.
func Start(t testing.TB, mut func(*config.Config), opts ...broker.Option) *broker.Broker {
	t.Helper()
	cfg := Config(t.TempDir())
	if mut != nil {
		mut(&cfg)
	}
	return StartConfig(t, cfg, opts...)
}

// StartConfig is Start with a whole configuration, for a test that
// restarts a broker over the same directory.
func StartConfig(t testing.TB, cfg config.Config, opts ...broker.Option) *broker.Broker {
	t.Helper()
	b, err := broker.New(cfg, append([]broker.Option{broker.WithLogger(Logger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("open broker: %v", err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker %s: %v", b.Addr(), err)
		}
	})
	return b
}

// StartNameServer is testkit.StartNameServer: a name server on loopback,
// closed at the end of the test.
func StartNameServer(t testing.TB, mut func(*nameserver.Options)) *nameserver.Server {
	t.Helper()
	return testkit.StartNameServer(t, mut)
}

// Cluster is a name server and the brokers registered with it.
type Cluster struct {
	NS      *nameserver.Server
	Brokers []*broker.Broker
}

// StartCluster starts a name server and n brokers (broker-a, broker-b,
// ...) of cluster DefaultCluster registered with it, after mut (if not
// nil) has adjusted broker i's configuration. It returns once the name
// server routes to every broker.
func StartCluster(t testing.TB, n int, mut func(i int, cfg *config.Config)) *Cluster {
	t.Helper()
	c := &Cluster{NS: StartNameServer(t, nil)}
	for i := range n {
		c.Brokers = append(c.Brokers, Start(t, func(cfg *config.Config) {
			cfg.NamesrvAddr = c.NS.Addr()
			cfg.BrokerName = "broker-" + string(rune('a'+i))
			if mut != nil {
				mut(i, cfg)
			}
		}))
	}
	rc := NewClient(t, c.NS.Addr())
	for _, b := range c.Brokers {
		Eventually(t, 10*time.Second, func() bool {
			resp := rc.Call(remoting.CodeGetBrokerClusterInfo, nil, nil)
			return resp.Code == remoting.RespSuccess && strings.Contains(string(resp.Body), `"`+b.Addr()+`"`)
		}, "name server to list %s", b.Addr())
	}
	return c
}

// Logger is testkit.Logger: a logger writing to t.Log.
func Logger(t testing.TB) *slog.Logger { return testkit.Logger(t) }

// Eventually is testkit.Eventually: wait for observable state.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	testkit.Eventually(t, timeout, cond, msg, args...)
}

// Client is testkit.Client, a raw remoting client.
type Client = testkit.Client

// NewClient returns a raw remoting client for the server at addr.
func NewClient(t testing.TB, addr string) *Client { return testkit.NewClient(t, addr) }
