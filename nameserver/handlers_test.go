package nameserver

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit/loglines"
	"github.com/wharfmq/wharf/remoting"
)

func TestRouteAfterRegister(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Timestamp: 1, Counter: 1}, topics: defaultTopics()})

	resp := ts.route("TopicTest")
	if resp.Code != remoting.RespSuccess {
		t.Fatalf("code %d remark %q", resp.Code, resp.Remark)
	}
	body := string(resp.Body)
	want := `{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],` +
		`"filterServerTable":{},` +
		`"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`
	if body != want {
		t.Fatalf("route body\n got %s\nwant %s", body, want)
	}

	rd := ts.mustRoute("TBW102")
	if len(rd.QueueDatas) != 1 || rd.QueueDatas[0].Perm != 7 || rd.QueueDatas[0].WriteQueueNums != 8 {
		t.Fatalf("TBW102 route: %+v", rd)
	}
}

// The body must be what Go's parser needs (PROTOCOL.md §6, trap T10).
func TestRouteShapeForGoParser(t *testing.T) {
	ts := startServer(t, Options{})
	topics := map[string]TopicConfig{"T": topicTest("T", 2, PermRead|PermWrite)}
	ts.register(nil, broker{name: "broker-b", addr: "127.0.0.1:20911", topics: topics})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: topics})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1, topics: topics})

	resp := ts.route("T")
	body := string(resp.Body)
	if strings.ContainsAny(body, " \n\t") {
		t.Errorf("body has whitespace: %s", body)
	}
	if strings.Contains(body, "orderTopicConf") {
		t.Errorf("body has orderTopicConf: %s", body)
	}
	if !strings.Contains(body, `"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"}`) {
		t.Errorf("brokerAddrs not quoted-key compact: %s", body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(resp.Body, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw["queueDatas"]), "[") || !strings.HasPrefix(string(raw["brokerDatas"]), "[") {
		t.Errorf("queueDatas/brokerDatas not arrays: %s", body)
	}

	rd := ts.mustRoute("T")
	var names []string
	for _, qd := range rd.QueueDatas {
		names = append(names, qd.BrokerName)
	}
	if strings.Join(names, ",") != "broker-a,broker-b" {
		t.Errorf("queueDatas order %v, want broker-a,broker-b", names)
	}
	if len(rd.BrokerDatas) != 2 || rd.BrokerDatas[0].BrokerName != "broker-a" {
		t.Errorf("brokerDatas %+v", rd.BrokerDatas)
	}
}

func TestUnknownTopic(t *testing.T) {
	ts := startServer(t, Options{})
	resp := ts.route("Nope")
	if resp.Code != remoting.RespTopicNotExist {
		t.Fatalf("code %d, want 17", resp.Code)
	}
	if want := "No topic route info in name server for the topic: Nope"; resp.Remark != want {
		t.Fatalf("remark %q, want %q", resp.Remark, want)
	}
}

func TestExpiry(t *testing.T) {
	ts := startServer(t, Options{BrokerExpiry: 150 * time.Millisecond, ScanInterval: 10 * time.Millisecond})
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()}
	ts.register(nil, b)

	// Re-registering keeps it alive well past one expiry period.
	for range 6 {
		time.Sleep(50 * time.Millisecond)
		ts.register(nil, b)
	}
	ts.mustRoute("TopicTest")

	ts.waitNoRoute("TopicTest")
	ts.waitNoRoute("TBW102")
	if ci := clusterInfo(ts); len(ci.BrokerAddrTable) != 0 || len(ci.ClusterAddrTable) != 0 {
		t.Fatalf("cluster info after expiry: %+v", ci)
	}
}

func TestConnectionCloseDropsBroker(t *testing.T) {
	ts := startServer(t, Options{})
	brokerCli := newClient()
	ts.register(brokerCli, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()})
	ts.mustRoute("TopicTest")
	brokerCli.Close()
	ts.waitNoRoute("TopicTest")
}

