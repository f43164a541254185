package broker

import (
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// The helpers here are the internal tests' side of broker/brokertest: a
// test in package broker cannot import brokertest (it imports broker), so
// these build on the same internal/testkit and keep the test
// configuration next to brokertest.Config's. Tests that need no
// unexported state belong in package broker_test with brokertest.

// testLogger writes to t.Log (see testkit.LogEnv for the level).
func testLogger(t testing.TB) *slog.Logger { return testkit.Logger(t) }

// testConfig is brokertest.Config (testkit.BrokerConfig): the defaults on
// loopback with a small store in dir.
func testConfig(dir string) config.Config { return testkit.BrokerConfig(dir) }

// startBroker starts a broker with cfg (testConfig(t.TempDir()) when
// cfg has no directory) and closes it at the end of the test.
func startBroker(t *testing.T, cfg config.Config, opts ...Option) *Broker {
	t.Helper()
	if cfg.StorePathRootDir == "" {
		cfg = testConfig(t.TempDir())
	}
	b := openBroker(t, cfg, opts...)
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// openBroker opens a broker with cfg and opts (after a test logger) but
// neither starts nor closes it: for tests that adjust its fields before
// Start or close it themselves.
func openBroker(t testing.TB, cfg config.Config, opts ...Option) *Broker {
	t.Helper()
	b, err := New(cfg, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("open broker: %v", err)
	}
	return b
}

// startNameServer is testkit.StartNameServer.
func startNameServer(t *testing.T, mut func(*nameserver.Options)) *nameserver.Server {
	t.Helper()
	return testkit.StartNameServer(t, mut)
}

// testClient is one connection to a server: testkit.Client with the
// short names these tests use.
type testClient struct {
	*testkit.Client
	t    *testing.T
	c    *remoting.Client // to register handlers or close early
	addr string
}

func newTestClient(t *testing.T, addr string) *testClient {
	kc := testkit.NewClient(t, addr)
	return &testClient{Client: kc, t: t, c: kc.RC, addr: addr}
}

func (tc *testClient) call(code int16, ext map[string]string, body []byte) *remoting.Command {
	tc.t.Helper()
	return tc.Call(code, ext, body)
}

func (tc *testClient) send(topic string, queueID int, props string, body string) *remoting.Command {
	tc.t.Helper()
	return tc.Send(topic, queueID, props, body)
}

// sendExt is the header the Go producer sends with SEND_MESSAGE.
func sendExt(topic string, queueID int, props string) map[string]string {
	return testkit.SendHeader(topic, queueID, props)
}

func pullExt(group, topic string, queueID int, offset int64, sysFlag int, suspendMs int) map[string]string {
	return map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queueID),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag),
		"commitOffset": "0", "suspendTimeoutMillis": strconv.Itoa(suspendMs), "subscription": "",
		"subVersion": "0", "expressionType": "TAG", "bname": "broker-a",
	}
}

func props(kv ...string) string { return testkit.Props(kv...) }

func extInt(t *testing.T, c *remoting.Command, key string) int64 {
	t.Helper()
	v, err := c.ExtInt64(key)
	if err != nil {
		t.Fatalf("response %v: %v", c, err)
	}
	return v
}

// decodeAll splits a pull body into records.
func decodeAll(t *testing.T, body []byte) []msg.Record {
	t.Helper()
	var out []msg.Record
	for len(body) > 0 {
		r, err := msg.Decode(body)
		if err != nil {
			t.Fatalf("decode record %d: %v", len(out), err)
		}
		out = append(out, r)
		body = body[len(r.Raw):]
	}
	return out
}

// eventually is testkit.Eventually with the argument order these tests use.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.Eventually(t, d, cond, "%s", what)
}

func expectCode(t *testing.T, resp *remoting.Command, code int16, what string) {
	t.Helper()
	if resp.Code != code {
		t.Fatalf("%s: code %d (%q), want %d", what, resp.Code, resp.Remark, code)
	}
}

func waitDispatched(t *testing.T, b *Broker) {
	t.Helper()
	if err := b.store.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

type netDialer struct{}

func (netDialer) dial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, 2*time.Second)
}
