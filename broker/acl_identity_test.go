package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/systopic"
)

// Under ACL a heartbeat or a request message names its producer group and
// client id itself; only its account is proven. These tests claim another
// account's group or client id and check that what the broker sends to
// that group or client (check-backs, reply pushes) does not follow the
// claim; the first two use raw clients only, so they also run under -race.
// The last checks that the official Go client, with credentials, still
// gets its check-backs and replies.

// aclBroker starts a broker, without a name server, that checks
// aclTestYAML, with txnConfig's quick check-backs and one-queue topics
// AclTopic and DenyTopic.
func aclBroker(t *testing.T) *Broker {
	t.Helper()
	dir := t.TempDir()
	cfg := txnConfig(filepath.Join(dir, "store"))
	cfg.AclEnable, cfg.AclFile = true, writeACL(t, dir, aclTestYAML)
	b := startBroker(t, cfg)
	adm := signedClient(t, "adminAK", "adminSecret1")
	for _, topic := range []string{"AclTopic", "DenyTopic"} {
		expectCode(t, invoke(t, adm, b.Addr(), remoting.CodeUpdateAndCreateTopic,
			map[string]string{"topic": topic, "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil), remoting.RespSuccess, "create "+topic)
	}
	return b
}

// signedTestClient is newTestClient signing every request as ak/sk.
func signedTestClient(t *testing.T, addr, ak, sk string) *testClient {
	kc := testkit.NewSignedClient(t, addr, acl.Signer(ak, sk))
	return &testClient{Client: kc, t: t, c: kc.RC, addr: addr}
}

// TestACLCheckBackOnlyToAProducerThatMayPublish: a check-back carries the
// half message, and any account can name any producer group in a
// heartbeat. farAccess (PUB on every topic) sends a half to DenyTopic for
// TxnPG and leaves it open; appAccess (DENY on DenyTopic) then heartbeats as
// TxnPG, the latest heartbeat of the group: the checks reach farAccess's
// connection, never appAccess's. Once farAccess's connection is gone, a second
// half is checked as one without a producer (no check sent) until it is
// given up.
func TestACLCheckBackOnlyToAProducerThatMayPublish(t *testing.T) {
	b := aclBroker(t)
	owner := watchChecks(signedTestClient(t, b.Addr(), "farAccess", "farSecret12"), "10.0.0.1@owner", "TxnPG")
	owner.sendHalf("DenyTopic", 0, "TxnPG", "secret-half")
	thief := watchChecks(signedTestClient(t, b.Addr(), "appAccess", "appSecret12"), "10.0.0.2@thief", "TxnPG")

	ch, ok := owner.next(5 * time.Second)
	if !ok {
		if stolen, got := thief.next(0); got {
			t.Fatalf("the check-back of %q went to appAccess, which has no PUB on DenyTopic", stolen.body)
		}
		t.Fatal("no check-back reached the producer that sent the half")
	}
	if ch.body != "secret-half" || string(ch.rec.Topic) != "DenyTopic" {
		t.Fatalf("check-back names %q in %s, want secret-half in DenyTopic", ch.body, ch.rec.Topic)
	}
	noChecks := func(what string, d time.Duration) {
		t.Helper()
		if req, got := thief.next(d); got {
			t.Fatalf("%s: appAccess, without PUB on DenyTopic, got the check-back of %q", what, req.body)
		}
	}
	noChecks("farAccess connected", time.Second)

	owner.sendHalf("DenyTopic", 0, "TxnPG", "second-half")
	owner.c.Close()
	eventually(t, 5*time.Second, "farAccess's producer gone", func() bool {
		ms := b.clients.ProducerGroup("TxnPG")
		return len(ms) == 1 && ms[0].Ident.Account == "appAccess"
	})
	eventually(t, 10*time.Second, "second-half given up unchecked", func() bool {
		for _, r := range readQueue(t, b, systopic.TransCheck, 0) {
			if string(r.Body) == "second-half" {
				return true
			}
		}
		return false
	})
	noChecks("farAccess gone", 0)
}

// TestACLReplyNotPushedToAnotherAccountsClientID: a reply is pushed to
// the connection of the client id its REPLY_TO_CLIENT names, a name any
// client can give itself. While farAccess's connection claims appAccess's client
// id, by a producer heartbeat or a request message, a reply for appAccess is
// pushed to neither (the responder hears why); once farAccess's connection
// closes, replies reach appAccess again.
func TestACLReplyNotPushedToAnotherAccountsClientID(t *testing.T) {
	b := aclBroker(t)
	addr := b.Addr()
	rt := meta.ReplyTopic(b.cfg.BrokerClusterName)
	const cid = "10.0.0.1@requester"
	pushes := func(c *testClient) chan string {
		ch := make(chan string, 16)
		c.c.Handle(remoting.CodePushReplyMessageToClient, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
			ch <- string(req.Body)
			return remoting.NewResponse(req, remoting.RespSuccess, "")
		})
		return ch
	}
	heartbeat := func(c *testClient, group string) {
		body, _ := json.Marshal(heartbeatData{ClientID: cid, ProducerDataSet: []producerData{{GroupName: group}}})
		expectCode(c.t, c.call(remoting.CodeHeartBeat, nil, body), remoting.RespSuccess, "heartbeat")
	}
	request := func(c *testClient, corr string) {
		c.send("AclTopic", 0, props(propReplyToClient, cid, "CORRELATION_ID", corr), "ping")
	}
	reply := func(t *testing.T, corr, body string) *remoting.Command {
		replier := signedTestClient(t, addr, "adminAK", "adminSecret1")
		return replier.call(remoting.CodeSendReplyMessageV2, toV2(sendExt(rt, 0, props(propReplyToClient, cid, "CORRELATION_ID", corr))), []byte(body))
	}
	empty := func(t *testing.T, ch chan string, who, what string) {
		t.Helper()
		select {
		case got := <-ch:
			t.Fatalf("%s: %s was pushed %q", what, who, got)
		default:
		}
	}

	for _, tc := range []struct {
		name      string
		heartbeat bool // the requester has sent a producer heartbeat
		claim     func(thief *testClient)
	}{
		{"a heartbeat after the requester's", true, func(thief *testClient) { heartbeat(thief, "EvilPG") }},
		{"a request message, the requester without a heartbeat", false, func(thief *testClient) { request(thief, "corr-thief") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requester := signedTestClient(t, addr, "appAccess", "appSecret12")
			toRequester := pushes(requester)
			if tc.heartbeat {
				heartbeat(requester, "ReqPG")
			}
			request(requester, "corr-1")

			thief := signedTestClient(t, addr, "farAccess", "farSecret12")
			toThief := pushes(thief)
			tc.claim(thief)
			resp := reply(t, "corr-1", "pong")
			empty(t, toThief, "farAccess", "claimed")
			empty(t, toRequester, "appAccess", "claimed")
			if resp.Code != remoting.RespSystemError || !strings.Contains(resp.Remark, "more than one account") {
				t.Fatalf("reply answered %d %q, want SYSTEM_ERROR naming the contested client id", resp.Code, resp.Remark)
			}

			thief.c.Close()
			eventually(t, 5*time.Second, "farAccess's claim gone", func() bool {
				c, err := b.clients.ClientConn(cid)
				return err == nil && c != nil
			})
			expectCode(t, reply(t, "corr-1", "pong-again"), remoting.RespSuccess, "reply once farAccess left")
			if got := <-toRequester; got != "pong-again" {
				t.Fatalf("appAccess was pushed %q", got)
			}
			empty(t, toThief, "farAccess", "after it left")
			requester.c.Close()
			eventually(t, 5*time.Second, "appAccess's claim gone", func() bool {
				c, _ := b.clients.ClientConn(cid)
				return c == nil
			})
		})
	}
}

// commitOnCheck leaves every transaction unknown and commits it when
// checked.
type commitOnCheck struct{ checks atomic.Int32 }

func (*commitOnCheck) ExecuteLocalTransaction(*primitive.Message) primitive.LocalTransactionState {
	return primitive.UnkonwnState
}

func (l *commitOnCheck) CheckLocalTransaction(*primitive.MessageExt) primitive.LocalTransactionState {
	l.checks.Add(1)
	return primitive.CommitMessageState
}

// TestACLGoClientGetsItsCheckBacksAndReplies: the official Go client with
// appAccess's credentials, which signs its heartbeats and sends with one
// account, gets the check-back of a transaction it left unknown and
// commits it; and its requests get their replies, sent by a responder
// under other accounts (appAccess consumes, farAccess replies).
func TestACLGoClientGetsItsCheckBacksAndReplies(t *testing.T) {
	cl := startACLClusterWith(t, func(cfg *config.Config) {
		cfg.TransactionTimeOut, cfg.TransactionCheckInterval = 300*time.Millisecond, 100*time.Millisecond
		cfg.TransactionCheckMax = 30 // the producer's first heartbeat comes 1 s after its start
	})
	aclCreateTopic(t, cl, "AclTopic", 1)
	aclCreateTopic(t, cl, "AclTxn", 1)

	l := &commitOnCheck{}
	tp, err := producer.NewTransactionProducer(l, producer.WithNsResolver(cl.resolver()), producer.WithRetry(2),
		producer.WithGroupName("AclCheckPG"), producer.WithInstanceName("acl-check-txn"), producer.WithCredentials(aclApp))
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Shutdown() })
	res, err := tp.SendMessageInTransaction(ctx10s(t), primitive.NewMessage("AclTxn", []byte("checked-1")))
	if err != nil || res.State != primitive.UnkonwnState {
		t.Fatalf("transaction: %+v %v", res, err)
	}
	eventually(t, 15*time.Second, "committed on check-back", func() bool {
		return topicBodies(t, cl.b, "AclTxn", 1)["checked-1"] == 1
	})
	if l.checks.Load() == 0 {
		t.Fatal("committed without a check-back")
	}

	far := primitive.Credentials{AccessKey: "farAccess", SecretKey: "farSecret12"}
	replier := cl.producer(t, producer.WithInstanceName("acl-replier"), producer.WithCredentials(far))
	responder, err := consumer.NewPushConsumer(consumer.WithGroupName("AclGroup"), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset), consumer.WithInstance("acl-responder"),
		consumer.WithCredentials(aclApp))
	if err != nil {
		t.Fatal(err)
	}
	err = responder.Subscribe("AclTopic", consumer.MessageSelector{}, func(ctx context.Context, ms ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range ms {
			reply, err := consumer.CreateReplyMessage(m, nil)
			if err != nil {
				return consumer.ConsumeRetryLater, err
			}
			reply.Body = []byte("re:" + string(m.Body)) // CreateReplyMessage drops it (see TestGoClientRequestReply)
			if _, err := replier.SendSync(ctx, reply); err != nil {
				t.Logf("reply to %s: %v", m.Body, err)
			}
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := responder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { responder.Shutdown() })
	requester := cl.producer(t, producer.WithInstanceName("acl-requester"), producer.WithCredentials(aclApp)).(rocketmq.Producer)
	for i := range 3 {
		body := fmt.Sprintf("ping-%d", i)
		reply, err := requester.Request(ctx10s(t), 8*time.Second, primitive.NewMessage("AclTopic", []byte(body)))
		if err != nil {
			t.Fatalf("request %s: %v", body, err)
		}
		if got := string(reply.Body); got != "re:"+body {
			t.Fatalf("request %s: reply %q", body, got)
		}
	}
	// The replier's sends are answered once stored: wait for them.
	rt := meta.ReplyTopic(cl.cfg.BrokerClusterName)
	eventually(t, 5*time.Second, "replies stored in "+rt, func() bool {
		st, ok := cl.b.store.QueueState(rt, 0)
		return ok && st.Max == 3
	})
}
