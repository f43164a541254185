package broker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// aclTestYAML: an admin, an application account with per-topic rights
// (and no right on VictimGroup),
// the broker's own account, and an account that needs no signature from
// 127.0.0.1 only through its white address.
const aclTestYAML = `accounts:
  - accessKey: adminAK
    secretKey: adminSecret1
    admin: true
  - accessKey: appAccess
    secretKey: appSecret12
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclTopic=PUB|SUB
      - AclTxn=PUB|SUB
      - DenyTopic=DENY
    groupPerms:
      - VictimGroup=DENY
  - accessKey: brokerAK
    secretKey: brokerSecret
    admin: true
  - accessKey: farAccess
    secretKey: farSecret12
    whiteRemoteAddress: 10.1.2.*
    defaultTopicPerm: PUB|SUB
  - accessKey: nearAccess
    secretKey: nearSecret1
    whiteRemoteAddress: 127.0.0.1
`

var aclApp = primitive.Credentials{AccessKey: "appAccess", SecretKey: "appSecret12"}

// writeACL writes yml to dir/plain_acl.yml and returns its path.
func writeACL(t *testing.T, dir, yml string) string {
	t.Helper()
	path := filepath.Join(dir, "plain_acl.yml")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil { // as editors save
		t.Fatal(err)
	}
	return path
}

// aclNameServer starts a name server that checks aclTestYAML and returns
// it with a broker configuration that checks it too and signs its own
// requests as brokerAK.
func aclNameServer(t *testing.T) (*nameserver.Server, config.Config) {
	t.Helper()
	dir := t.TempDir()
	path := writeACL(t, dir, aclTestYAML)
	ns := startNameServer(t, func(o *nameserver.Options) { o.ACLFile = path })
	cfg := testConfig(filepath.Join(dir, "store"))
	cfg.AclEnable, cfg.AclFile = true, path
	cfg.AccessKey, cfg.SecretKey = "brokerAK", "brokerSecret"
	cfg.NamesrvAddr = ns.Addr()
	return ns, cfg
}

// startACLCluster starts a name server and a broker that both check
// aclTestYAML; the broker signs its registration as brokerAK.
func startACLCluster(t *testing.T) *cluster {
	t.Helper()
	return startACLClusterWith(t, nil)
}

// startACLClusterWith is startACLCluster with mut, if not nil, applied to
// the broker's configuration.
func startACLClusterWith(t *testing.T, mut func(*config.Config)) *cluster {
	t.Helper()
	if raceEnabled {
		t.Skip("the Go client races internally; run without -race")
	}
	ns, cfg := aclNameServer(t)
	if mut != nil {
		mut(&cfg)
	}
	cfg.MetricsExporterType, cfg.MetricsPromExporterHost, cfg.MetricsPromExporterPort = config.MetricsProm, "127.0.0.1", 0
	cl := &cluster{ns: ns, cfg: cfg}
	cl.b = startBroker(t, cfg)
	cl.waitRoute(t, systopic.AutoCreate) // registration was signed and accepted
	return cl
}

// signedClient returns a remoting client that signs as ak/sk (none if ak
// is empty).
func signedClient(t *testing.T, ak, sk string) *remoting.Client {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), Sign: acl.Signer(ak, sk)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func invoke(t *testing.T, c *remoting.Client, addr string, code int16, ext map[string]string, body []byte) *remoting.Command {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		t.Fatalf("code %d: %v", code, err)
	}
	return resp
}

func aclCreateTopic(t *testing.T, cl *cluster, topic string, queues int) {
	t.Helper()
	n := strconv.Itoa(queues)
	expectCode(t, invoke(t, signedClient(t, "adminAK", "adminSecret1"), cl.b.Addr(), remoting.CodeUpdateAndCreateTopic,
		map[string]string{"topic": topic, "readQueueNums": n, "writeQueueNums": n, "perm": "6"}, nil), remoting.RespSuccess, "create "+topic)
	cl.waitRoute(t, topic)
}

