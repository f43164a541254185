package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/tools/admin"
)

// TestAdminGroupUpdateDelete: group update creates a group with the given
// flags and keeps the others on a later update; group delete removes it,
// and a second delete says there is nothing to delete.
func TestAdminGroupUpdateDelete(t *testing.T) {
	c := startCluster(t)
	out := c.must("group", "update", "EditG", "--retry-max", "3", "-q", "2")
	if !strings.Contains(out, "group EditG on "+c.b.Addr()) || !strings.Contains(out, "retry max 3") {
		t.Fatalf("update printed %q", out)
	}
	c.must("group", "update", "EditG", "--consume=false")
	var rows []struct {
		Broker string `json:"broker"`
		admin.GroupConfig
	}
	c.mustJSON(&rows, "group", "list", "-b", c.b.Addr())
	found := false
	for _, r := range rows {
		if r.GroupName == "EditG" {
			found = true
			if r.ConsumeEnable || r.RetryMaxTimes != 3 || r.RetryQueueNums != 2 || !r.NotifyConsumerIDsChangedEnable {
				t.Fatalf("group after two updates: %+v", r)
			}
		}
	}
	if !found {
		t.Fatalf("group list lacks EditG: %+v", rows)
	}
	out = c.must("group", "delete", "EditG", "--clean-offset")
	if !strings.Contains(out, "deleted group and its offsets EditG on "+c.b.Addr()) {
		t.Fatalf("delete printed %q", out)
	}
	if _, err := c.admin("group", "delete", "EditG"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.admin("group", "update", "G", "-b", c.b.Addr(), "-c", "X"); err == nil {
		t.Fatal("-b with -c accepted")
	}
}

// TestAdminConnections: group connections lists a consumer from its
// heartbeat and, with --status, the running state the client itself
// answers (a handler on the test's connection plays the client);
// producer connections lists the producer; offline groups are errors.
func TestAdminConnections(t *testing.T) {
	c := startCluster(t)
	c.rc.Handle(remoting.CodeGetConsumerRunningInfo, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		resp := remoting.NewResponse(req, remoting.RespSuccess, "")
		// The shape a Java client writes: queues as object keys.
		resp.Body = []byte(`{"properties":{"PROP_CONSUME_TYPE":"CONSUME_PASSIVELY","PROP_CLIENT_VERSION":"V4_9_8"},` +
			`"mqTable":{{"brokerName":"broker-a","queueId":1,"topic":"ConnT"}:{"cachedMsgCount":0}},"subscriptionSet":[]}`)
		return resp
	})
	c.call(remoting.CodeHeartBeat, nil, []byte(`{"clientID":"10.1.1.1@42","producerDataSet":[{"groupName":"ConnPG"}],
"consumerDataSet":[{"groupName":"ConnCG","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",
"subscriptionDataSet":[{"topic":"ConnT","subString":"tagA","tagsSet":["tagA"],"subVersion":7,"expressionType":"TAG"}]}]}`))

	out := c.must("group", "connections", "ConnCG")
	for _, want := range []string{"10.1.1.1@42", "127.0.0.1:", "JAVA", "CLUSTERING", `ConnT TAG "tagA" (version 7)`} {
		if !strings.Contains(out, want) {
			t.Fatalf("connections lack %q:\n%s", want, out)
		}
	}
	var res struct {
		Connections []struct {
			ClientID string             `json:"clientId"`
			Running  *admin.RunningInfo `json:"running"`
		} `json:"connections"`
	}
	c.mustJSON(&res, "group", "connections", "ConnCG", "--status")
	if len(res.Connections) != 1 || res.Connections[0].Running == nil {
		t.Fatalf("connections --status: %+v", res)
	}
	ri := res.Connections[0].Running
	if ri.Properties["PROP_CONSUME_TYPE"] != "CONSUME_PASSIVELY" || len(ri.Queues) != 1 || ri.Queues[0].QueueID != 1 || ri.Queues[0].Topic != "ConnT" {
		t.Fatalf("running info %+v", ri)
	}

	out = c.must("producer", "connections", "ConnPG")
	if !strings.Contains(out, "10.1.1.1@42") || !strings.Contains(out, c.b.Addr()) {
		t.Fatalf("producer connections:\n%s", out)
	}
	for _, args := range [][]string{{"group", "connections", "NoSuchCG"}, {"producer", "connections", "NoSuchPG"}} {
		if _, err := c.admin(args...); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("%v: err %v, want not found", args, err)
		}
	}
}

