package broker

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
)

// TestGoClientTrace: with traceTopicEnable the broker has the trace topic,
// and a producer and a consumer built WithTrace store their send and
// consume traces there, keyed by the traced message's id.
func TestGoClientTrace(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.TraceTopicEnable = true
	cl := startClusterWith(t, cfg)
	cl.waitRoute(t, cfg.MsgTraceTopicName)
	traced := func(group string) *primitive.TraceConfig {
		return &primitive.TraceConfig{GroupName: group, Access: primitive.Local, Resolver: cl.resolver()}
	}
	topic := "GoTraced"
	p := cl.producer(t, producer.WithTrace(traced("GoTracePG")))
	res, err := p.SendSync(ctx10s(t), primitive.NewMessage(topic, []byte("traced body")).WithKeys([]string{"trace-key"}))
	if err != nil {
		t.Fatal(err)
	}
	var r received
	cl.consumer(t, "GoTraceCG", topic, consumer.MessageSelector{}, &r, consumer.WithTrace(traced("GoTraceCG")))
	eventually(t, 20*time.Second, "the traced message consumed", func() bool { return r.count() == 1 })

	// The client sends traces in batches, about once a second: wait for a
	// publish trace and a consume trace naming the message.
	var pub, sub bool
	eventually(t, 20*time.Second, "send and consume traces of "+res.MsgID, func() bool {
		st, _ := cl.b.store.QueueState(cfg.MsgTraceTopicName, 0)
		got, err := cl.b.store.Get(cfg.MsgTraceTopicName, 0, st.Min, 64, nil, nil)
		if err != nil {
			return false
		}
		for _, rec := range decodeAll(t, got.Data) {
			if !bytes.Contains(rec.Body, []byte(res.MsgID)) {
				continue
			}
			pub = pub || strings.HasPrefix(string(rec.Body), "Pub")
			sub = sub || strings.HasPrefix(string(rec.Body), "SubBefore") || strings.HasPrefix(string(rec.Body), "SubAfter")
		}
		return pub && sub
	})
	st, _ := cl.b.store.QueueState(cfg.MsgTraceTopicName, 0)
	t.Logf("%d trace messages stored", st.Max-st.Min)
}

// TestGoClientNamespace: clients built WithNamespace prefix their topics and
// groups with "ns%"; the broker stores and routes them as such.
func TestGoClientNamespace(t *testing.T) {
	cl := startCluster(t, "")
	const ns = "tenantA"
	p := cl.producer(t, producer.WithNamespace(ns))
	if _, err := p.SendSync(ctx10s(t), primitive.NewMessage("GoNS", []byte("namespaced"))); err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.b.topics.Get(ns + "%GoNS"); !ok {
		t.Fatalf("topic %s%%GoNS not created on the broker", ns)
	}
	var r received
	c := cl.consumer(t, "GoNSCG", "GoNS", consumer.MessageSelector{}, &r, consumer.WithNamespace(ns))
	eventually(t, 20*time.Second, "the namespaced message consumed", func() bool { return r.bodies()["namespaced"] == 1 && r.idle() })
	// The client commits offsets 10 s after it starts, then every 5 s, and
	// at Shutdown.
	c.Shutdown()
	eventually(t, 15*time.Second, "the group's offset committed under its namespace", func() bool {
		for q := range int32(8) {
			if off, ok, _ := cl.b.store.ConsumerOffset(ns+"%GoNSCG", ns+"%GoNS", q); ok && off == 1 {
				return true
			}
		}
		return false
	})
}
