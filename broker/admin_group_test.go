package broker

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// TestAdminGroupUpdateDelete drives UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
// (200) and DELETE_SUBSCRIPTIONGROUP (207) on the wire: defaults for
// fields a body leaves out, persistence across a restart, refusal of bad
// bodies, and cleanOffset.
func TestAdminGroupUpdateDelete(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())

	// A partial body, as a hand-written mqadmin request may send.
	expectCode(t, c.call(remoting.CodeUpdateAndCreateSubscriptionGroup, nil,
		[]byte(`{"groupName":"AG","consumeEnable":false,"retryMaxTimes":3}`)), remoting.RespSuccess, "update")
	gc, ok := b.groups.Get("AG")
	if !ok || gc.ConsumeEnable || gc.RetryMaxTimes != 3 || gc.RetryQueueNums != 1 || !gc.NotifyConsumerIDsChangedEnable || !gc.ConsumeBroadcastEnable {
		t.Fatalf("group after update %+v %v", gc, ok)
	}
	for _, bad := range []string{``, `[]`, `{"groupName":""}`, `{"groupName":"G","retryQueueNums":-1}`, `{"groupName":"G","retryQueueNums":5000}`,
		`{"groupName":"G","retryMaxTimes":-2}`, `{"groupName":"a\u0001b"}`} {
		r := c.call(remoting.CodeUpdateAndCreateSubscriptionGroup, nil, []byte(bad))
		expectCode(t, r, remoting.RespSystemError, "update "+bad)
		if r.Remark == "" {
			t.Errorf("update %q: no remark", bad)
		}
	}
	if _, ok := b.groups.Get("G"); ok {
		t.Fatal("a refused update created the group")
	}

	// Offsets of AG, one of which cleanOffset removes with the group.
	expectCode(t, c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "AG", "topic": "T", "queueId": "0", "commitOffset": "7"}, nil),
		remoting.RespSuccess, "commit")
	expectCode(t, c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "KEEP", "topic": "T", "queueId": "0", "commitOffset": "5"}, nil),
		remoting.RespSuccess, "commit")
	expectCode(t, c.call(remoting.CodeUpdateAndCreateSubscriptionGroup, nil, []byte(`{"groupName":"KEEP"}`)), remoting.RespSuccess, "update KEEP")

	expectCode(t, c.call(remoting.CodeDeleteSubscriptionGroup, nil, nil), remoting.RespSystemError, "delete without groupName")
	expectCode(t, c.call(remoting.CodeDeleteSubscriptionGroup, map[string]string{"groupName": "AG", "cleanOffset": "true"}, nil), remoting.RespSuccess, "delete AG")
	expectCode(t, c.call(remoting.CodeDeleteSubscriptionGroup, map[string]string{"groupName": "KEEP"}, nil), remoting.RespSuccess, "delete KEEP")
	expectCode(t, c.call(remoting.CodeDeleteSubscriptionGroup, map[string]string{"groupName": "NEVER"}, nil), remoting.RespSuccess, "delete missing (RocketMQ answers success)")
	if _, ok := b.groups.Get("AG"); ok {
		t.Fatal("AG still there")
	}
	offs, err := b.offsets.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(offs["AG"]) != 0 || len(offs["KEEP"]) != 1 {
		t.Fatalf("offsets after delete: %v", offs)
	}

	// The table persists: a restarted broker has KEEP's deletion and a
	// new group's config.
	expectCode(t, c.call(remoting.CodeUpdateAndCreateSubscriptionGroup, nil, []byte(`{"groupName":"P","retryQueueNums":2}`)), remoting.RespSuccess, "update P")
	c.c.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startBroker(t, cfg)
	gcs, _ := b2.groups.Snapshot()
	if _, ok := gcs["KEEP"]; ok || gcs["P"].RetryQueueNums != 2 {
		t.Fatalf("groups after restart %+v", gcs)
	}
}

