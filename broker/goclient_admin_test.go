package broker

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	mqerrors "github.com/apache/rocketmq-client-go/v2/errors"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/wharfmq/wharf/remoting"
)

// TestGoClientAdminTopics drives the official client's admin API against a
// name server and a broker: create a topic on the broker, see it in the
// topic list and its route, use it, list subscription groups, and delete
// it from the broker and the name server.
func TestGoClientAdminTopics(t *testing.T) {
	cl := startCluster(t, "")
	adm, err := admin.NewAdmin(admin.WithResolver(cl.resolver()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { adm.Close() })
	ctx := ctx10s(t)
	topic := "GoAdminTopic"

	err = adm.CreateTopic(ctx, admin.WithTopicCreate(topic), admin.WithBrokerAddrCreate(cl.b.Addr()),
		admin.WithReadQueueNums(3), admin.WithWriteQueueNums(3), admin.WithPerm(6))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if tc, ok := cl.b.topics.Get(topic); !ok || tc.ReadQueueNums != 3 || tc.WriteQueueNums != 3 || tc.Perm != 6 {
		t.Fatalf("broker's config of %s after create: %+v %v", topic, tc, ok)
	}
	eventually(t, 10*time.Second, topic+" routed with 3 queues", func() bool {
		mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
		return err == nil && len(mqs) == 3
	})
	list, err := adm.FetchAllTopicList(ctx)
	if err != nil || !slices.Contains(list.TopicList, topic) {
		t.Fatalf("topic list %v (%v) lacks %s", list, err, topic)
	}

	p := cl.producer(t)
	if _, err := p.SendSync(ctx, primitive.NewMessage(topic, []byte("hello"))); err != nil {
		t.Fatal(err)
	}
	var r received
	cl.consumer(t, "GoAdminCG", topic, consumer.MessageSelector{}, &r)
	eventually(t, 20*time.Second, "the message consumed", func() bool { return r.count() == 1 })
	groups, err := adm.GetAllSubscriptionGroup(ctx, cl.b.Addr(), 3*time.Second)
	if err != nil {
		t.Fatalf("subscription groups: %v", err)
	}
	if _, ok := groups.SubscriptionGroupTable["GoAdminCG"]; !ok {
		t.Fatalf("subscription groups lack GoAdminCG: %v", groups.SubscriptionGroupTable)
	}

	err = adm.DeleteTopic(ctx, admin.WithTopicDelete(topic), admin.WithBrokerAddrDelete(cl.b.Addr()),
		admin.WithNameSrvAddr([]string{cl.ns.Addr()}))
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := cl.b.topics.Get(topic); ok {
		t.Fatalf("%s still configured on the broker after delete", topic)
	}
	// (The admin client caches routes, so ask the name server directly.)
	ns := newTestClient(t, cl.ns.Addr())
	if resp := ns.call(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil); resp.Code != remoting.RespTopicNotExist {
		t.Fatalf("route of %s after delete: code %d %q, want TOPIC_NOT_EXIST", topic, resp.Code, resp.Remark)
	}
	list, err = adm.FetchAllTopicList(ctx)
	if err != nil || slices.Contains(list.TopicList, topic) {
		t.Fatalf("topic list after delete: %v (%v)", list, err)
	}
	if _, err := adm.FetchPublishMessageQueues(ctx, "GoAdminNeverCreated"); !errors.Is(err, mqerrors.ErrTopicNotExist) {
		t.Fatalf("route of a topic never created: err %v, want topic not exist", err)
	}
}
