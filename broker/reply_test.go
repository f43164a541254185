package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting"
)

// TestGoClientRequestReply runs RocketMQ's RPC mode through the official
// client: Request and RequestAsync on one side, a push consumer answering
// with CreateReplyMessage and a reply producer on the other. The broker
// pushes each reply to the requester's connection and stores it in the
// reply topic.
func TestGoClientRequestReply(t *testing.T) {
	cl := startCluster(t, "")
	topic := "GoRPC"
	cl.createTopic(t, topic, 2)

	replier := cl.producer(t, producer.WithInstanceName("replier"))
	var replyErrs sync.Map
	var r received
	c, err := consumer.NewPushConsumer(consumer.WithGroupName("GoRPCResponder"), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset), consumer.WithInstance("responder"))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Subscribe(topic, consumer.MessageSelector{}, func(ctx context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range ms {
			r.add(m)
			reply, err := consumer.CreateReplyMessage(m, nil)
			if err != nil {
				replyErrs.Store(string(m.Body), err)
				continue
			}
			// CreateReplyMessage leaves the body empty (a client bug: it
			// parses its body argument as properties), so set it here.
			reply.Body = []byte("re:" + string(m.Body))
			if _, err := replier.SendSync(ctx, reply); err != nil {
				replyErrs.Store(string(m.Body), err)
			}
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown() })

	req := cl.producer(t, producer.WithInstanceName("requester")).(rocketmq.Producer)
	ctx := ctx10s(t)
	const n = 10
	for i := range n {
		body := fmt.Sprintf("ping-%d", i)
		reply, err := req.Request(ctx, 5*time.Second, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			replyErrs.Range(func(k, v any) bool { t.Logf("responder, %v: %v", k, v); return true })
			t.Fatalf("request %s: %v", body, err)
		}
		if got := string(reply.Body); got != "re:"+body {
			t.Fatalf("request %s: reply %q", body, got)
		}
		if reply.GetProperty(primitive.PropertyCorrelationID) == "" {
			t.Fatalf("reply to %s has no correlation id", body)
		}
	}

	// RequestAsync: several in flight at once. The client calls a callback
	// twice per reply (once on arrival, again when it evicts the entry),
	// so each request counts its first call only.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		body := fmt.Sprintf("async-%d", i)
		var once sync.Once
		err := req.RequestAsync(ctx, 5*time.Second, func(_ context.Context, m *primitive.Message, err error) {
			first := false
			once.Do(func() { first = true })
			if !first {
				return
			}
			defer wg.Done()
			switch {
			case err != nil:
				errs <- fmt.Errorf("request %s: %w", body, err)
			case m == nil || string(m.Body) != "re:"+body:
				errs <- fmt.Errorf("request %s: reply %v", body, m)
			}
		}, primitive.NewMessage(topic, []byte(body)))
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every reply is stored too, in the reply topic's one queue.
	rt := meta.ReplyTopic(cl.cfg.BrokerClusterName)
	eventually(t, 5*time.Second, "replies stored in "+rt, func() bool {
		st, ok := cl.b.store.QueueState(rt, 0)
		return ok && st.Max == 2*n
	})
}

// TestSendReplyErrors: a reply whose requester is not connected, or that
// names no requester, is refused with SYSTEM_ERROR and a remark saying why,
// and still stored; a malformed header is a bad request.
func TestSendReplyErrors(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	rt := meta.ReplyTopic(b.cfg.BrokerClusterName)
	for i, tc := range []struct {
		name, props, remark string
	}{
		{"requester gone", props(propReplyToClient, "127.0.0.9@nobody", "CORRELATION_ID", "x"), "no connection of client <127.0.0.9@nobody>"},
		{"no requester", props("CORRELATION_ID", "y"), "no REPLY_TO_CLIENT property"},
	} {
		resp := c.call(remoting.CodeSendReplyMessageV2, toV2(sendExt(rt, 0, tc.props)), []byte("reply"))
		if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("%s: code %d %q, want %d mentioning %q", tc.name, resp.Code, resp.Remark, remoting.RespSystemError, tc.remark)
		}
		waitDispatched(t, b)
		if st, _ := b.store.QueueState(rt, 0); st.Max != int64(i+1) {
			t.Errorf("%s: reply topic holds %d messages, want %d", tc.name, st.Max, i+1)
		}
	}
	bad := toV2(sendExt(rt, 0, ""))
	delete(bad, "b")
	if resp := c.call(remoting.CodeSendReplyMessageV2, bad, []byte("reply")); resp.Code == remoting.RespSuccess || resp.Remark == "" {
		t.Errorf("reply without a topic: code %d %q, want an error with a remark", resp.Code, resp.Remark)
	}
	// The v1 header (SEND_REPLY_MESSAGE) names its fields in full.
	if resp := c.call(remoting.CodeSendReplyMessage, sendExt(rt, 0, props("CORRELATION_ID", "z")), []byte("reply")); resp.Code != remoting.RespSystemError ||
		!strings.Contains(resp.Remark, "no REPLY_TO_CLIENT property") {
		t.Errorf("v1 reply: code %d %q, want the missing-requester error", resp.Code, resp.Remark)
	}
}

