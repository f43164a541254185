package broker

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// byteProxy forwards loopback TCP to target and counts the bytes sent
// towards it, so a test sees what a broker sends its name server.
type byteProxy struct {
	ln    net.Listener
	sent  atomic.Int64
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startByteProxy(t *testing.T, target string) *byteProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &byteProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				io.Copy(io.MultiWriter(up, countWriter{&p.sent}), c)
				up.Close()
			}()
			go func() {
				defer p.wg.Done()
				io.Copy(c, up)
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(b []byte) (int, error) { w.n.Add(int64(len(b))); return len(b), nil }

// longTopic is a 127-character topic name, the longest allowed.
func longTopic(i int) string {
	s := fmt.Sprintf("T%06d-", i)
	return s + strings.Repeat("x", meta.MaxTopicLength-len(s))
}

func topicList(t *testing.T, nsc *testClient) map[string]bool {
	t.Helper()
	resp := nsc.call(remoting.CodeGetAllTopicListFromNameServer, nil, nil)
	expectCode(t, resp, remoting.RespSuccess, "topic list")
	var tl struct {
		TopicList []string `json:"topicList"`
	}
	if err := json.Unmarshal(resp.Body, &tl); err != nil {
		t.Fatal(err)
	}
	m := make(map[string]bool, len(tl.TopicList))
	for _, s := range tl.TopicList {
		m[s] = true
	}
	return m
}

// TestAutoCreateRegistersIncrementally: topics auto-created by sends are
// routable as each send returns, and what the broker sends its name server
// grows with the number of topics, not with its square (before, every
// auto-create re-sent the whole table: about n/2 tables in all).
func TestAutoCreateRegistersIncrementally(t *testing.T) {
	const n = 1500
	ns := startNameServer(t, nil)
	proxy := startByteProxy(t, ns.Addr())
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = proxy.ln.Addr().String()
	b := startBroker(t, cfg)
	nsc := newTestClient(t, ns.Addr())
	eventually(t, 10*time.Second, "TBW102 route", func() bool {
		return nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": systopic.AutoCreate}, nil).Code == 0
	})
	c := newTestClient(t, b.Addr())
	start := proxy.sent.Load()
	deadline := time.Now().Add(90 * time.Second)
	for i := range n {
		c.send(longTopic(i), 0, "", "x")
		if i%250 == 0 {
			expectCode(t, nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": longTopic(i)}, nil),
				remoting.RespSuccess, "route right after the auto-creating send")
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d auto-creating sends in 90 s", i, n)
		}
	}
	sent := proxy.sent.Load() - start
	table := int64(len(body.EncodeRegisterBody(tableOf(b), body.DataVersion{})))
	t.Logf("%d topics: %d bytes sent to the name server; the whole table as JSON is %d bytes", n, sent, table)
	if sent > 8*table {
		t.Fatalf("creating %d topics sent %d bytes to the name server, more than 8 whole tables (%d bytes each)", n, sent, table)
	}
	got := topicList(t, nsc)
	for i := range n {
		if !got[longTopic(i)] {
			t.Fatalf("topic %d has no route", i)
		}
	}
}

// TestRegistrationInParts: a table larger than splitRegistrationSize goes
// in parts, all of it routed; removing a topic sends the whole table again
// (in parts), which drops the topic; and a name server that lost the
// broker gets the whole table back at the next change. Both body forms.
func TestRegistrationInParts(t *testing.T) {
	for _, compressed := range []bool{true, false} {
		t.Run(fmt.Sprintf("compressed=%v", compressed), func(t *testing.T) { testRegistrationInParts(t, compressed) })
	}
}

func testRegistrationInParts(t *testing.T, compressed bool) {
	ns := startNameServer(t, nil)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = ns.Addr()
	cfg.SplitRegistrationSize = 3
	cfg.CompressedRegister = compressed
	b := startBroker(t, cfg)
	nsc := newTestClient(t, ns.Addr())
	all := func() []string {
		table, _ := b.topics.Snapshot()
		names := make([]string, 0, len(table))
		for name := range table {
			names = append(names, name)
		}
		return names
	}
	routedAll := func(what string) {
		t.Helper()
		eventually(t, 10*time.Second, what, func() bool {
			got := topicList(t, nsc)
			for _, name := range all() {
				if !got[name] {
					return false
				}
			}
			return true
		})
	}
	routedAll("every built-in topic routed")
	if parts := b.reg.stats.fullParts.Load(); parts < 3 {
		t.Fatalf("%d topics sent in %d parts, want at least 3 of 3", len(all()), parts)
	}
	c := newTestClient(t, b.Addr())
	create := func(topic string) {
		expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, map[string]string{"topic": topic, "readQueueNums": "2", "writeQueueNums": "2"}, nil),
			remoting.RespSuccess, "create "+topic)
	}
	for i := range 20 {
		create(fmt.Sprintf("Part%d", i))
	}
	routedAll("every created topic routed")
	expectCode(t, c.call(remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "Part7"}, nil), remoting.RespSuccess, "delete")
	eventually(t, 10*time.Second, "deleted topic leaves the name server", func() bool { return !topicList(t, nsc)["Part7"] })
	routedAll("every other topic still routed")

	// The name server forgets the broker; the next increment finds out
	// and the whole table comes back, not only the new topic.
	expectCode(t, nsc.call(remoting.CodeUnregisterBroker, map[string]string{"brokerName": cfg.BrokerName, "brokerAddr": b.Addr(),
		"clusterName": cfg.BrokerClusterName, "brokerId": "0"}, nil), remoting.RespSuccess, "unregister")
	create("AfterForget")
	routedAll("the whole table after the name server forgot the broker")
}