// TestACLGoClientWithCredentials: with aclEnable the official Go client
// with an account's credentials produces, push-consumes, pulls and runs a
// transaction; the admin account creates a topic.
func TestACLGoClientWithCredentials(t *testing.T) {
	cl := startACLCluster(t)
	aclCreateTopic(t, cl, "AclTopic", 2)
	aclCreateTopic(t, cl, "AclTxn", 1)

	p := cl.producer(t, producer.WithCredentials(aclApp), producer.WithInstanceName("acl-app-p"))
	for i := range 10 {
		res, err := p.SendSync(ctx10s(t), primitive.NewMessage("AclTopic", []byte(fmt.Sprintf("m-%d", i))))
		if err != nil || res.Status != primitive.SendOK {
			t.Fatalf("send %d: %+v %v", i, res, err)
		}
	}
	var r received
	cl.consumer(t, "AclGroup", "AclTopic", consumer.MessageSelector{}, &r,
		consumer.WithCredentials(aclApp), consumer.WithInstance("acl-app-c"))
	eventually(t, 20*time.Second, "all consumed", func() bool { return hasAll(r.bodies(), all("AclTopic", "m", 10)) })

	pc, err := consumer.NewPullConsumer(consumer.WithGroupName("AclPullGroup"), consumer.WithNsResolver(cl.resolver()),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset), consumer.WithInstance("acl-app-pull"),
		consumer.WithCredentials(aclApp))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Subscribe("AclTopic", consumer.MessageSelector{}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Shutdown() })
	pulled := 0
	for q := range 2 {
		mq := &primitive.MessageQueue{Topic: "AclTopic", BrokerName: cl.cfg.BrokerName, QueueId: q}
		res, err := pc.PullFrom(ctx10s(t), mq, 0, 32)
		if err != nil {
			t.Fatalf("pull queue %d: %v", q, err)
		}
		pulled += len(res.GetMessageExts())
	}
	if pulled != 10 {
		t.Fatalf("pulled %d messages, want 10", pulled)
	}

	l := &txnListener{checks: map[string]int{}}
	tp, err := producer.NewTransactionProducer(l, producer.WithNsResolver(cl.resolver()), producer.WithRetry(2),
		producer.WithGroupName("AclTxnPG"), producer.WithInstanceName("acl-app-txn"), producer.WithCredentials(aclApp))
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Shutdown() })
	res, err := tp.SendMessageInTransaction(ctx10s(t), primitive.NewMessage("AclTxn", []byte("commit-1")))
	if err != nil || res.State != primitive.CommitMessageState {
		t.Fatalf("transaction: %+v %v", res, err)
	}
	eventually(t, 10*time.Second, "committed message stored", func() bool {
		return topicBodies(t, cl.b, "AclTxn", 1)["commit-1"] == 1
	})
	if s := cl.b.ACL().Stats(); s.Allowed == 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestACLRefusals: each way in that must fail answers 16 with a remark that
// names the missing right, and nothing is stored or changed.
func TestACLRefusals(t *testing.T) {
	cl := aclTwoTopics(t)
	addr := cl.b.Addr()
	sendV2 := func(topic, body string) (map[string]string, []byte) {
		return map[string]string{"a": "PG", "b": topic, "c": systopic.AutoCreate, "d": "4", "e": "0", "f": "0",
			"g": strconv.FormatInt(time.Now().UnixMilli(), 10), "h": "0", "i": "", "j": "0", "k": "false", "m": "false"}, []byte(body)
	}
	anon := signedClient(t, "", "")
	app := signedClient(t, "appAccess", "appSecret12")
	wrong := signedClient(t, "appAccess", "not-the-secret")
	far := signedClient(t, "farAccess", "wrongFar")

	for _, tc := range []struct {
		name   string
		c      *remoting.Client
		topic  string
		mutate func(*remoting.Command)
		remark string
	}{
		{"no credentials", anon, "AclTopic", nil, "no AccessKey"},
		{"wrong secret", wrong, "AclTopic", nil, "signature check failed for accessKey=appAccess"},
		{"PUB on a DENY topic", app, "DenyTopic", nil, "no PUB permission on topic:DenyTopic"},
		{"outside whiteRemoteAddress, bad signature", far, "AclTopic", nil, "signature check failed for accessKey=farAccess"},
	} {
		ext, body := sendV2(tc.topic, "refused-"+tc.name)
		resp := invoke(t, tc.c, addr, remoting.CodeSendMessageV2, ext, body)
		if resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("%s: got %d %q, want 16 with %q", tc.name, resp.Code, resp.Remark, tc.remark)
		}
		if strings.Contains(resp.Remark, "Secret") || strings.Contains(resp.Remark, "secret12") {
			t.Errorf("%s: remark %q shows a secret", tc.name, resp.Remark)
		}
	}

	// A tampered body: signed, then changed on the way.
	req := remoting.NewRequest(remoting.CodeSendMessageV2, nil, nil)
	req.ExtFields, req.Body = sendV2("AclTopic", "original")
	acl.Sign(req.ExtFields, req.Body, "appAccess", "appSecret12")
	req.Body = []byte("tampered")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp, err := anon.Invoke(ctx, addr, req)
	cancel()
	if err != nil || resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, "signature check failed") {
		t.Fatalf("tampered body: %v %v", resp, err)
	}

	// The Go client with a wrong secret is refused too.
	p := cl.producer(t, producer.WithCredentials(primitive.Credentials{AccessKey: "appAccess", SecretKey: "bad"}),
		producer.WithInstanceName("acl-bad-p"), producer.WithRetry(0))
	if _, err := p.SendSync(ctx10s(t), primitive.NewMessage("AclTopic", []byte("go-bad"))); err == nil {
		t.Fatal("the Go client with a wrong secret sent a message")
	}

	// A white address waives the signature: nearAccess from 127.0.0.1 needs
	// only its access key (RocketMQ's rule), with no permission check.
	near := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), Sign: func(c *remoting.Command) { c.SetExt(acl.FieldAccessKey, "nearAccess") }})
	t.Cleanup(func() { _ = near.Close() })
	ext, body := sendV2("AclTopic", "near-ok")
	expectCode(t, invoke(t, near, addr, remoting.CodeSendMessageV2, ext, body), remoting.RespSuccess, "white-address send")

	waitDispatched(t, cl.b)
	if got := topicBodies(t, cl.b, "AclTopic", 1); len(got) != 1 || got["near-ok"] != 1 {
		t.Fatalf("AclTopic holds %v, want only near-ok", got)
	}
	if got := topicBodies(t, cl.b, "DenyTopic", 1); len(got) != 0 {
		t.Fatalf("DenyTopic holds %v", got)
	}
	s := cl.b.ACL().Stats()
	if s.AuthFailures < 4 || s.PermDenied < 1 {
		t.Fatalf("stats %+v", s)
	}
	// The same counts on /metrics (a retrying client may add refusals
	// between the two reads, never remove them).
	fams := scrape(t, cl.b)
	for result, min := range map[string]uint64{"auth_failed": s.AuthFailures, "denied": s.PermDenied, "allowed": s.Allowed} {
		if got := value(fams, "wharf_acl_requests_total", map[string]string{"result": result}); got < float64(min) {
			t.Errorf("wharf_acl_requests_total{result=%q} = %v, want >= %d", result, got, min)
		}
	}
}