// TestMasterConnectionCloseKeepsSlave: a master whose connection closes
// (killed) leaves the route at once, while its slave and the queue data
// stay (HA.md §2.3), and the slave's next registration is told of no
// master.
func TestMasterConnectionCloseKeepsSlave(t *testing.T) {
	ts := startServer(t, Options{})
	masterCli, slaveCli := newClient(), newClient()
	defer slaveCli.Close()
	ts.register(masterCli, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()})
	slave := broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1, topics: defaultTopics()}
	ts.register(slaveCli, slave)
	if addrs := ts.mustRoute("TopicTest").BrokerDatas[0].BrokerAddrs; len(addrs) != 2 || addrs[0] != "127.0.0.1:10911" || addrs[1] != "127.0.0.1:10921" {
		t.Fatalf("brokerAddrs %v, want {0: master, 1: slave}", addrs)
	}
	masterCli.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rd := ts.mustRoute("TopicTest")
		if addrs := rd.BrokerDatas[0].BrokerAddrs; len(addrs) == 1 {
			if addrs[1] != "127.0.0.1:10921" || len(rd.QueueDatas) != 1 || rd.QueueDatas[0].BrokerName != "broker-a" {
				t.Fatalf("route after the master's connection closed: %+v", rd)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the master's entry outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp := ts.register(slaveCli, slave); resp.ExtFields["masterAddr"] != "" || resp.ExtFields["haServerAddr"] != "" {
		t.Fatalf("slave told of a dead master: %v", resp.ExtFields)
	}
}

// A broker that re-registered on a new connection survives the close of
// its old one.
func TestOldConnectionCloseKeepsBroker(t *testing.T) {
	ts := startServer(t, Options{})
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()}
	oldCli, newCli := newClient(), newClient()
	defer newCli.Close()
	ts.register(oldCli, b)
	ts.register(newCli, b)
	n := len(ts.srv.rs.Conns())
	oldCli.Close()
	deadline := time.Now().Add(5 * time.Second)
	for len(ts.srv.rs.Conns()) >= n {
		if time.Now().After(deadline) {
			t.Fatal("old connection never closed on the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.mustRoute("TopicTest")
}

func TestUnregisterMasterThenSlave(t *testing.T) {
	ts := startServer(t, Options{})
	topics := defaultTopics()
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: topics})
	resp := ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1, topics: topics})
	if resp.ExtFields["masterAddr"] != "127.0.0.1:10911" || resp.ExtFields["haServerAddr"] != "127.0.0.1:10912" {
		t.Errorf("slave reply ext %v, want masterAddr and haServerAddr of the master", resp.ExtFields)
	}

	unregister := func(addr string, id string) {
		t.Helper()
		resp := ts.invoke(remoting.NewRequest(remoting.CodeUnregisterBroker, map[string]string{
			"brokerName": "broker-a", "brokerAddr": addr, "clusterName": "DefaultCluster", "brokerId": id}, nil))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("unregister: code %d remark %q", resp.Code, resp.Remark)
		}
	}
	unregister("127.0.0.1:10911", "0")
	rd := ts.mustRoute("TopicTest") // the slave still serves reads
	if addrs := rd.BrokerDatas[0].BrokerAddrs; len(addrs) != 1 || addrs[1] != "127.0.0.1:10921" {
		t.Fatalf("brokerAddrs after master left: %v", addrs)
	}
	unregister("127.0.0.1:10921", "1")
	ts.waitNoRoute("TopicTest")
	if ci := clusterInfo(ts); len(ci.BrokerAddrTable) != 0 || len(ci.ClusterAddrTable) != 0 {
		t.Fatalf("cluster info after unregister: %+v", ci)
	}
}

func TestDeleteTopic(t *testing.T) {
	ts := startServer(t, Options{})
	b := broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: defaultTopics()}
	ts.register(nil, b)
	resp := ts.invoke(remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "TopicTest"}, nil))
	if resp.Code != remoting.RespSuccess {
		t.Fatalf("delete: code %d remark %q", resp.Code, resp.Remark)
	}
	if resp := ts.route("TopicTest"); resp.Code != remoting.RespTopicNotExist {
		t.Fatalf("route after delete: code %d", resp.Code)
	}
	ts.mustRoute("TBW102")

	// The same data version does not bring it back; a new one does.
	ts.register(nil, b)
	if resp := ts.route("TopicTest"); resp.Code != remoting.RespTopicNotExist {
		t.Fatalf("route after same-version register: code %d", resp.Code)
	}
	b.dv.Counter++
	ts.register(nil, b)
	ts.mustRoute("TopicTest")
}

func clusterInfo(ts *testServer) ClusterInfo {
	ts.t.Helper()
	resp := ts.invoke(remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil))
	if resp.Code != remoting.RespSuccess {
		ts.t.Fatalf("cluster info: code %d remark %q", resp.Code, resp.Remark)
	}
	var ci ClusterInfo
	if err := json.Unmarshal(resp.Body, &ci); err != nil {
		ts.t.Fatalf("cluster info body %s: %v", resp.Body, err)
	}
	return ci
}

