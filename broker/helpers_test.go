package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// testLogger is quiet unless WHARF_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("WHARF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.StorePathRootDir = dir
	cfg.MappedFileSizeCommitLog = 64 << 20
	return cfg
}

// startBroker starts a broker on 127.0.0.1:0 with its data in dir (a fresh
// temp dir when empty) and closes it at the end of the test.
func startBroker(t *testing.T, cfg config.Config) *Broker {
	t.Helper()
	if cfg.StorePathRootDir == "" {
		cfg = testConfig(t.TempDir())
	}
	b, err := New(cfg, WithLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// testClient is one connection to the broker.
type testClient struct {
	t    *testing.T
	c    *remoting.Client
	addr string
}

func newTestClient(t *testing.T, addr string) *testClient {
	c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(), Language: "GO", Version: 317})
	t.Cleanup(func() { c.Close() })
	return &testClient{t: t, c: c, addr: addr}
}

func (tc *testClient) call(code int16, ext map[string]string, body []byte) *remoting.Command {
	tc.t.Helper()
	return tc.callTimeout(5*time.Second, code, ext, body)
}

func (tc *testClient) callTimeout(d time.Duration, code int16, ext map[string]string, body []byte) *remoting.Command {
	tc.t.Helper()
	if ext == nil {
		ext = map[string]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	resp, err := tc.c.Invoke(ctx, tc.addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		tc.t.Fatalf("invoke code %d: %v", code, err)
	}
	return resp
}

// sendExt is the header the Go producer sends with SEND_MESSAGE.
func sendExt(topic string, queueID int, props string) map[string]string {
	return map[string]string{
		"producerGroup": "PG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": props, "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0",
		"batch": "false", "bname": "broker-a",
	}
}

func (tc *testClient) send(topic string, queueID int, props string, body string) *remoting.Command {
	tc.t.Helper()
	resp := tc.call(remoting.CodeSendMessage, sendExt(topic, queueID, props), []byte(body))
	if resp.Code != remoting.RespSuccess {
		tc.t.Fatalf("send to %s/%d: code %d %s", topic, queueID, resp.Code, resp.Remark)
	}
	return resp
}

func pullExt(group, topic string, queueID int, offset int64, sysFlag int, suspendMs int) map[string]string {
	return map[string]string{
		"consumerGroup": group, "topic": topic, "queueId": strconv.Itoa(queueID),
		"queueOffset": strconv.FormatInt(offset, 10), "maxMsgNums": "32", "sysFlag": strconv.Itoa(sysFlag),
		"commitOffset": "0", "suspendTimeoutMillis": strconv.Itoa(suspendMs), "subscription": "",
		"subVersion": "0", "expressionType": "TAG", "bname": "broker-a",
	}
}

func props(kv ...string) string {
	s := ""
	for i := 0; i+1 < len(kv); i += 2 {
		s = msg.AppendProperty(s, kv[i], kv[i+1])
	}
	return s
}

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

// eventually polls cond every 10 ms for at most d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