// TestACLRequestCodeFamilies: one request of each family, as a signed
// account without the right and as the admin or an account with it.
func TestACLRequestCodeFamilies(t *testing.T) {
	cl := aclTwoTopics(t)
	addr := cl.b.Addr()
	app := signedClient(t, "appAccess", "appSecret12")
	adm := signedClient(t, "adminAK", "adminSecret1")
	brk := signedClient(t, "brokerAK", "brokerSecret")
	hb := func(group, topic string) []byte {
		return []byte(`{"clientID":"acl-c","producerDataSet":[],"consumerDataSet":[{"groupName":"` + group +
			`","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET",` +
			`"subscriptionDataSet":[{"topic":"` + topic + `","subString":"*","classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG"}],"unitMode":false}]}`)
	}
	for _, tc := range []struct {
		family string
		c      *remoting.Client
		code   int16
		ext    map[string]string
		body   []byte
		denied bool
	}{
		{"pull, DENY topic", app, remoting.CodePullMessage, pullExt("AclGroup", "DenyTopic", 0, 0, 0, 0), nil, true},
		{"pull, allowed", app, remoting.CodePullMessage, pullExt("AclGroup", "AclTopic", 0, 0, 0, 0), nil, false},
		{"commit offset, DENY topic", app, remoting.CodeUpdateConsumerOffset,
			map[string]string{"consumerGroup": "AclGroup", "topic": "DenyTopic", "queueId": "0", "commitOffset": "0"}, nil, true},
		{"query offset, DENY topic", app, remoting.CodeQueryConsumerOffset,
			map[string]string{"consumerGroup": "AclGroup", "topic": "DenyTopic", "queueId": "0"}, nil, true},
		{"heartbeat, DENY topic", app, remoting.CodeHeartBeat, nil, hb("AclGroup", "DenyTopic"), true},
		{"heartbeat, allowed", app, remoting.CodeHeartBeat, nil, hb("AclGroup", "AclTopic"), false},
		{"lock, DENY topic", app, remoting.CodeLockBatchMQ, nil,
			[]byte(`{"consumerGroup":"AclGroup","clientId":"acl-c","mqSet":[{"topic":"DenyTopic","brokerName":"` + cl.cfg.BrokerName + `","queueId":0}]}`), true},
		{"send back, DENY group", signedClient(t, "farAccess", "farSecret12"), remoting.CodeConsumerSendMsgBack,
			map[string]string{"group": "G", "offset": "0", "delayLevel": "0", "originTopic": "AclTopic"}, nil, true},
		{"send back, allowed", app, remoting.CodeConsumerSendMsgBack,
			map[string]string{"group": "AclGroup", "offset": "0", "delayLevel": "0", "originTopic": "AclTopic"}, nil, false},
		{"topic create, not admin", app, remoting.CodeUpdateAndCreateTopic,
			map[string]string{"topic": "NewTopic", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil, true},
		{"topic delete, not admin", app, remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "AclTopic"}, nil, true},
		{"offset reset, not admin", app, remoting.CodeInvokeBrokerToResetOffset,
			map[string]string{"topic": "AclTopic", "group": "AclGroup", "timestamp": "0", "isForce": "true"}, nil, true},
		{"read-only admin query, any account", app, remoting.CodeGetAllTopicConfig, nil, nil, false},
		// What a slave's sync reads, signed with its broker.conf account
		// (no admin, no topic rights).
		{"slave sync: topics", brk, remoting.CodeGetAllTopicConfig, nil, nil, false},
		{"slave sync: groups", brk, remoting.CodeGetAllSubscriptionGroupConfig, nil, nil, false},
		{"slave sync: offsets", brk, remoting.CodeGetAllConsumerOffset, nil, nil, false},
		{"slave sync: delay offsets", brk, remoting.CodeGetAllDelayOffset, nil, nil, false},
		{"slave sync, unsigned", signedClient(t, "", ""), remoting.CodeGetAllConsumerOffset, nil, nil, true},
		{"topic create, admin", adm, remoting.CodeUpdateAndCreateTopic,
			map[string]string{"topic": "AdminTopic", "readQueueNums": "1", "writeQueueNums": "1", "perm": "6"}, nil, false},
	} {
		resp := invoke(t, tc.c, addr, tc.code, tc.ext, tc.body)
		if got := resp.Code == remoting.RespNoPermission; got != tc.denied {
			t.Errorf("%s: code %d %q, want denied=%v", tc.family, resp.Code, resp.Remark, tc.denied)
		}
	}
	if _, ok := cl.b.topics.Get("NewTopic"); ok {
		t.Error("a non-admin created a topic")
	}
	if _, ok := cl.b.topics.Get("AclTopic"); !ok {
		t.Error("a non-admin deleted a topic")
	}
	if _, ok := cl.b.topics.Get("AdminTopic"); !ok {
		t.Error("the admin could not create a topic")
	}
}