func TestClusterInfoAndTopicList(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1})
	ts.register(nil, broker{name: "broker-b", addr: "127.0.0.1:20911", cluster: "Other",
		topics: map[string]TopicConfig{"OnlyB": topicTest("OnlyB", 1, PermRead|PermWrite)}})

	resp := ts.invoke(remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil))
	want := `{"brokerAddrTable":{` +
		`"broker-a":{"brokerAddrs":{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"},"brokerName":"broker-a","cluster":"DefaultCluster"},` +
		`"broker-b":{"brokerAddrs":{"0":"127.0.0.1:20911"},"brokerName":"broker-b","cluster":"Other"}},` +
		`"clusterAddrTable":{"DefaultCluster":["broker-a"],"Other":["broker-b"]}}`
	if string(resp.Body) != want {
		t.Fatalf("cluster info\n got %s\nwant %s", resp.Body, want)
	}

	resp = ts.invoke(remoting.NewRequest(remoting.CodeGetAllTopicListFromNameServer, nil, nil))
	if want := `{"topicList":["OnlyB","TBW102","TopicTest"]}`; string(resp.Body) != want {
		t.Fatalf("topic list %s, want %s", resp.Body, want)
	}
}

// Only the master's table counts, and only when its data version changes;
// a new table replaces the old one.
func TestTopicTableUpdates(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: defaultTopics()})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10921", id: 1,
		topics: map[string]TopicConfig{"SlaveOnly": topicTest("SlaveOnly", 1, 6)}})
	if resp := ts.route("SlaveOnly"); resp.Code != remoting.RespTopicNotExist {
		t.Fatalf("slave's topic got a route: code %d", resp.Code)
	}

	changed := map[string]TopicConfig{"TopicTest": topicTest("TopicTest", 16, PermRead)}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: changed})
	if rd := ts.mustRoute("TopicTest"); rd.QueueDatas[0].ReadQueueNums != 4 {
		t.Fatalf("same data version changed the table: %+v", rd.QueueDatas)
	}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 2}, topics: changed})
	if rd := ts.mustRoute("TopicTest"); rd.QueueDatas[0].ReadQueueNums != 16 || rd.QueueDatas[0].Perm != PermRead {
		t.Fatalf("new data version not applied: %+v", rd.QueueDatas)
	}
	ts.waitNoRoute("TBW102")
}

func TestQueryDataVersion(t *testing.T) {
	ts := startServer(t, Options{})
	dv := DataVersion{Timestamp: 1700000000000, Counter: 3}
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: dv, topics: defaultTopics()})
	query := func(addr string, v DataVersion) *remoting.Command {
		b, _ := json.Marshal(v)
		return ts.invoke(remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{
			"brokerName": "broker-a", "brokerAddr": addr, "clusterName": "DefaultCluster", "brokerId": "0"}, b))
	}
	resp := query("127.0.0.1:10911", dv)
	if resp.Code != remoting.RespSuccess || resp.ExtFields["changed"] != "false" {
		t.Fatalf("same version: code %d ext %v", resp.Code, resp.ExtFields)
	}
	var stored DataVersion
	if err := json.Unmarshal(resp.Body, &stored); err != nil || stored != dv {
		t.Fatalf("stored version %s (%v), want %+v", resp.Body, err, dv)
	}
	if resp := query("127.0.0.1:10911", DataVersion{Timestamp: 1, Counter: 4}); resp.ExtFields["changed"] != "true" {
		t.Fatalf("other version: ext %v", resp.ExtFields)
	}
	if resp := query("127.0.0.1:9", dv); resp.ExtFields["changed"] != "true" || len(resp.Body) != 0 {
		t.Fatalf("unknown broker: ext %v body %q", resp.ExtFields, resp.Body)
	}
}

func TestCompressedRegistration(t *testing.T) {
	ts := startServer(t, Options{})
	topics := []TopicConfig{topicTest("TopicTest", 4, 6), topicTest("TBW102", 8, 7)}
	for _, asJSON := range []bool{false, true} {
		body := compressedBody(t, topics, DataVersion{Timestamp: 5, Counter: 1}, asJSON)
		resp := ts.invoke(compressedRequest("broker-a", "127.0.0.1:10911", body))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("asJSON=%v: code %d remark %q", asJSON, resp.Code, resp.Remark)
		}
		rd := ts.mustRoute("TopicTest")
		if qd := rd.QueueDatas[0]; qd.ReadQueueNums != 4 || qd.WriteQueueNums != 4 || qd.Perm != 6 {
			t.Fatalf("asJSON=%v: %+v", asJSON, qd)
		}
		ts.mustRoute("TBW102")
		resp = ts.invoke(remoting.NewRequest(remoting.CodeUnregisterBroker, map[string]string{
			"brokerName": "broker-a", "brokerAddr": "127.0.0.1:10911", "clusterName": "DefaultCluster", "brokerId": "0"}, nil))
		if resp.Code != remoting.RespSuccess {
			t.Fatalf("unregister: code %d", resp.Code)
		}
		ts.waitNoRoute("TopicTest")
	}
}

