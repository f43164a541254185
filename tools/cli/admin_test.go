package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/tools/admin"
)

// cluster is an in-process name server and one broker registered with it.
type cluster struct {
	t  *testing.T
	ns *nameserver.Server
	b  *broker.Broker
	rc *remoting.Client
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	// StartCluster returns once the name server lists the broker.
	bc := brokertest.StartCluster(t, 1, nil)
	rc := remoting.NewClient(remoting.ClientOptions{Logger: brokertest.Logger(t)})
	t.Cleanup(func() { rc.Close() })
	return &cluster{t: t, ns: bc.NS, b: bc.Brokers[0], rc: rc}
}

// admin runs `wharf admin -n NS args...` in process.
func (c *cluster) admin(args ...string) (string, error) { return adminAt(c.ns.Addr(), args...) }

// adminAt runs `wharf admin -n namesrv args...` in process.
func adminAt(namesrv string, args ...string) (string, error) {
	var out bytes.Buffer
	root := NewRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"admin", "-n", namesrv, "--timeout", "3s"}, args...))
	err := root.Execute()
	return out.String(), err
}

// must runs admin and fails the test on an error.
func (c *cluster) must(args ...string) string {
	c.t.Helper()
	out, err := c.admin(args...)
	if err != nil {
		c.t.Fatalf("wharf admin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mustJSON runs admin with --json and decodes the output into v.
func (c *cluster) mustJSON(v any, args ...string) {
	c.t.Helper()
	out := c.must(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("wharf admin %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// eventually waits at most 10 s for cond.
func (c *cluster) eventually(what string, cond func() bool) {
	c.t.Helper()
	brokertest.Eventually(c.t, 10*time.Second, cond, "%s", what)
}

func (c *cluster) call(code int16, ext map[string]string, body []byte) *remoting.Command {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.rc.Invoke(ctx, c.b.Addr(), remoting.NewRequest(code, ext, body))
	if err != nil {
		c.t.Fatalf("request %d: %v", code, err)
	}
	if resp.Code != remoting.RespSuccess {
		c.t.Fatalf("request %d: code %d %s", code, resp.Code, resp.Remark)
	}
	return resp
}

// send stores one message as the Go producer sends it and returns the
// broker's offset message id.
func (c *cluster) send(topic string, queueID int, keys, uniq, body string) string {
	c.t.Helper()
	props := msg.AppendProperty("", "KEYS", keys)
	props = msg.AppendProperty(props, "UNIQ_KEY", uniq)
	props = msg.AppendProperty(props, "TAGS", "tagA")
	resp := c.call(remoting.CodeSendMessage, map[string]string{
		"producerGroup": "PG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"flag": "0", "properties": props, "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0", "batch": "false",
	}, []byte(body))
	id, err := resp.ExtString("msgId")
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// sendN stores n small messages in queue queueID of topic and waits until
// the broker dispatched them.
func (c *cluster) sendN(topic string, queueID, n int) {
	c.t.Helper()
	for i := range n {
		c.send(topic, queueID, "", fmt.Sprintf("UNIQ%028d", i), "x")
	}
	if err := c.b.Store().WaitDispatched(5 * time.Second); err != nil {
		c.t.Fatal(err)
	}
}

func routeQueues(rd nameserver.TopicRouteData) int {
	n := 0
	for _, q := range rd.QueueDatas {
		n += int(q.WriteQueueNums)
	}
	return n
}

func TestAdminTopicLifecycle(t *testing.T) {
	c := startCluster(t)
	const topic = "AdminT1"

	out, err := c.admin("topic", "route", topic)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("route of an unknown topic: err %v, out %q", err, out)
	}

	out = c.must("topic", "create", topic, "--queues", "3")
	if !strings.Contains(out, "created topic "+topic) || !strings.Contains(out, c.b.Addr()) {
		t.Fatalf("create printed %q", out)
	}
	// The broker re-registers on its own after the change; wait for it.
	c.eventually("topic in the name server's list", func() bool {
		var topics []string
		c.mustJSON(&topics, "topic", "list")
		return contains(topics, topic)
	})
	if out := c.must("topic", "list"); !strings.Contains(out, "\n"+topic+"\n") {
		t.Fatalf("topic list table lacks %s:\n%s", topic, out)
	}
	var rd nameserver.TopicRouteData
	c.mustJSON(&rd, "topic", "route", topic)
	if routeQueues(rd) != 3 || len(rd.BrokerDatas) != 1 || rd.BrokerDatas[0].BrokerAddrs[0] != c.b.Addr() {
		t.Fatalf("route %+v, want 3 queues on %s", rd, c.b.Addr())
	}
	if out := c.must("topic", "route", topic); !strings.Contains(out, c.b.Addr()) || !strings.Contains(out, "RW-(6)") {
		t.Fatalf("route table:\n%s", out)
	}
	var tcs []admin.TopicConfig
	c.mustJSON(&tcs, "topic", "list", "-b", c.b.Addr())
	if tc, ok := findTopic(tcs, topic); !ok || tc.ReadQueueNums != 3 || tc.WriteQueueNums != 3 || tc.Perm != 6 {
		t.Fatalf("broker topic table: %+v", tcs)
	}

	// Status of the empty topic, then after sends.
	var st []admin.QueueStatus
	c.mustJSON(&st, "topic", "status", topic)
	if len(st) != 3 || st[0].MaxOffset != 0 || st[0].LastUpdateTime != 0 {
		t.Fatalf("status of the empty topic: %+v", st)
	}
	before := time.Now().UnixMilli()
	for i := range 5 {
		c.send(topic, i%3, "k"+strconv.Itoa(i), fmt.Sprintf("UNIQ%028d", i), "body-"+strconv.Itoa(i))
	}
	if err := c.b.Store().WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c.mustJSON(&st, "topic", "status", topic)
	wantMax := []int64{2, 2, 1}
	after := time.Now().UnixMilli()
	for i, q := range st {
		if q.QueueID != int32(i) || q.MinOffset != 0 || q.MaxOffset != wantMax[i] || q.Addr != c.b.Addr() ||
			q.LastUpdateTime < before || q.LastUpdateTime > after || q.BrokerName != c.b.Config().BrokerName {
			t.Fatalf("status queue %d: %+v, want max %d, last update in [%d, %d]", i, q, wantMax[i], before, after)
		}
	}
	// The last update is the store time of each queue's last message.
	for i, q := range st {
		e, ok, err := c.b.Store().Meta().EntryAt(topic, int32(i), q.MaxOffset-1)
		if err != nil || !ok || e.StoreTime != q.LastUpdateTime {
			t.Fatalf("queue %d: last update %d, last entry %+v ok %v err %v", i, q.LastUpdateTime, e, ok, err)
		}
	}
	// Same answer from the broker directly.
	var stB []admin.QueueStatus
	c.mustJSON(&stB, "topic", "status", topic, "-b", c.b.Addr())
	if len(stB) != 3 || stB[2].MaxOffset != 1 {
		t.Fatalf("status from the broker: %+v", stB)
	}
	if out := c.must("topic", "status", topic); !strings.Contains(out, "3 queues") {
		t.Fatalf("status table:\n%s", out)
	}

	out = c.must("topic", "delete", topic)
	if !strings.Contains(out, "deleted topic "+topic+" on "+c.b.Addr()) {
		t.Fatalf("delete printed %q", out)
	}
	// A registration the broker sent before the delete may land after it;
	// the one the delete rang follows it.
	c.eventually("topic gone from the name server's list", func() bool {
		var topics []string
		c.mustJSON(&topics, "topic", "list")
		return !contains(topics, topic)
	})
	if _, err := c.admin("topic", "route", topic); err == nil || !errors.Is(err, admin.ErrTopicNotExist) {
		t.Fatalf("route after delete: %v", err)
	}
	c.mustJSON(&tcs, "topic", "list", "-b", c.b.Addr())
	if _, ok := findTopic(tcs, topic); ok {
		t.Fatalf("broker still has %s", topic)
	}
	if _, err := c.admin("topic", "delete", topic); !errors.Is(err, admin.ErrTopicNotExist) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := c.admin("topic", "status", topic); !errors.Is(err, admin.ErrTopicNotExist) {
		t.Fatalf("status after delete: %v", err)
	}
}

func TestAdminMessages(t *testing.T) {
	c := startCluster(t)
	const topic = "AdminMsgT"
	c.must("topic", "create", topic, "--queues", "2", "-b", c.b.Addr())
	c.eventually("route", func() bool { _, err := c.admin("topic", "route", topic); return err == nil })
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = c.send(topic, i%2, "order-"+strconv.Itoa(i)+" shared", fmt.Sprintf("C0A80001000000000000%012d", i), "payload "+strconv.Itoa(i))
	}
	if err := c.b.Store().WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	type view struct {
		admin.Message
		BodySize    int    `json:"bodySize"`
		BodyPreview string `json:"bodyPreview"`
	}
	var ms []view
	c.mustJSON(&ms, "message", "key", topic, "order-2")
	if len(ms) != 1 || ms[0].MsgID != ids[2] || ms[0].BodyPreview != `"payload 2"` || ms[0].QueueID != 0 || ms[0].QueueOffset != 1 ||
		ms[0].Properties["TAGS"] != "tagA" || ms[0].Topic != topic {
		t.Fatalf("by key order-2: %+v", ms)
	}
	c.mustJSON(&ms, "message", "key", topic, "shared")
	if len(ms) != 4 {
		t.Fatalf("by key shared: %d messages, want 4", len(ms))
	}
	c.mustJSON(&ms, "message", "id", ids[3])
	if len(ms) != 1 || ms[0].MsgID != ids[3] || ms[0].BodyPreview != `"payload 3"` || ms[0].Keys()[0] != "order-3" {
		t.Fatalf("by id: %+v", ms)
	}
	uniq := fmt.Sprintf("C0A80001000000000000%012d", 1)
	c.mustJSON(&ms, "message", "id", uniq, "--topic", topic)
	if len(ms) != 1 || ms[0].MsgID != ids[1] || ms[0].ClientID() != uniq {
		t.Fatalf("by client id: %+v", ms)
	}
	out := c.must("message", "id", ids[0], "--body-bytes", "4")
	for _, want := range []string{"Msg ID:", ids[0], "Keys:", "order-0 shared", "UNIQ_KEY", `"payl" ... (4 of 9 bytes)`} {
		if !strings.Contains(out, want) {
			t.Fatalf("message table lacks %q:\n%s", want, out)
		}
	}
	if _, err := c.admin("message", "key", topic, "nope"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := c.admin("message", "key", "NoSuchTopic", "k"); !errors.Is(err, admin.ErrTopicNotExist) {
		t.Fatalf("unknown topic: %v", err)
	}
	// An offset id past the end of the CommitLog.
	host, _, _ := msg.ParseOffsetMsgID(ids[0])
	if _, err := c.admin("message", "id", msg.OffsetMsgID(host, 1<<40)); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("id past the end: %v", err)
	}
	if _, err := c.admin("message", "id", "xyz"); err == nil || !strings.Contains(err.Error(), "not an offset message id") {
		t.Fatalf("bad id: %v", err)
	}
}

func TestAdminGroups(t *testing.T) {
	c := startCluster(t)
	const topic, group = "AdminGT", "AdminG"
	c.must("topic", "create", topic, "--queues", "2")
	for i := range 6 {
		c.send(topic, i%2, "", fmt.Sprintf("UNIQ%028d", i), "x")
	}
	if err := c.b.Store().WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// A heartbeat creates the group; committed offsets make progress.
	hb := fmt.Appendf(nil, `{"clientID":"10.0.0.1@1","producerDataSet":[],"consumerDataSet":[{"groupName":%q,
"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","unitMode":false,
"subscriptionDataSet":[{"topic":%q,"subString":"*","tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG"}]}]}`, group, topic)
	c.call(remoting.CodeHeartBeat, nil, hb)
	c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "2"}, nil)

	var groups []struct {
		Broker    string `json:"broker"`
		GroupName string `json:"groupName"`
	}
	c.mustJSON(&groups, "group", "list")
	found := false
	for _, g := range groups {
		found = found || (g.GroupName == group && g.Broker == c.b.Addr())
	}
	if !found {
		t.Fatalf("group list lacks %s on %s: %+v", group, c.b.Addr(), groups)
	}
	if out := c.must("group", "list", "-b", c.b.Addr()); !strings.Contains(out, group) {
		t.Fatalf("group list table:\n%s", out)
	}

	var rows []admin.QueueProgress
	c.mustJSON(&rows, "group", "progress", group, "--topic", topic)
	// Queue 0: 3 messages, committed 2. Queue 1: 3 messages; the broker
	// answers 0 for a young queue without an offset (trap T7).
	if len(rows) != 2 || rows[0].BrokerOffset != 3 || rows[0].ConsumerOffset != 2 || rows[0].Lag != 1 ||
		rows[1].BrokerOffset != 3 || rows[1].ConsumerOffset != 0 || rows[1].Lag != 3 || rows[1].LastTimestamp != 0 {
		t.Fatalf("progress with --topic: %+v", rows)
	}
	// Queue 0's last consumed message is the one at offset 1.
	if e, ok, err := c.b.Store().Meta().EntryAt(topic, 0, 1); err != nil || !ok || rows[0].LastTimestamp != e.StoreTime {
		t.Fatalf("last consumed time %d, entry %+v ok %v err %v", rows[0].LastTimestamp, e, ok, err)
	}
	// Without --topic: the topic the group consumed from, and nothing else.
	c.mustJSON(&rows, "group", "progress", group)
	n := 0
	for _, r := range rows {
		switch r.Topic {
		case topic:
			n++
		case "%RETRY%" + group: // listed whether or not consumed
		default:
			t.Fatalf("progress without --topic lists %s: %+v", r.Topic, rows)
		}
	}
	if n != 2 {
		t.Fatalf("progress without --topic: %+v", rows)
	}
	if out := c.must("group", "progress", group); !strings.Contains(out, "total") || !strings.Contains(out, topic) {
		t.Fatalf("progress table:\n%s", out)
	}
	if _, err := c.admin("group", "progress", "NoSuchGroup"); !errors.Is(err, admin.ErrNotFound) || !strings.Contains(err.Error(), "not exist") {
		t.Fatalf("unknown group: %v", err)
	}
}

func TestAdminGroupReset(t *testing.T) {
	c := startCluster(t)
	const topic, group = "AdminRT", "AdminRG"
	c.must("topic", "create", topic, "--queues", "2")
	c.sendN(topic, 0, 4)
	c.call(remoting.CodeUpdateConsumerOffset, map[string]string{"consumerGroup": group, "topic": topic, "queueId": "0", "commitOffset": "3"}, nil)
	offsets := func() []int64 {
		var out []int64
		for q := range int32(2) {
			off, _, err := c.b.Store().ConsumerOffset(group, topic, q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, off)
		}
		return out
	}

	var rows []admin.QueueOffset
	c.mustJSON(&rows, "group", "reset", group, "--topic", topic, "--to", "earliest")
	if len(rows) != 2 || rows[0].QueueID != 0 || rows[0].Offset != 0 || rows[1].Offset != 0 || rows[0].Addr != c.b.Addr() {
		t.Fatalf("reset to earliest: %+v", rows)
	}
	if got := offsets(); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("stored after reset to earliest: %v", got)
	}
	if out := c.must("group", "reset", group, "--topic", topic, "--to", "latest"); !strings.Contains(out, "OFFSET") {
		t.Fatalf("reset table:\n%s", out)
	}
	if got := offsets(); !slices.Equal(got, []int64{4, 0}) {
		t.Fatalf("stored after reset to latest: %v", got)
	}
	// Not forced, a reset to a time after every message cannot move
	// offsets forward; an RFC 3339 time in the future means "the end".
	c.must("group", "reset", group, "--topic", topic, "--to", "earliest")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	c.must("group", "reset", group, "--topic", topic, "--to", future, "--force=false")
	if got := offsets(); !slices.Equal(got, []int64{0, 0}) {
		t.Fatalf("an unforced reset moved offsets forward: %v", got)
	}
	c.must("group", "reset", group, "--topic", topic, "--to", strconv.FormatInt(time.Now().Add(time.Hour).UnixMilli(), 10))
	if got := offsets(); !slices.Equal(got, []int64{4, 0}) {
		t.Fatalf("stored after a forced reset to epoch ms in the future: %v", got)
	}
	if _, err := c.admin("group", "reset", group, "--topic", topic, "--to", "yesterday"); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
		t.Fatalf("bad --to: %v", err)
	}
	if _, err := c.admin("group", "reset", group, "--topic", "NoSuchTopic", "--to", "latest"); err == nil {
		t.Fatal("reset on an unknown topic succeeded")
	}
}

// TestAdminGroupResetUnknownGroup: a reset for a group the broker does not
// know is refused, saying nothing moved, unless --create; an unforced
// reset that cannot move says so.
func TestAdminGroupResetUnknownGroup(t *testing.T) {
	c := startCluster(t)
	const topic, group = "AdminRU", "AdminRUG"
	c.must("topic", "create", topic, "--queues", "2")
	c.sendN(topic, 0, 3)
	stored := func() (int64, bool) {
		off, ok, err := c.b.Store().ConsumerOffset(group, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		return off, ok
	}
	out, err := c.admin("group", "reset", group, "--topic", topic, "--to", "earliest")
	if err == nil || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "nothing moved") {
		t.Fatalf("reset of an unknown group: err %v\n%s", err, out)
	}
	if off, ok := stored(); ok {
		t.Fatalf("a refused reset stored offset %d", off)
	}
	var rows []admin.QueueOffset
	c.mustJSON(&rows, "group", "reset", group, "--topic", topic, "--to", "earliest", "--create")
	if len(rows) != 2 || !rows[0].Moved || rows[0].Offset != 0 {
		t.Fatalf("reset with --create: %+v", rows)
	}
	if off, ok := stored(); !ok || off != 0 {
		t.Fatalf("after reset with --create: offset %d stored=%v", off, ok)
	}
	var groups []struct {
		GroupName string `json:"groupName"`
	}
	c.mustJSON(&groups, "group", "list")
	if !slices.ContainsFunc(groups, func(g struct {
		GroupName string `json:"groupName"`
	}) bool {
		return g.GroupName == group
	}) {
		t.Fatalf("--create did not create the group: %+v", groups)
	}
	// Now known: an unforced reset to the end cannot move forward.
	out = c.must("group", "reset", group, "--topic", topic, "--to", "latest", "--force=false")
	if !strings.Contains(out, "nothing moved") || !strings.Contains(out, "kept") {
		t.Fatalf("unforced reset that moved nothing:\n%s", out)
	}
	if off, _ := stored(); off != 0 {
		t.Fatalf("an unforced reset moved the offset to %d", off)
	}
	if out := c.must("group", "reset", group, "--topic", topic, "--to", "latest"); strings.Contains(out, "nothing moved") {
		t.Fatalf("a forced reset that moved says nothing moved:\n%s", out)
	}
}

func TestAdminBrokerStatus(t *testing.T) {
	c := startCluster(t)
	const topic = "AdminBS"
	c.must("topic", "create", topic, "--queues", "1")
	c.sendN(topic, 0, 4)
	var table map[string]string
	c.mustJSON(&table, "broker", "status", "-b", c.b.Addr())
	if table["brokerVersionDesc"] != "V4_9_8" || table["msgPutTotalTodayNow"] != "4" ||
		table["commitLogMaxOffset"] != strconv.FormatInt(c.b.Store().CommitLog().End(), 10) {
		t.Fatalf("runtime table: %v", table)
	}
	out := c.must("broker", "status", "-b", c.b.Addr())
	if !strings.Contains(out, "msgPutTotalTodayNow") || !strings.Contains(out, "bootTimestamp") {
		t.Fatalf("broker status table:\n%s", out)
	}
	if _, err := c.admin("broker", "status"); err == nil {
		t.Fatal("broker status without -b: no error")
	}
}

func TestAdminErrors(t *testing.T) {
	// Nothing listens on a port the kernel just gave us and took back.
	dead := testkit.FreePort(t)
	var out bytes.Buffer
	root := NewRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"admin", "-n", dead, "--timeout", "2s", "topic", "list"})
	err := root.Execute()
	if !errors.Is(err, admin.ErrUnreachable) || !strings.Contains(out.String(), "unreachable") {
		t.Fatalf("unreachable name server: err %v, out %q", err, out.String())
	}

	c := startCluster(t)
	for _, args := range [][]string{
		{"topic", "create", "Bad Topic!", "--queues", "2"},
		{"topic", "create", "T", "--queues", "0"},
		{"topic", "create", "T", "-b", c.b.Addr(), "-c", "DefaultCluster"},
		{"topic", "create", "T", "-c", "NoSuchCluster"},
		{"topic", "status", "NoSuchTopic"},
		{"topic", "list", "-b", dead},
		{"topic", "route"},
	} {
		if out, err := c.admin(args...); err == nil {
			t.Errorf("wharf admin %s: no error; printed %q", strings.Join(args, " "), out)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func findTopic(tcs []admin.TopicConfig, name string) (admin.TopicConfig, bool) {
	for _, tc := range tcs {
		if tc.TopicName == name {
			return tc, true
		}
	}
	return admin.TopicConfig{}, false
}

// TestAdminClusterListSlave: `cluster list` shows a broker name's master
// and its slave with their ids and roles, and `broker status` the role.
func TestAdminClusterListSlave(t *testing.T) {
	c := startCluster(t)
	slave := brokertest.Start(t, func(cfg *config.Config) {
		cfg.NamesrvAddr, cfg.BrokerName = c.ns.Addr(), c.b.Config().BrokerName
		cfg.BrokerRole, cfg.BrokerID = config.Slave, 1
	})
	type row struct {
		Broker   string `json:"brokerName"`
		BrokerID int64  `json:"brokerId"`
		Role     string `json:"role"`
		Addr     string `json:"addr"`
	}
	var rows []row
	c.eventually("cluster list shows the slave", func() bool {
		rows = nil
		c.mustJSON(&rows, "cluster", "list")
		return len(rows) == 2
	})
	want := []row{{"broker-a", 0, "MASTER", c.b.Addr()}, {"broker-a", 1, "SLAVE", slave.Addr()}}
	if !slices.Equal(rows, want) {
		t.Fatalf("cluster list %+v, want %+v", rows, want)
	}
	out := c.must("cluster", "list")
	if !strings.Contains(out, "ROLE") || !strings.Contains(out, "SLAVE") || !strings.Contains(out, slave.Addr()) {
		t.Fatalf("cluster list:\n%s", out)
	}
	var table map[string]string
	c.mustJSON(&table, "broker", "status", "-b", slave.Addr())
	if table["brokerRole"] != "SLAVE" || table["brokerId"] != "1" || table["haServerAddr"] != slave.HAServerAddr() {
		t.Fatalf("slave runtime table: %v", table)
	}
	c.eventually("the slave knows its master", func() bool { a, _ := slave.MasterAddrs(); return a == c.b.Addr() })
	out = c.must("broker", "status", "-b", slave.Addr())
	if !strings.Contains(out, "SLAVE, brokerId 1, master "+c.b.Addr()) {
		t.Fatalf("slave status:\n%s", out)
	}
	if out := c.must("broker", "status", "-b", c.b.Addr()); !strings.Contains(out, "ASYNC_MASTER, brokerId 0") {
		t.Fatalf("master status:\n%s", out)
	}
	// The master gone: the slave alone, marked.
	c.b.Close()
	c.eventually("cluster list after the master left", func() bool {
		rows = nil
		c.mustJSON(&rows, "cluster", "list")
		return len(rows) == 1 && rows[0] == row{"broker-a", 1, "SLAVE (no master)", slave.Addr()}
	})
}