// TestACLStrangerAttacks: the attacks of the reliability issue, from a
// connection with no credentials, all refused with nothing changed: an
// offset reset, a topic delete, a topic-create flood, a system topic delete.
func TestACLStrangerAttacks(t *testing.T) {
	cl := startACLCluster(t)
	aclCreateTopic(t, cl, "Victim", 1)
	addr := cl.b.Addr()
	adm := signedClient(t, "adminAK", "adminSecret1")
	expectCode(t, invoke(t, adm, addr, remoting.CodeUpdateConsumerOffset,
		map[string]string{"consumerGroup": "VICTIM", "topic": "Victim", "queueId": "0", "commitOffset": "10"}, nil),
		remoting.RespSuccess, "commit 10")
	stranger := signedClient(t, "", "")
	refused := func(what string, code int16, ext map[string]string) {
		t.Helper()
		if resp := invoke(t, stranger, addr, code, ext, nil); resp.Code != remoting.RespNoPermission {
			t.Fatalf("%s: code %d %q, want 16", what, resp.Code, resp.Remark)
		}
	}
	refused("offset reset", remoting.CodeInvokeBrokerToResetOffset,
		map[string]string{"topic": "Victim", "group": "VICTIM", "timestamp": "0", "isForce": "true"})
	refused("topic delete", remoting.CodeDeleteTopicInBroker, map[string]string{"topic": "Victim"})
	before, _ := cl.b.topics.Snapshot()
	for i := range 200 {
		refused("topic flood", remoting.CodeUpdateAndCreateTopic,
			map[string]string{"topic": fmt.Sprintf("Flood%d", i), "readQueueNums": "8", "writeQueueNums": "8", "perm": "6"})
	}
	for _, sys := range []string{systopic.AutoCreate, systopic.Schedule, "%RETRY%VICTIM"} {
		refused("system topic delete "+sys, remoting.CodeDeleteTopicInBroker, map[string]string{"topic": sys})
	}
	refused("name server topic delete", remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "Victim"})
	if resp := invoke(t, stranger, cl.ns.Addr(), remoting.CodeDeleteTopicInNameServer, map[string]string{"topic": "Victim"}, nil); resp.Code != remoting.RespNoPermission {
		t.Fatalf("name server topic delete: %d %q", resp.Code, resp.Remark)
	}
	after, _ := cl.b.topics.Snapshot()
	if len(after) != len(before) {
		t.Fatalf("topics %d before the flood, %d after", len(before), len(after))
	}
	if _, ok := cl.b.topics.Get(systopic.Schedule); !ok {
		t.Fatal("a system topic is gone")
	}
	if off, found, err := cl.b.offsets.Query("VICTIM", "Victim", 0, false); err != nil || !found || off != 10 {
		t.Fatalf("VICTIM's offset is %d (found %v, %v), want 10", off, found, err)
	}
	cl.waitRoute(t, "Victim")
}

