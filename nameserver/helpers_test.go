package nameserver

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// testServer is a name server on 127.0.0.1:0 with a client to talk to it.
type testServer struct {
	t   *testing.T
	srv *Server
	cli *remoting.Client
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startServer starts a name server with opts (Listen and Logger filled in)
// and stops it at the end of the test.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	ts := &testServer{t: t, srv: srv, cli: newClient()}
	t.Cleanup(func() {
		ts.cli.Close()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return ts
}

func newClient() *remoting.Client {
	return remoting.NewClient(remoting.ClientOptions{Logger: quietLogger()})
}

// invokeWith sends req through cli (nil: the shared client).
func (ts *testServer) invokeWith(cli *remoting.Client, req *remoting.Command) *remoting.Command {
	ts.t.Helper()
	if cli == nil {
		cli = ts.cli
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Invoke(ctx, ts.srv.Addr(), req)
	if err != nil {
		ts.t.Fatalf("invoke %s: %v", req, err)
	}
	return resp
}

func (ts *testServer) invoke(req *remoting.Command) *remoting.Command {
	ts.t.Helper()
	return ts.invokeWith(nil, req)
}

// broker describes one registration in tests.
type broker struct {
	name, addr, cluster string
	id                  int64
	dv                  DataVersion
	topics              map[string]TopicConfig
}

func (b broker) request(t *testing.T) *remoting.Command {
	t.Helper()
	body, err := EncodeRegisterBody(b.topics, b.dv)
	if err != nil {
		t.Fatalf("EncodeRegisterBody: %v", err)
	}
	cluster := b.cluster
	if cluster == "" {
		cluster = "DefaultCluster"
	}
	return RegisterRequest(b.name, b.addr, cluster, b.id, body)
}

// register registers b through cli (nil: the shared client) and expects
// SUCCESS.
func (ts *testServer) register(cli *remoting.Client, b broker) *remoting.Command {
	ts.t.Helper()
	resp := ts.invokeWith(cli, b.request(ts.t))
	if resp.Code != remoting.RespSuccess {
		ts.t.Fatalf("register %s: code %d remark %q", b.name, resp.Code, resp.Remark)
	}
	return resp
}

// route asks for a topic's route and returns the reply.
func (ts *testServer) route(topic string) *remoting.Command {
	ts.t.Helper()
	return ts.invoke(remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
}

// mustRoute returns the decoded route of topic, failing if there is none.
func (ts *testServer) mustRoute(topic string) TopicRouteData {
	ts.t.Helper()
	resp := ts.route(topic)
	if resp.Code != remoting.RespSuccess {
		ts.t.Fatalf("route %s: code %d remark %q", topic, resp.Code, resp.Remark)
	}
	var rd TopicRouteData
	if err := json.Unmarshal(resp.Body, &rd); err != nil {
		ts.t.Fatalf("route %s: body %s: %v", topic, resp.Body, err)
	}
	return rd
}

// waitNoRoute polls until topic has no route, failing after a deadline.
func (ts *testServer) waitNoRoute(topic string) {
	ts.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp := ts.route(topic)
		if resp.Code == remoting.RespTopicNotExist {
			return
		}
		if time.Now().After(deadline) {
			ts.t.Fatalf("route of %s still there: code %d body %s", topic, resp.Code, resp.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func topicTest(name string, queues int32, perm int) TopicConfig {
	return TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: "SINGLE_TAG"}
}

// defaultTopics is what a fresh broker registers: TBW102 and TopicTest.
func defaultTopics() map[string]TopicConfig {
	return map[string]TopicConfig{
		"TBW102":    topicTest("TBW102", 8, PermRead|PermWrite|PermInherit),
		"TopicTest": topicTest("TopicTest", 4, PermRead|PermWrite),
	}
}

// compressedBody builds Java's compressed RegisterBrokerBody: zlib over
// length-prefixed DataVersion JSON, topic configs and filter-server list.
// asJSON writes topic configs as JSON instead of TopicConfig.encode
// strings.
func compressedBody(t *testing.T, topics []TopicConfig, dv DataVersion, asJSON bool) []byte {
	t.Helper()
	var raw bytes.Buffer
	put := func(b []byte) {
		_ = binary.Write(&raw, binary.BigEndian, int32(len(b)))
		raw.Write(b)
	}
	dvb, _ := json.Marshal(dv)
	put(dvb)
	_ = binary.Write(&raw, binary.BigEndian, int32(len(topics)))
	for _, tc := range topics {
		if asJSON {
			b, _ := json.Marshal(tc)
			put(b)
			continue
		}
		put(fmt.Appendf(nil, "%s %d %d %d %s", tc.TopicName, tc.ReadQueueNums, tc.WriteQueueNums, tc.Perm, tc.TopicFilterType))
	}
	put([]byte("[]"))
	return deflateZlib(t, raw.Bytes())
}

func deflateZlib(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&out, zlib.BestCompression)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// compressedRequest is a REGISTER_BROKER with a compressed body.
func compressedRequest(name, addr string, body []byte) *remoting.Command {
	req := RegisterRequest(name, addr, "DefaultCluster", 0, body)
	req.SetExt("compressed", "true")
	return req
}