// TestAdminTopicPermStatsOffset: topic perm changes only the permission;
// message offset reads the message at a queue offset online; stats-all
// counts the written messages and a group's progress.
func TestAdminTopicPermStatsOffset(t *testing.T) {
	c := startCluster(t)
	const topic = "PermT"
	c.must("topic", "create", topic, "--queues", "2", "-b", c.b.Addr())
	c.sendN(topic, 1, 3)

	out := c.must("topic", "perm", topic, "4")
	if !strings.Contains(out, "topic "+topic+" perm R--(4) on "+c.b.Addr()) {
		t.Fatalf("perm printed %q", out)
	}
	var tcs []admin.TopicConfig
	c.mustJSON(&tcs, "topic", "list", "-b", c.b.Addr())
	if tc, ok := findTopic(tcs, topic); !ok || tc.Perm != 4 || tc.ReadQueueNums != 2 {
		t.Fatalf("topic after perm: %+v", tc)
	}
	if _, err := c.admin("topic", "perm", "NoSuchTopic", "6"); !errors.Is(err, admin.ErrTopicNotExist) {
		t.Fatalf("perm of a missing topic: %v", err)
	}
	if _, err := c.admin("topic", "perm", topic, "9"); err == nil {
		t.Fatal("perm 9 accepted")
	}

	out = c.must("message", "offset", topic, "1", "2", "-b", c.b.Addr())
	if !strings.Contains(out, "UNIQ"+fmt.Sprintf("%028d", 2)) {
		t.Fatalf("message at offset 2:\n%s", out)
	}
	var ms []struct {
		QueueOffset int64 `json:"queueOffset"`
	}
	c.eventually("route of "+topic, func() bool {
		_, err := c.admin("topic", "route", topic)
		return err == nil
	})
	c.mustJSON(&ms, "message", "offset", topic, "1", "1") // broker found through the route
	if len(ms) != 1 || ms[0].QueueOffset != 1 {
		t.Fatalf("message at offset 1: %+v", ms)
	}
	if _, err := c.admin("message", "offset", topic, "1", "3", "-b", c.b.Addr()); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("offset past the end: %v", err)
	}

	c.call(remoting.CodeUpdateAndCreateSubscriptionGroup, nil, []byte(`{"groupName":"StatsCG"}`))
	c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": "StatsCG", "topic": topic, "queueId": "1", "commitOffset": "2"}, nil)
	var stats []admin.TopicTotals
	c.mustJSON(&stats, "topic", "stats-all")
	var got *admin.TopicTotals
	for i := range stats {
		if stats[i].Topic == topic {
			got = &stats[i]
		}
		if strings.HasPrefix(stats[i].Topic, "%RETRY%") || stats[i].Topic == "TBW102" {
			t.Errorf("stats-all shows %s without --system", stats[i].Topic)
		}
	}
	if got == nil || got.Written != 3 || got.Stored != 3 || len(got.Groups) != 1 || got.Groups[0] != (admin.TopicGroupStats{Group: "StatsCG", Consumed: 2, Lag: 1}) {
		t.Fatalf("stats of %s: %+v in %+v", topic, got, stats)
	}
}

// TestAdminClusterRTAndBrokerConfig: cluster rt sends to the one master
// and reports its latencies; broker config prints broker.conf lines.
func TestAdminClusterRTAndBrokerConfig(t *testing.T) {
	c := startCluster(t)
	var rts []admin.RoundTrip
	c.mustJSON(&rts, "cluster", "rt", "--count", "3", "--size", "16")
	if len(rts) != 1 || rts[0].Addr != c.b.Addr() || rts[0].Sent != 3 || rts[0].Failed != 0 || rts[0].Min <= 0 || rts[0].Max < rts[0].Avg || rts[0].Avg < rts[0].Min {
		t.Fatalf("cluster rt %+v", rts)
	}
	out := c.must("broker", "config", "-b", c.b.Addr())
	if !strings.Contains(out, "brokerName="+c.b.Config().BrokerName+"\n") || !strings.Contains(out, "flushDiskType=") {
		t.Fatalf("broker config:\n%s", out)
	}
	if _, err := c.admin("broker", "config"); err == nil {
		t.Fatal("broker config without -b accepted")
	}
}