// TestACLReload: editing plain_acl.yml while the broker runs takes effect
// within seconds; a broken edit keeps the rules in force.
func TestACLReload(t *testing.T) {
	cl := startACLCluster(t)
	aclCreateTopic(t, cl, "DenyTopic", 1)
	app := signedClient(t, "appAccess", "appSecret12")
	send := func(body string) *remoting.Command {
		return invoke(t, app, cl.b.Addr(), remoting.CodeSendMessage, sendExt("DenyTopic", 0, ""), []byte(body))
	}
	expectCode(t, send("before"), remoting.RespNoPermission, "send to DenyTopic before the edit")
	dir := filepath.Dir(cl.cfg.AclFile)
	writeACL(t, dir, strings.Replace(aclTestYAML, "DenyTopic=DENY", "DenyTopic=PUB", 1))
	eventually(t, 10*time.Second, "the edit in force", func() bool { return send("after").Code == remoting.RespSuccess })
	writeACL(t, dir, "accounts: [ {accessKey: broken")
	eventually(t, 10*time.Second, "the broken file seen", func() bool { return cl.b.ACL().Stats().ReloadFailures == 1 })
	expectCode(t, send("still"), remoting.RespSuccess, "send after a broken edit")
}

// TestACLStartErrorsNameTheFile: aclEnable with a missing or broken file
// is one start-up error naming it.
func TestACLStartErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, yml string }{{"missing", ""}, {"broken", "accounts: ["}} {
		cfg := testConfig(filepath.Join(dir, tc.name))
		cfg.AclEnable = true
		cfg.AclFile = filepath.Join(dir, tc.name+".yml")
		if tc.yml != "" {
			if err := os.WriteFile(cfg.AclFile, []byte(tc.yml), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		b, err := New(cfg, WithLogger(testLogger(t)))
		if err == nil {
			b.Close()
			t.Fatalf("%s: broker started", tc.name)
		}
		if !strings.Contains(err.Error(), cfg.AclFile) || !strings.Contains(err.Error(), "aclEnable") {
			t.Fatalf("%s: error %q does not name the file", tc.name, err)
		}
	}
}

// TestACLOffHasNoChecker: with aclEnable off a broker has no checker, so
// the remoting hook is nil and costs nothing.
func TestACLOffHasNoChecker(t *testing.T) {
	b := openBroker(t, testConfig(t.TempDir()))
	defer b.Close()
	if b.ACL() != nil {
		t.Fatal("a checker without aclEnable")
	}
}

// BenchmarkSendACL: one synchronous 256-byte send at a time over loopback,
// with aclEnable off and on (the client signs, the broker verifies and
// authorizes), in the same run.
func BenchmarkSendACL(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := testConfig(filepath.Join(dir, "store"))
			var sign func(*remoting.Command)
			if on {
				cfg.AclEnable = true
				cfg.AclFile = filepath.Join(dir, "plain_acl.yml")
				if err := os.WriteFile(cfg.AclFile, []byte(aclTestYAML), 0o600); err != nil {
					b.Fatal(err)
				}
				sign = acl.Signer("appAccess", "appSecret12")
			}
			br := openBroker(b, cfg)
			if err := br.Start(); err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			if err := br.topics.Put(body.TopicConfig{TopicName: "AclTopic", ReadQueueNums: 1, WriteQueueNums: 1, Perm: 6}); err != nil {
				b.Fatal(err)
			}
			c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(b), Sign: sign})
			defer c.Close()
			payload := make([]byte, 256)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				ext := sendExt("AclTopic", 0, "")
				resp, err := c.Invoke(context.Background(), br.Addr(), remoting.NewRequest(remoting.CodeSendMessage, ext, payload))
				if err != nil || resp.Code != remoting.RespSuccess {
					b.Fatalf("send: %v %v", resp, err)
				}
			}
		})
	}
}