// TestReplyPushedToRequestConnection: a reply reaches the requester over the
// connection its request message came on, even with no heartbeat from it;
// the requester's answer decides the reply's result; and once that
// connection closes the broker forgets it.
func TestReplyPushedToRequestConnection(t *testing.T) {
	b := startBroker(t, config.Config{})
	requesterCl := newTestClient(t, b.Addr())
	pushes := make(chan *remoting.Command, 4)
	answer := make(chan int16, 4)
	requesterCl.c.Handle(remoting.CodePushReplyMessageToClient, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		pushes <- req
		return remoting.NewResponse(req, <-answer, "")
	})
	requesterCl.send("RPCReq", 0, props(propReplyToClient, "cid-1", "CORRELATION_ID", "corr-1"), "ping")

	replier := newTestClient(t, b.Addr())
	rt := meta.ReplyTopic(b.cfg.BrokerClusterName)
	reply := func() *remoting.Command {
		return replier.call(remoting.CodeSendReplyMessageV2,
			toV2(sendExt(rt, 0, props(propReplyToClient, "cid-1", "CORRELATION_ID", "corr-1"))), []byte("pong"))
	}

	answer <- remoting.RespSuccess
	if resp := reply(); resp.Code != remoting.RespSuccess {
		t.Fatalf("reply: code %d %q", resp.Code, resp.Remark)
	}
	push := <-pushes
	p := push.ExtFields["properties"]
	if string(push.Body) != "pong" || push.ExtFields["topic"] != rt || !strings.Contains(p, "corr-1") ||
		!strings.Contains(p, propPushReplyTime) || !strings.Contains(p, "CLUSTER") {
		t.Fatalf("push: body %q ext %v", push.Body, push.ExtFields)
	}

	answer <- remoting.RespSystemError
	if resp := reply(); resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "answered code 1") {
		t.Fatalf("reply refused by the requester: code %d %q", resp.Code, resp.Remark)
	}
	<-pushes

	requesterCl.c.Close()
	eventually(t, 5*time.Second, "the closed requester forgotten", func() bool { c, _ := b.clients.ClientConn("cid-1"); return c == nil })
	if resp := reply(); resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "no connection of client <cid-1>") {
		t.Fatalf("reply after the requester left: code %d %q", resp.Code, resp.Remark)
	}
}

// TestRequestersBounded: a connection sending request messages under ever
// new REPLY_TO_CLIENT ids cannot grow the broker's requester table past its
// bound; ids already known are still updated.
func TestRequestersBounded(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	b.clients = client.New[*remoting.Conn](client.Options{MaxRequesters: 4})
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	c := newTestClient(t, b.Addr())
	for i := range 10 {
		c.send("RPCBound", 0, props(propReplyToClient, fmt.Sprintf("cid-%d", i)), "ping")
	}
	if n := b.clients.Requesters(); n != 4 {
		t.Fatalf("%d requesters noted, want the bound 4", n)
	}
	for i := range 4 {
		if c, _ := b.clients.ClientConn(fmt.Sprintf("cid-%d", i)); c == nil {
			t.Fatalf("cid-%d, noted before the bound, is gone", i)
		}
	}
	if c, _ := b.clients.ClientConn("cid-9"); c != nil {
		t.Fatal("cid-9 noted past the bound")
	}
}