// TestAdminConnectionLists drives GET_CONSUMER_CONNECTION_LIST (203) and
// GET_PRODUCER_CONNECTION_LIST (204): the heartbeat's client id, language
// and version, the connection's address, the subscriptions, and the codes
// for groups with nobody online.
func TestAdminConnectionLists(t *testing.T) {
	b := startBroker(t, config.Config{})
	c := newTestClient(t, b.Addr())
	hb := remoting.NewRequest(remoting.CodeHeartBeat, nil, []byte(`{"clientID":"10.0.0.1@77","producerDataSet":[{"groupName":"PG"}],
"consumerDataSet":[{"groupName":"CG","consumeType":"CONSUME_ACTIVELY","messageModel":"BROADCASTING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",
"subscriptionDataSet":[{"topic":"T1","subString":"a || b","tagsSet":["a","b"],"subVersion":42,"expressionType":"TAG"},{"topic":"T2","subString":"*","subVersion":1}]}]}`))
	hb.Language, hb.Version = "GO", 317
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.c.Invoke(ctx, b.Addr(), hb)
	if err != nil {
		t.Fatal(err)
	}
	expectCode(t, resp, remoting.RespSuccess, "heartbeat")

	r := c.call(remoting.CodeGetConsumerConnectionList, map[string]string{"consumerGroup": "CG"}, nil)
	expectCode(t, r, remoting.RespSuccess, "consumer connections")
	var cc body.ConsumerConnection
	if err := json.Unmarshal(r.Body, &cc); err != nil {
		t.Fatal(err)
	}
	if len(cc.ConnectionSet) != 1 || cc.ConsumeType != "CONSUME_ACTIVELY" || cc.MessageModel != "BROADCASTING" || cc.ConsumeFromWhere != "CONSUME_FROM_FIRST_OFFSET" {
		t.Fatalf("consumer connection %s", r.Body)
	}
	conn := cc.ConnectionSet[0]
	if conn.ClientID != "10.0.0.1@77" || conn.Language != "GO" || conn.Version != 317 || !strings.HasPrefix(conn.ClientAddr, "127.0.0.1:") {
		t.Fatalf("connection %+v", conn)
	}
	// Java's String.hashCode of "a" and "b".
	if s := cc.SubscriptionTable["T1"]; s.SubVersion != 42 || len(s.TagsSet) != 2 || len(s.CodeSet) != 2 || s.CodeSet[0] != 97 || s.CodeSet[1] != 98 || s.ExpressionType != "TAG" {
		t.Fatalf("T1 subscription %+v", s)
	}
	if s := cc.SubscriptionTable["T2"]; s.SubString != "*" || len(s.TagsSet) != 0 || s.ExpressionType != "TAG" {
		t.Fatalf("T2 subscription %+v", s)
	}
	// Java writes the sets as arrays, never null.
	if strings.Contains(string(r.Body), "null") {
		t.Fatalf("null in body %s", r.Body)
	}

	r = c.call(remoting.CodeGetProducerConnectionList, map[string]string{"producerGroup": "PG"}, nil)
	expectCode(t, r, remoting.RespSuccess, "producer connections")
	var pc body.ProducerConnection
	if err := json.Unmarshal(r.Body, &pc); err != nil || len(pc.ConnectionSet) != 1 || pc.ConnectionSet[0].ClientID != "10.0.0.1@77" {
		t.Fatalf("producer connection %s %v", r.Body, err)
	}

	expectCode(t, c.call(remoting.CodeGetConsumerConnectionList, map[string]string{"consumerGroup": "NOPE"}, nil), remoting.RespConsumerNotOnline, "offline group")
	expectCode(t, c.call(remoting.CodeGetProducerConnectionList, map[string]string{"producerGroup": "NOPE"}, nil), remoting.RespSystemError, "offline producer group")
	expectCode(t, c.call(remoting.CodeGetConsumerConnectionList, nil, nil), remoting.RespSystemError, "no header")
	expectCode(t, c.call(remoting.CodeGetProducerConnectionList, nil, nil), remoting.RespSystemError, "no header")

	// Unregistering leaves the group offline.
	expectCode(t, c.call(remoting.CodeUnregisterClient, map[string]string{"clientID": "10.0.0.1@77", "consumerGroup": "CG", "producerGroup": "PG"}, nil),
		remoting.RespSuccess, "unregister")
	expectCode(t, c.call(remoting.CodeGetConsumerConnectionList, map[string]string{"consumerGroup": "CG"}, nil), remoting.RespConsumerNotOnline, "after unregister")
}

// TestAdminBrokerConfig: GET_BROKER_CONFIG (26) answers the running
// config as properties text that broker.conf parsing reads back to the
// same values, and the data version in the header.
func TestAdminBrokerConfig(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.BrokerName = "broker-cfg"
	cfg.FileReservedTime = 7 * time.Hour
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	r := c.call(remoting.CodeGetBrokerConfig, nil, nil)
	expectCode(t, r, remoting.RespSuccess, "get broker config")
	var dv body.DataVersion
	if err := json.Unmarshal([]byte(r.ExtFields["version"]), &dv); err != nil || dv.Timestamp == 0 {
		t.Fatalf("version header %q: %v", r.ExtFields["version"], err)
	}
	props, err := config.ReadProperties(strings.NewReader(string(r.Body)))
	if err != nil {
		t.Fatal(err)
	}
	if props["brokerName"] != "broker-cfg" || props["fileReservedTime"] != "7" || props["storePathRootDir"] != cfg.StorePathRootDir {
		t.Fatalf("properties %v", props)
	}
	// Read back, it is the running config (the HA port and the listen
	// port as bound).
	want := b.cfg
	_, port, _ := net.SplitHostPort(b.Addr())
	want.ListenPort, _ = strconv.Atoi(port)
	back := config.Config{Listen: want.Listen}
	if err := config.Parse(strings.NewReader(string(r.Body)), &back, nil); err != nil || back != want {
		t.Fatalf("parsed back %+v (%v), want %+v", back, err, want)
	}
}