// nearClient returns a client that sends nearAccess's access key unsigned: from
// 127.0.0.1, nearAccess's white address, that is all it needs.
func nearClient(t *testing.T) *remoting.Client {
	t.Helper()
	c := remoting.NewClient(remoting.ClientOptions{Logger: testLogger(t), Sign: func(c *remoting.Command) { c.SetExt(acl.FieldAccessKey, "nearAccess") }})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// aclSend sends body to queue 0 of topic with c, expects success and
// returns the CommitLog offset of the stored message.
func aclSend(t *testing.T, c *remoting.Client, addr, topic, body string) int64 {
	t.Helper()
	resp := invoke(t, c, addr, remoting.CodeSendMessage, sendExt(topic, 0, ""), []byte(body))
	expectCode(t, resp, remoting.RespSuccess, "send to "+topic)
	return physOf(t, resp)
}

// aclTwoTopics starts an ACL cluster with AclTopic and DenyTopic, one
// queue each.
func aclTwoTopics(t *testing.T) *cluster {
	t.Helper()
	cl := startACLCluster(t)
	aclCreateTopic(t, cl, "AclTopic", 1)
	aclCreateTopic(t, cl, "DenyTopic", 1)
	return cl
}

// aclSecretAndOwn starts an ACL cluster with AclTopic and DenyTopic, the
// admin's message "top-secret" in DenyTopic and appAccess's "app-own" in
// AclTopic, dispatched; it returns the cluster, the admin's and appAccess's
// clients and the two messages' CommitLog offsets.
func aclSecretAndOwn(t *testing.T) (cl *cluster, adm, app *remoting.Client, secret, own int64) {
	t.Helper()
	cl = aclTwoTopics(t)
	addr := cl.b.Addr()
	adm = signedClient(t, "adminAK", "adminSecret1")
	app = signedClient(t, "appAccess", "appSecret12")
	secret = aclSend(t, adm, addr, "DenyTopic", "top-secret")
	own = aclSend(t, app, addr, "AclTopic", "app-own")
	waitDispatched(t, cl.b)
	return cl, adm, app, secret, own
}

// TestACLViewMessageByIDNeedsSubOnTheStoredTopic: VIEW_MESSAGE_BY_ID names
// only a CommitLog offset; the caller needs SUB on the topic of the record
// there. appAccess reads its own topic's message, not DenyTopic's; the admin
// and a white-listed account read both.
func TestACLViewMessageByIDNeedsSubOnTheStoredTopic(t *testing.T) {
	cl, adm, app, secret, own := aclSecretAndOwn(t)
	addr := cl.b.Addr()
	view := func(c *remoting.Client, phys int64) *remoting.Command {
		return invoke(t, c, addr, remoting.CodeViewMessageByID, map[string]string{"offset": strconv.FormatInt(phys, 10)}, nil)
	}

	resp := view(app, secret)
	if resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, "no SUB permission on topic:DenyTopic") {
		t.Errorf("appAccess views DenyTopic's message: code %d %q", resp.Code, resp.Remark)
	}
	if strings.Contains(string(resp.Body), "top-secret") {
		t.Error("the refusal carries the message")
	}
	for _, tc := range []struct {
		who  string
		c    *remoting.Client
		phys int64
		body string
	}{
		{"appAccess, its own topic", app, own, "app-own"},
		{"admin", adm, secret, "top-secret"},
		{"white-listed nearAccess", nearClient(t), secret, "top-secret"},
	} {
		resp := view(tc.c, tc.phys)
		expectCode(t, resp, remoting.RespSuccess, tc.who)
		if recs := decodeAll(t, resp.Body); len(recs) != 1 || string(recs[0].Body) != tc.body {
			t.Errorf("%s: viewed %d records, want %q", tc.who, len(recs), tc.body)
		}
	}
}