// TestMaxTopicNums: creating a topic beyond maxTopicNums is refused with a
// remark naming the limit, by admin and by auto-create; existing topics
// still update.
func TestMaxTopicNums(t *testing.T) {
	builtins := len(tableOf(startBroker(t, config.Config{})))
	cfg := testConfig(t.TempDir())
	cfg.MaxTopicNums = builtins + 2
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	ext := func(topic string) map[string]string {
		return map[string]string{"topic": topic, "readQueueNums": "1", "writeQueueNums": "1"}
	}
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, ext("Cap1"), nil), remoting.RespSuccess, "create 1")
	c.send("Cap2", 0, "", "x")
	for _, resp := range []*remoting.Command{
		c.call(remoting.CodeUpdateAndCreateTopic, ext("Cap3"), nil),
		c.call(remoting.CodeSendMessage, sendExt("Cap4", 0, ""), []byte("x")),
	} {
		if resp.Code == remoting.RespSuccess || !strings.Contains(resp.Remark, "maxTopicNums") {
			t.Fatalf("topic beyond the cap: code %d remark %q", resp.Code, resp.Remark)
		}
	}
	upd := ext("Cap1")
	upd["readQueueNums"], upd["writeQueueNums"] = "4", "4"
	expectCode(t, c.call(remoting.CodeUpdateAndCreateTopic, upd, nil), remoting.RespSuccess, "update at the cap")
	if n := len(tableOf(b)); n != cfg.MaxTopicNums {
		t.Fatalf("%d topics, want the cap %d", n, cfg.MaxTopicNums)
	}
}

func tableOf(b *Broker) map[string]body.TopicConfig {
	table, _ := b.topics.Snapshot()
	return table
}

// TestTopicTableTooLargeForAFrame: GET_ALL_TOPIC_CONFIG of a table larger
// than a frame is refused with a remark instead of a reply that cannot be
// sent (the frame limit is lowered for the test).
func TestTopicTableTooLargeForAFrame(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	defer func(v int) { maxReplyBody = v }(maxReplyBody)
	maxReplyBody = 200
	resp := c.call(remoting.CodeGetAllTopicConfig, nil, nil)
	if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "frame limit") {
		t.Fatalf("code %d remark %q, want SYSTEM_ERROR naming the frame limit", resp.Code, resp.Remark)
	}
}

// TestLateNameServer: a name server that is down when the broker starts,
// and while topics are created, gets the whole table at the first refresh
// after it comes up.
func TestLateNameServer(t *testing.T) {
	addr := testkit.FreePort(t)
	cfg := testConfig(t.TempDir())
	cfg.NamesrvAddr = addr
	cfg.RegisterNameServerPeriod = 10 * time.Second // the shortest allowed
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	c.send("Late1", 0, "", "x")
	ns, err := nameserver.New(nameserver.Options{Listen: addr, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(); err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer ns.Close()
	nsc := newTestClient(t, addr)
	eventually(t, 25*time.Second, "the whole table on the late name server", func() bool {
		got := topicList(t, nsc)
		return got["Late1"] && got[systopic.AutoCreate]
	})
	c.send("Late2", 0, "", "x") // then increments again
	expectCode(t, nsc.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": "Late2"}, nil), remoting.RespSuccess, "route after the send")
}