// Bad requests get SYSTEM_ERROR with a remark naming the problem, change
// nothing, and the server keeps serving on the same connection.
func TestMalformedRequests(t *testing.T) {
	ts := startServer(t, Options{})
	good := broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()}
	without := func(key string) *remoting.Command {
		req := good.request(t)
		delete(req.ExtFields, key)
		return req
	}
	with := func(key, value string) *remoting.Command {
		req := good.request(t)
		req.SetExt(key, value)
		return req
	}
	withBody := func(body []byte, compressed bool) *remoting.Command {
		req := RegisterRequest("broker-a", "127.0.0.1:10911", "DefaultCluster", 0, body)
		if compressed {
			req.SetExt("compressed", "true")
		}
		return req
	}
	cases := []struct {
		name   string
		req    *remoting.Command
		remark string // a regexp the remark must match
	}{
		{"missing brokerAddr", without("brokerAddr"), `missing ext field "brokerAddr"`},
		{"missing brokerName", without("brokerName"), `missing ext field "brokerName"`},
		{"missing brokerId", without("brokerId"), `missing ext field "brokerId"`},
		{"empty clusterName", with("clusterName", ""), `"clusterName" is empty`},
		{"bad brokerId", with("brokerId", "zero"), `brokerId`},
		{"negative brokerId", with("brokerId", "-1"), `negative brokerId`},
		{"addr without port", with("brokerAddr", "127.0.0.1"), `not host:port`},
		{"addr with comma", with("brokerAddr", "127.0.0.1:1,2"), `comma`},
		{"bad bodyCrc32", with("bodyCrc32", "12345"), `does not match bodyCrc32 12345`},
		{"bodyCrc32 not a number", with("bodyCrc32", "x"), `bodyCrc32`},
		{"body not JSON", withBody([]byte("not json"), false), `not RegisterBrokerBody JSON`},
		{"wrong JSON types", withBody([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"perm":"6"}}}}`), false), `not RegisterBrokerBody JSON`},
		{"negative queues", withBody([]byte(`{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"readQueueNums":-1}}}}`), false), `negative queue numbers`},
		{"compressed garbage", withBody([]byte("not deflate at all"), true), `does not inflate`},
		{"compressed truncated", withBody(deflateZlib(t, []byte{0, 0, 0, 2, '{', '}', 0, 0, 0, 5}), true), `ends before`},
		{"compressed huge length", withBody(deflateZlib(t, []byte{0x7f, 0, 0, 0}), true), `exceeds`},
		{"compressed bad topic", withBody(compressedBadTopic(t), true), `want "name read write perm filterType"`},
		{"route without topic", remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, nil, nil), `missing ext field "topic"`},
		{"delete without topic", remoting.NewRequest(remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": ""}, nil), `"topic" is empty`},
		{"unregister without id", remoting.NewRequest(remoting.CodeUnregisterBroker, map[string]string{
			"brokerName": "b", "brokerAddr": "127.0.0.1:1", "clusterName": "c"}, nil), `missing ext field "brokerId"`},
		{"data version not JSON", remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{"brokerAddr": "127.0.0.1:1"}, []byte("{")), `not DataVersion JSON`},
	}
	for _, c := range cases {
		resp := ts.invoke(c.req)
		if resp.Code != remoting.RespSystemError {
			t.Errorf("%s: code %d remark %q, want 1", c.name, resp.Code, resp.Remark)
			continue
		}
		if !regexp.MustCompile(c.remark).MatchString(resp.Remark) {
			t.Errorf("%s: remark %q does not match %q", c.name, resp.Remark, c.remark)
		}
	}
	if list := clusterInfo(ts); len(list.BrokerAddrTable) != 0 {
		t.Fatalf("a bad request registered something: %+v", list)
	}
	ts.register(nil, good)
	ts.mustRoute("TopicTest")

	// Codes a name server does not serve.
	if resp := ts.invoke(remoting.NewRequest(remoting.CodeHeartBeat, nil, nil)); resp.Code != remoting.RespRequestCodeNotSupported {
		t.Fatalf("heartbeat: code %d, want 3", resp.Code)
	}
}

// compressedBadTopic is a compressed body whose one topic config is
// neither JSON nor five fields.
func compressedBadTopic(t *testing.T) []byte {
	t.Helper()
	raw := []byte{0, 0, 0, 2, '{', '}', 0, 0, 0, 1, 0, 0, 0, 3, 'a', ' ', 'b', 0, 0, 0, 2, '[', ']'}
	return deflateZlib(t, raw)
}

// An empty body registers the broker without touching its topics.
func TestEmptyBodyRegistration(t *testing.T) {
	ts := startServer(t, Options{})
	ts.register(nil, broker{name: "broker-a", addr: "127.0.0.1:10911", dv: DataVersion{Counter: 1}, topics: defaultTopics()})
	resp := ts.invoke(RegisterRequest("broker-a", "127.0.0.1:10911", "DefaultCluster", 0, nil))
	if resp.Code != remoting.RespSuccess {
		t.Fatalf("code %d remark %q", resp.Code, resp.Remark)
	}
	ts.mustRoute("TopicTest")
}

// TestRegisterUnregisterApplyInWireOrder: a broker's oneway register and
// the unregister right behind it on the same connection apply in that
// order, so the broker ends up unrouted (served concurrently, the
// unregister could run first and leave the broker routed until expiry).
func TestRegisterUnregisterApplyInWireOrder(t *testing.T) {
	ts := startServer(t, Options{})
	cli := newClient()
	defer cli.Close()
	b := broker{name: "broker-ow", addr: "127.0.0.1:10999", topics: map[string]TopicConfig{"OrderT": {TopicName: "OrderT",
		ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}}
	unreg := map[string]string{"brokerName": "broker-ow", "brokerAddr": "127.0.0.1:10999", "clusterName": "DefaultCluster", "brokerId": "0"}
	for round := range 50 {
		if err := cli.InvokeOneway(ts.srv.Addr(), b.request(t)); err != nil {
			t.Fatal(err)
		}
		if err := cli.InvokeOneway(ts.srv.Addr(), remoting.NewRequest(remoting.CodeUnregisterBroker, unreg, nil)); err != nil {
			t.Fatal(err)
		}
		// A request with a reply on the same connection: served after the
		// two above, since register and unregister run on the reader.
		ts.invokeWith(cli, remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil))
		if resp := ts.route("OrderT"); resp.Code != remoting.RespTopicNotExist {
			t.Fatalf("round %d: OrderT still routed after register then unregister: code %d %s", round, resp.Code, resp.Body)
		}
	}
}

// TestDuplicateBrokerIDIsWarned: two running brokers configured with one
// brokerName and brokerId take the id from each other at every
// registration (the route flips between them); the name server says so,
// once per interval however often they flip, naming both addresses.
func TestDuplicateBrokerIDIsWarned(t *testing.T) {
	lines := &loglines.Lines{}
	ts := startServer(t, Options{Logger: slog.New(slog.NewTextHandler(lines, nil))})
	one, two := newClient(), newClient()
	defer one.Close()
	defer two.Close()
	const warning = "brokerId taken from another live broker"
	for range 5 {
		ts.register(one, broker{name: "broker-a", addr: "127.0.0.1:10911", topics: defaultTopics()})
		ts.register(two, broker{name: "broker-a", addr: "127.0.0.1:20911", topics: defaultTopics()})
	}
	if n := strings.Count(lines.String(), warning); n != 1 {
		t.Fatalf("%d warnings of the duplicate brokerId, want 1:\n%s", n, lines)
	}
	if !strings.Contains(lines.String(), "was=127.0.0.1:10911") {
		t.Fatalf("the warning does not name the displaced broker:\n%s", lines)
	}
	// Another broker taking a dead broker's place is not warned of.
	ts.register(one, broker{name: "broker-b", addr: "127.0.0.1:30911", topics: defaultTopics()})
	one.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ts.srv.reg.mu.RLock()
		_, live := ts.srv.reg.mu.live["127.0.0.1:30911"]
		ts.srv.reg.mu.RUnlock()
		if !live {
			break // the name server dropped the closed connection's broker
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's broker is still live after 5 s")
		}
	}
	ts.register(two, broker{name: "broker-b", addr: "127.0.0.1:40911", topics: defaultTopics()})
	if n := strings.Count(lines.String(), warning); n != 1 {
		t.Fatalf("a replaced dead broker was warned of:\n%s", lines)
	}
}