// TestACLSendBackNeedsTheMessageAndSubOnItsTopic: CONSUMER_SEND_MSG_BACK
// copies the record at a CommitLog offset into the group's retry topic (or
// DLQ), which the group's members pull. A record of another topic than
// originTopic is refused, and the caller needs SUB on the record's topic:
// appAccess cannot copy DenyTopic's message into its own group's DLQ, whatever
// it names as originTopic. Its own message and the admin's copies go
// through.
func TestACLSendBackNeedsTheMessageAndSubOnItsTopic(t *testing.T) {
	cl, adm, app, secret, own := aclSecretAndOwn(t)
	addr := cl.b.Addr()
	// delayLevel -1: straight to the DLQ, no delay to wait for.
	back := func(c *remoting.Client, group, origin string, phys int64) *remoting.Command {
		return invoke(t, c, addr, remoting.CodeConsumerSendMsgBack, map[string]string{"group": group, "offset": strconv.FormatInt(phys, 10),
			"delayLevel": "-1", "originTopic": origin, "maxReconsumeTimes": "16"}, nil)
	}
	for _, tc := range []struct {
		name   string
		c      *remoting.Client
		group  string
		origin string
		phys   int64
		code   int16
		remark string
	}{
		{"another topic's message", app, "AclGroup", "AclTopic", secret, remoting.RespSystemError, "look message by offset failed"},
		{"as the retry topic's", app, "AclGroup", "%RETRY%AclGroup", secret, remoting.RespSystemError, "look message by offset failed"},
		{"no originTopic", app, "AclGroup", "", secret, remoting.RespSystemError, "look message by offset failed"},
		{"a DENY topic named", app, "AclGroup", "DenyTopic", secret, remoting.RespNoPermission, "no SUB permission on topic:DenyTopic"},
		{"its own message", app, "AclGroup", "AclTopic", own, remoting.RespSuccess, ""},
		{"admin", adm, "AdminGroup", "DenyTopic", secret, remoting.RespSuccess, ""},
	} {
		resp := back(tc.c, tc.group, tc.origin, tc.phys)
		if resp.Code != tc.code || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("%s: code %d %q, want %d with %q", tc.name, resp.Code, resp.Remark, tc.code, tc.remark)
		}
		if strings.Contains(resp.Remark, "DenyTopic") && tc.origin != "DenyTopic" {
			t.Errorf("%s: remark %q names the topic found at the offset", tc.name, resp.Remark)
		}
	}
	if got := topicBodies(t, cl.b, "%DLQ%AclGroup", 1); len(got) != 1 || got["app-own"] != 1 {
		t.Errorf("%%DLQ%%AclGroup holds %v, want app-own only", got)
	}
	if got := topicBodies(t, cl.b, "%DLQ%AdminGroup", 1); got["top-secret"] != 1 {
		t.Errorf("%%DLQ%%AdminGroup holds %v, want the admin's copy", got)
	}
}

// TestACLGoClientGivesBackRetriedMessages: the official Go client's
// send-backs pass the record checks under ACL, for a first failure (the
// record is in the topic) and a second (the record is in the retry topic,
// originTopic the original one): every CONSUMER_SEND_MSG_BACK answered
// SUCCESS, none left to the client's fallback send.
func TestACLGoClientGivesBackRetriedMessages(t *testing.T) {
	cl := startACLClusterWith(t, func(cfg *config.Config) { cfg.MessageDelayLevel = shortLevels })
	aclCreateTopic(t, cl, "AclTopic", 1)
	aclCreateTopic(t, cl, "%RETRY%AclGroup", 1) // its route, before the consumer asks
	var d deliveries
	cl.handlerConsumer(t, "AclGroup", "AclTopic", func(m *primitive.MessageExt) consumer.ConsumeResult {
		d.add(m)
		if m.ReconsumeTimes < 2 {
			return consumer.ConsumeRetryLater
		}
		return consumer.ConsumeSuccess
	}, consumer.WithCredentials(aclApp), consumer.WithInstance("acl-retry-c"))
	p := cl.producer(t, producer.WithCredentials(aclApp), producer.WithInstanceName("acl-retry-p"))
	const n = 5
	for i := range n {
		if _, err := p.SendSync(ctx10s(t), primitive.NewMessage("AclTopic", fmt.Appendf(nil, "r-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "every message delivered a third time", func() bool {
		got := d.byBody()
		for i := range n {
			ds := got[fmt.Sprintf("r-%d", i)]
			if len(ds) == 0 || ds[len(ds)-1].reconsume != 2 {
				return false
			}
		}
		return true
	})
	answers := map[int16]int64{}
	cl.b.traffic.rpc.t.Range(func(k rpcKey, h *rpcHist) {
		if k.req == remoting.CodeConsumerSendMsgBack {
			for i := range h.counts {
				answers[k.resp] += h.counts[i].Load()
			}
		}
	})
	if len(answers) != 1 || answers[remoting.RespSuccess] < 2*n {
		t.Fatalf("CONSUMER_SEND_MSG_BACK answered %v (code: count), want %d or more SUCCESS only", answers, 2*n)
	}
}

// sendExtV2 is sendExt with the v2 header's one-letter keys.
func sendExtV2(topic string, queueID int, props string) map[string]string {
	v1 := sendExt(topic, queueID, props)
	out := map[string]string{"bname": v1["bname"]}
	for i, k := range sendKeysV1 {
		out[sendKeysV2[i]] = v1[k]
	}
	return out
}

// TestACLReplyNeedsPubOnItsTopic: SEND_REPLY_MESSAGE (324, v1 header) and
// _V2 (325) store the reply in the topic they name, so they need PUB on it
// as a send does: appAccess's replies to DenyTopic are refused and not stored,
// those to AclTopic are stored.
func TestACLReplyNeedsPubOnItsTopic(t *testing.T) {
	cl := aclTwoTopics(t)
	addr := cl.b.Addr()
	app := signedClient(t, "appAccess", "appSecret12")
	for _, v := range []struct {
		code int16
		ext  func(topic string, queueID int, props string) map[string]string
	}{{remoting.CodeSendReplyMessage, sendExt}, {remoting.CodeSendReplyMessageV2, sendExtV2}} {
		resp := invoke(t, app, addr, v.code, v.ext("DenyTopic", 0, ""), []byte(fmt.Sprintf("injected-%d", v.code)))
		if resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, "no PUB permission on topic:DenyTopic") {
			t.Errorf("code %d to DenyTopic: answered %d %q, want 16", v.code, resp.Code, resp.Remark)
		}
		// No requester to push to: SYSTEM_ERROR saying so, the reply stored.
		resp = invoke(t, app, addr, v.code, v.ext("AclTopic", 0, ""), []byte(fmt.Sprintf("reply-%d", v.code)))
		if resp.Code == remoting.RespNoPermission {
			t.Errorf("code %d to AclTopic: refused %q", v.code, resp.Remark)
		}
	}
	if got := topicBodies(t, cl.b, "DenyTopic", 1); len(got) != 0 {
		t.Errorf("DenyTopic holds %v", got)
	}
	if got := topicBodies(t, cl.b, "AclTopic", 1); got["reply-324"] != 1 || got["reply-325"] != 1 {
		t.Errorf("AclTopic holds %v, want both replies", got)
	}
}

// TestACLSendToAnotherGroupsRetryTopicOrDLQ: a send to %RETRY%G or %DLQ%G
// needs SUB on group G, the group the topic belongs to, whatever group the
// header names (the v1 header names none). appAccess may not write into
// VictimGroup's retry topic, naming its own group or none; farAccess, which
// may send to any topic but has no group right, may not write into its
// DLQ. appAccess's resend to its own group's retry topic (the Go client's
// fallback) still goes through.
func TestACLSendToAnotherGroupsRetryTopicOrDLQ(t *testing.T) {
	cl := startACLCluster(t)
	addr := cl.b.Addr()
	app := signedClient(t, "appAccess", "appSecret12")
	far := signedClient(t, "farAccess", "farSecret12")
	v1 := func(topic string) map[string]string {
		ext := sendExt(topic, 0, "")
		delete(ext, "maxReconsumeTimes") // the group's limit: not straight to the DLQ
		return ext
	}
	v2 := func(topic, group string) map[string]string {
		ext := sendExtV2(topic, 0, "")
		ext["a"] = group
		delete(ext, "l")
		return ext
	}
	for _, tc := range []struct {
		name   string
		c      *remoting.Client
		code   int16
		ext    map[string]string
		remark string // "" allowed
	}{
		{"v1 to the victim's retry topic", app, remoting.CodeSendMessage, v1("%RETRY%VictimGroup"), "no SUB permission on group:VictimGroup"},
		{"v2 to the victim's retry topic, naming its own group", app, remoting.CodeSendMessageV2, v2("%RETRY%VictimGroup", "AclGroup"),
			"no SUB permission on group:VictimGroup"},
		{"v1 to the victim's DLQ, with PUB on every topic", far, remoting.CodeSendMessage, v1("%DLQ%VictimGroup"), "no SUB permission on group:VictimGroup"},
		{"v1 to its own group's retry topic", app, remoting.CodeSendMessage, v1("%RETRY%AclGroup"), ""},
	} {
		resp := invoke(t, tc.c, addr, tc.code, tc.ext, []byte("sent-"+tc.name))
		if tc.remark == "" {
			expectCode(t, resp, remoting.RespSuccess, tc.name)
		} else if resp.Code != remoting.RespNoPermission || !strings.Contains(resp.Remark, tc.remark) {
			t.Errorf("%s: code %d %q, want 16 with %q", tc.name, resp.Code, resp.Remark, tc.remark)
		}
	}
	for _, topic := range []string{"%RETRY%VictimGroup", "%DLQ%VictimGroup"} {
		if got := topicBodies(t, cl.b, topic, 1); len(got) != 0 {
			t.Errorf("%s holds %v", topic, got)
		}
	}
	if got := topicBodies(t, cl.b, "%RETRY%AclGroup", 1); got["sent-v1 to its own group's retry topic"] != 1 {
		t.Errorf("%%RETRY%%AclGroup holds %v", got)
	}
}
