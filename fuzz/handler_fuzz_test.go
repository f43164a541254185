package fuzz

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker"
	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
	rt "github.com/wharfmq/wharf/remoting/remotingtest"
	"github.com/wharfmq/wharf/systopic"
)

// Request fuzzing: arbitrary (code, ext fields, body) sent over a real
// loopback connection to every processor of one in-process broker (and
// name server) per fuzz process. The promise under test: bad input gets an
// answer (an error with a remark, never a recovered panic) within
// reqTimeout, and the server keeps serving this connection and others.
//
// An input is (code int16, ext string, body []byte), readable in the seed
// corpus:
//
//   - code: used as is when the server registers it (or it is in the
//     table's few unknown codes); any other value picks a table entry, so
//     mutations keep landing on real processors.
//   - ext: lines "key=value". A key "@N" is the N-th (mod) known ext name;
//     a value "@name" or "@N" is a named edge value (valueTokens, then the
//     per-run ones: offsets of the seeded records and so on); "@p:k=v;k=v"
//     is a properties string (\x01, \x02 separators).
//   - body: as is, except "@batch\n" followed by lines "k=v;k=v|body"
//     (a SEND_BATCH_MESSAGE body of those entries) and "@big" (a body one
//     byte over the broker's maxMessageSize).
//
// The broker's state carries over from input to input (topics, groups,
// offsets, clients), which is what a long-lived broker sees; a failure is
// reported with the input that showed it, and the regression seeds are
// checked against a fresh broker by plain `go test ./fuzz/`.

const (
	reqTimeout   = 5 * time.Second
	seedTopic    = "FUZZ_SEED"
	healthTopic  = "FUZZ_HEALTH"
	adminTopic   = "FUZZ_ADMIN" // what admin requests on the two above are redirected to
	fuzzGroup    = "FG"
	fuzzClientID = "127.0.0.1@fuzz"
	seedQueues   = 4
	maxBodySize  = 64 << 10 // the broker's maxMessageSize: keeps "@big" cheap
	maxHold      = 20       // ms a pull with the SUSPEND bit may be held
	healthEvery  = 16       // inputs between sends on the health connection
	maxExtPairs  = 64
	maxRawBody   = 16 << 10 // longer fuzzed bodies are cut
)

// brokerCodes are the request codes the broker registers (broker.go
// registerProcessors), then codes it does not serve: broker-to-client ones,
// name server ones and plain unknown ones.
var brokerCodes = []int16{
	remoting.CodeSendMessage, remoting.CodeSendMessageV2, remoting.CodeSendBatchMessage,
	remoting.CodePullMessage, remoting.CodeQueryConsumerOffset, remoting.CodeUpdateConsumerOffset,
	remoting.CodeGetMaxOffset, remoting.CodeGetMinOffset, remoting.CodeSearchOffsetByTimestamp,
	remoting.CodeGetEarliestMsgStoreTime, remoting.CodeHeartBeat, remoting.CodeUnregisterClient,
	remoting.CodeGetConsumerListByGroup, remoting.CodeLockBatchMQ, remoting.CodeUnlockBatchMQ,
	remoting.CodeUpdateAndCreateTopic, remoting.CodeDeleteTopicInBroker, remoting.CodeGetAllTopicConfig,
	remoting.CodeGetAllSubscriptionGroupConfig, remoting.CodeQueryMessage, remoting.CodeViewMessageByID,
	remoting.CodeConsumerSendMsgBack, remoting.CodeEndTransaction, remoting.CodeGetTopicStatsInfo,
	remoting.CodeGetConsumeStats, remoting.CodeGetBrokerRuntimeInfo, remoting.CodeSendReplyMessage,
	remoting.CodeSendReplyMessageV2,
	// Not served by the broker.
	remoting.CodeCheckTransactionState, remoting.CodeNotifyConsumerIDsChanged, remoting.CodePushReplyMessageToClient,
	remoting.CodeRegisterBroker, remoting.CodeGetRouteInfoByTopic, 0, -1, 999, math.MaxInt16,
}

// nameServerCodes are the name server's codes (nameserver/handlers.go),
// then some it does not serve.
var nameServerCodes = []int16{
	remoting.CodeRegisterBroker, remoting.CodeUnregisterBroker, remoting.CodeGetRouteInfoByTopic,
	remoting.CodeGetBrokerClusterInfo, remoting.CodeGetAllTopicListFromNameServer,
	remoting.CodeDeleteTopicInNameServer, remoting.CodeQueryDataVersion,
	remoting.CodeSendMessage, remoting.CodeHeartBeat, 0, -1, math.MaxInt16,
}

// pickCode maps a fuzzed code onto table.
func pickCode(table []int16, code int16) int16 {
	if slices.Contains(table, code) {
		return code
	}
	return table[int(uint16(code))%len(table)]
}

// extKeys are the ext field names the processors read ("@N" keys).
var extKeys = []string{
	// SEND_MESSAGE, SEND_REPLY_MESSAGE and their V2 one-letter names.
	"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag", "bornTimestamp",
	"flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch", "bname",
	"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
	// PULL_MESSAGE and offsets.
	"consumerGroup", "queueOffset", "maxMsgNums", "commitOffset", "suspendTimeoutMillis", "subscription",
	"subVersion", "expressionType", "timestamp",
	// QUERY_MESSAGE, VIEW_MESSAGE_BY_ID, CONSUMER_SEND_MSG_BACK.
	"key", "maxNum", "beginTimestamp", "endTimestamp", "_UNIQUE_KEY_QUERY", "offset", "group", "delayLevel",
	"originMsgId", "originTopic",
	// END_TRANSACTION.
	"tranStateTableOffset", "commitLogOffset", "commitOrRollback", "fromTransactionCheck", "msgId", "transactionId",
	// Clients and admin.
	"clientID", "readQueueNums", "writeQueueNums", "perm", "topicSysFlag", "topicFilterType", "order",
	// Name server.
	"brokerName", "clusterName", "brokerAddr", "brokerId", "haServerAddr", "compressed", "bodyCrc32",
}

// valueTokens are named edge values ("@name", or "@N" by position).
var valueTokens = []struct{ name, value string }{
	{"empty", ""}, {"space", " "}, {"neg1", "-1"}, {"zero", "0"}, {"one", "1"},
	{"i32max", "2147483647"}, {"i32over", "2147483648"}, {"i32min", "-2147483648"}, {"i32under", "-2147483649"},
	{"i64max", "9223372036854775807"}, {"i64min", "-9223372036854775808"}, {"huge", "99999999999999999999"},
	{"float", "1.5"}, {"hex", "0x10"}, {"plus", "+1"}, {"long", strings.Repeat("x", 40000)}, {"ctl", "\x00\x01\x02"},
	{"true", "true"}, {"false", "false"}, {"seed", seedTopic}, {"tbw", "TBW102"}, {"sched", "SCHEDULE_TOPIC_XXXX"},
	{"halftopic", systopic.TransHalf}, {"optopic", "RMQ_SYS_TRANS_OP_HALF_TOPIC"}, {"retry", "%RETRY%" + fuzzGroup},
	{"dlq", "%DLQ%" + fuzzGroup}, {"group", fuzzGroup}, {"client", fuzzClientID}, {"sql", "SQL92"}, {"tag", "TAG"},
	{"star", "*"}, {"commit", "8"}, {"rollback", "12"}, {"unicode", "tópico"}, {"addr", "127.0.0.1:10911"},
}

// runValues are the per-run edge values, appended after valueTokens.
var runValueNames = []string{"phys0", "phys1", "phys2", "phys3", "physmid", "halfphys", "halfq", "maxphys", "now"}

// reqEnv is one fuzz process's server and its clients.
type reqEnv struct {
	addr   string
	codes  []int16
	cli    *remoting.Client // the fuzz connection
	health *remoting.Client // another connection that must keep working
	panics *rt.PanicLog
	values map[string]string // "@name" -> value
	order  []string          // "@N" -> name
	n      atomic.Int64      // inputs run
	// protect lists topics admin requests must not touch.
	protect map[string]bool
	// healthy checks the server between inputs; full adds a check on the
	// other connection.
	healthy func(t *testing.T, full bool)
}

func fuzzLogHandler() slog.Handler {
	if os.Getenv("WHARF_TEST_LOG") != "" {
		return slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return slog.NewTextHandler(io.Discard, nil)
}

func newFuzzClient() *remoting.Client {
	return remoting.NewClient(remoting.ClientOptions{Logger: slog.New(fuzzLogHandler()), Language: "GO", Version: 317})
}

// invoke sends req on c and waits at most reqTimeout. A connection found
// closed is redialled once: the broker closes the connections of clients
// silent for 2 minutes (a fuzz input's heartbeat registers one), which is
// not the request's doing; a request that makes the server close the
// connection does so again and fails.
func invoke(c *remoting.Client, addr string, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(context.Background(), reqTimeout)
	defer cancel()
	resp, err := c.Invoke(ctx, addr, req)
	if errors.Is(err, remoting.ErrConnClosed) {
		resp, err = c.Invoke(ctx, addr, req)
	}
	return resp, err
}

// goodSend is a valid SEND_MESSAGE as the Go producer sends it.
func goodSend(topic string, queueID int, props, body string) *remoting.Command {
	return remoting.NewRequest(remoting.CodeSendMessage, map[string]string{
		"producerGroup": "PG", "topic": topic, "defaultTopic": "TBW102", "defaultTopicQueueNums": "4",
		"queueId": strconv.Itoa(queueID), "sysFlag": "0", "bornTimestamp": "1700000000000", "flag": "0",
		"properties": props, "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0", "batch": "false",
	}, []byte(body))
}

func mustOK(tb testing.TB, c *remoting.Client, addr string, req *remoting.Command, what string) *remoting.Command {
	tb.Helper()
	resp, err := invoke(c, addr, req)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	if resp.Code != remoting.RespSuccess {
		tb.Fatalf("%s: code %d %q", what, resp.Code, resp.Remark)
	}
	return resp
}

// startFuzzBroker starts the broker of this fuzz process, creates and
// fills the seed topic (a message with a key per queue, a transaction
// half) and the health topic.
func startFuzzBroker(f *testing.F) *reqEnv {
	pr := rt.NewPanicLog(fuzzLogHandler())
	// Registered before the broker's Close, so it runs after it and sees
	// any panic logged while closing.
	f.Cleanup(func() {
		if n := pr.N.Load(); n != 0 {
			f.Errorf("%d panics logged:\n%s", n, pr.Report())
		}
	})
	// The fuzz log goes to the panic counter, not t.Log: the fuzzer runs
	// millions of inputs.
	b := brokertest.Start(f, func(cfg *config.Config) {
		cfg.MaxMessageSize = maxBodySize
		// The background work fuzzed messages lead to (delayed delivery,
		// transaction check-backs, their copies and discards) runs while
		// the fuzzer does, not minutes later.
		cfg.MessageDelayLevel = "10ms 20ms 50ms 100ms 200ms 500ms 1s"
		cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax = 50*time.Millisecond, 200*time.Millisecond, 3
	}, broker.WithLogger(slog.New(pr)))
	env := &reqEnv{addr: b.Addr(), codes: brokerCodes, cli: newFuzzClient(), health: newFuzzClient(), panics: pr,
		protect: map[string]bool{seedTopic: true, healthTopic: true}}
	f.Cleanup(func() {
		env.cli.Close()
		env.health.Close()
	})

	for _, topic := range []string{seedTopic, healthTopic} {
		mustOK(f, env.cli, env.addr, remoting.NewRequest(remoting.CodeUpdateAndCreateTopic, map[string]string{
			"topic": topic, "readQueueNums": strconv.Itoa(seedQueues), "writeQueueNums": strconv.Itoa(seedQueues), "perm": "6",
		}, nil), "create "+topic)
	}
	var phys []int64
	for q := range seedQueues {
		resp := mustOK(f, env.cli, env.addr, goodSend(seedTopic, q,
			msg.AppendProperty(msg.AppendProperty("", msg.PropKeys, "k"), msg.PropTags, "a"), "seed"), "seed send")
		_, off, err := msg.ParseOffsetMsgID(resp.ExtFields["msgId"])
		if err != nil {
			f.Fatalf("seed send msgId %q: %v", resp.ExtFields["msgId"], err)
		}
		phys = append(phys, off)
	}
	halfProps := msg.AppendProperty(msg.AppendProperty("", msg.PropTranMsg, "true"), transaction.PropProducerGroup, "PG")
	resp := mustOK(f, env.cli, env.addr, goodSend(seedTopic, 0, halfProps, "half"), "half send")
	_, halfPhys, err := msg.ParseOffsetMsgID(resp.ExtFields["msgId"])
	if err != nil {
		f.Fatalf("half send msgId %q: %v", resp.ExtFields["msgId"], err)
	}
	if err := b.Store().WaitDispatched(5 * time.Second); err != nil {
		f.Fatal(err)
	}
	run := map[string]string{
		"phys0": fmt.Sprint(phys[0]), "phys1": fmt.Sprint(phys[1]), "phys2": fmt.Sprint(phys[2]), "phys3": fmt.Sprint(phys[3]),
		"physmid": fmt.Sprint(phys[1] + 7), "halfphys": fmt.Sprint(halfPhys), "halfq": resp.ExtFields["queueOffset"],
		"maxphys": fmt.Sprint(b.Store().CommitLog().End()), "now": fmt.Sprint(time.Now().UnixMilli()),
	}
	env.setValues(run)

	healthProbe := remoting.NewRequest(remoting.CodeGetMaxOffset, map[string]string{"topic": healthTopic, "queueId": "0"}, nil)
	env.healthy = func(t *testing.T, full bool) {
		t.Helper()
		probe := *healthProbe
		mustOK(t, env.cli, env.addr, &probe, "health probe on the fuzz connection")
		if full {
			mustOK(t, env.health, env.addr, goodSend(healthTopic, int(env.n.Load()%seedQueues), "", "healthy"),
				"send on another connection")
		}
	}
	return env
}

// startFuzzNameServer starts the name server of this fuzz process with one
// registered broker.
func startFuzzNameServer(f *testing.F) *reqEnv {
	pr := rt.NewPanicLog(fuzzLogHandler())
	f.Cleanup(func() { // after the name server's Close, as in startFuzzBroker
		if n := pr.N.Load(); n != 0 {
			f.Errorf("%d panics logged:\n%s", n, pr.Report())
		}
	})
	srv := brokertest.StartNameServer(f, func(o *nameserver.Options) { o.Logger = slog.New(pr) })
	env := &reqEnv{addr: srv.Addr(), codes: nameServerCodes, cli: newFuzzClient(), health: newFuzzClient(), panics: pr,
		protect: map[string]bool{}}
	f.Cleanup(func() {
		env.cli.Close()
		env.health.Close()
	})
	env.setValues(map[string]string{})
	body, err := nameserver.EncodeRegisterBody(map[string]nameserver.TopicConfig{
		seedTopic: {TopicName: seedTopic, ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6},
	}, nameserver.DataVersion{Timestamp: 1, Counter: 1})
	if err != nil {
		f.Fatal(err)
	}
	// The health broker registers on the health connection, which the fuzz
	// inputs never use, and again before each route check: inputs may
	// legitimately unregister it, delete its topic or register it anew.
	register := func(tb testing.TB) {
		tb.Helper()
		mustOK(tb, env.health, env.addr, remoting.NewRequest(remoting.CodeRegisterBroker, map[string]string{
			"brokerName": "health-broker", "clusterName": "HC", "brokerAddr": "127.0.0.1:1", "brokerId": "0",
		}, body), "register the health broker on another connection")
	}
	register(f)
	env.healthy = func(t *testing.T, full bool) {
		t.Helper()
		mustOK(t, env.cli, env.addr, remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil), "cluster info on the fuzz connection")
		if full {
			register(t)
			mustOK(t, env.health, env.addr, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic,
				map[string]string{"topic": seedTopic}, nil), "route on another connection")
		}
	}
	return env
}

func (env *reqEnv) setValues(run map[string]string) {
	env.values = map[string]string{}
	for _, v := range valueTokens {
		env.values[v.name] = v.value
		env.order = append(env.order, v.name)
	}
	for _, name := range runValueNames {
		if v, ok := run[name]; ok {
			env.values[name] = v
			env.order = append(env.order, name)
		}
	}
}

// value resolves a value token; anything else is itself.
func (env *reqEnv) value(v string) string {
	tok, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v
	}
	if p, ok := strings.CutPrefix(tok, "p:"); ok {
		return propsOf(p)
	}
	if n, err := strconv.Atoi(tok); err == nil && n >= 0 {
		return env.values[env.order[n%len(env.order)]]
	}
	if s, ok := env.values[tok]; ok {
		return s
	}
	return v
}

// propsOf turns "k=v;k=v" into a properties string.
func propsOf(s string) string {
	return strings.NewReplacer("=", string(msg.NameValueSep), ";", string(msg.PropertySep)).Replace(s)
}

// build turns a fuzz input into a request, bounded in the time it may
// legitimately take (see the rewrites below).
func (env *reqEnv) build(code int16, ext string, body []byte) *remoting.Command {
	code = pickCode(env.codes, code)
	fields := map[string]string{}
	for i, line := range strings.Split(ext, "\n") {
		if i >= maxExtPairs {
			break
		}
		if line == "" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		if n, err := strconv.Atoi(strings.TrimPrefix(k, "@")); err == nil && strings.HasPrefix(k, "@") && n >= 0 {
			k = extKeys[n%len(extKeys)]
		}
		fields[k] = env.value(v)
	}
	switch code {
	case remoting.CodePullMessage:
		// A pull with the SUSPEND bit is held for up to suspendTimeoutMillis
		// (at most 25 s): a legitimate wait, so cap it.
		if ms, err := strconv.ParseInt(fields["suspendTimeoutMillis"], 10, 64); err == nil && ms > maxHold {
			fields["suspendTimeoutMillis"] = strconv.Itoa(maxHold)
		}
	case remoting.CodeUpdateAndCreateTopic, remoting.CodeDeleteTopicInBroker:
		// The seed and health topics stay as they are.
		if env.protect[fields["topic"]] {
			fields["topic"] = adminTopic
		}
	}
	return remoting.NewRequest(code, fields, bodyOf(body))
}

// bodyOf expands the body forms "@batch\n..." and "@big".
func bodyOf(body []byte) []byte {
	s := string(body)
	if len(body) > maxRawBody {
		// Every send is stored: big ones only fill the disk.
		return body[:maxRawBody]
	}
	if s == "@big" {
		return make([]byte, maxBodySize+1)
	}
	rest, ok := strings.CutPrefix(s, "@batch\n")
	if !ok {
		return body
	}
	var out []byte
	for i, line := range strings.Split(rest, "\n") {
		if i >= 1000 {
			break
		}
		props, b, _ := strings.Cut(line, "|")
		out = msg.AppendBatchEntry(out, 0, []byte(b), propsOf(props))
	}
	return out
}

// run sends one input and checks the promise.
func (env *reqEnv) run(t *testing.T, code int16, ext string, body []byte) {
	req := env.build(code, ext, body)
	desc := fmt.Sprintf("code %d ext %q body %d bytes", req.Code, req.ExtFields, len(req.Body))
	if len(desc) > 2000 {
		desc = desc[:2000] + "..."
	}
	before := env.panics.N.Load()
	start := time.Now()
	resp, err := invoke(env.cli, env.addr, req)
	if err != nil {
		if errors.Is(err, remoting.ErrFrameTooLarge) || strings.Contains(err.Error(), "remoting: encode") {
			t.Skipf("request cannot be encoded: %v", err) // our side refuses it; nothing reached the server
		}
		t.Fatalf("%s: no answer after %v: %v", desc, time.Since(start).Round(time.Millisecond), err)
	}
	switch {
	case strings.Contains(resp.Remark, "internal error serving"):
		t.Fatalf("%s: handler panicked: %s\n%s", desc, resp.Remark, env.panics.Report())
	case resp.Code != remoting.RespSuccess && strings.TrimSpace(resp.Remark) == "":
		t.Fatalf("%s: error code %d without a remark", desc, resp.Code)
	}
	t.Logf("code %d -> %d %q (%v)", req.Code, resp.Code, resp.Remark, time.Since(start).Round(time.Microsecond))
	n := env.n.Add(1)
	env.healthy(t, n%healthEvery == 0)
	if env.panics.N.Load() != before {
		t.Fatalf("%s: answered code %d %q, but a panic was logged:\n%s", desc, resp.Code, resp.Remark, env.panics.Report())
	}
}

// FuzzBrokerRequest sends arbitrary requests to every broker processor.
func FuzzBrokerRequest(f *testing.F) {
	env := startFuzzBroker(f)
	// The seeds are testdata/fuzz/FuzzBrokerRequest (see TestWriteRequestSeeds).
	f.Fuzz(env.run)
}

// FuzzNameServerRequest sends arbitrary requests to every name server
// processor.
func FuzzNameServerRequest(f *testing.F) {
	env := startFuzzNameServer(f)
	// The seeds are testdata/fuzz/FuzzNameServerRequest.
	f.Fuzz(env.run)
}

// reqSeed is one seed input; name names its corpus file.
type reqSeed struct {
	name string
	code int16
	ext  string
	body string
}

func lines(kv ...string) string {
	var sb strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		sb.WriteString(kv[i])
		sb.WriteByte('=')
		sb.WriteString(kv[i+1])
		sb.WriteByte('\n')
	}
	return sb.String()
}

// brokerSeeds is one valid-ish request per code, the same with broken
// values, and the bodies the JSON and batch processors read.
func brokerSeeds() []reqSeed {
	sendV1 := []string{"producerGroup", "PG", "topic", "@seed", "defaultTopic", "@tbw", "defaultTopicQueueNums", "4",
		"queueId", "0", "sysFlag", "0", "bornTimestamp", "@now", "flag", "0", "properties", "@p:KEYS=k;TAGS=a",
		"reconsumeTimes", "0", "unitMode", "false", "maxReconsumeTimes", "16", "batch", "false", "bname", "broker-a"}
	sendV2 := make([]string, 0, len(sendV1))
	v2 := map[string]string{"producerGroup": "a", "topic": "b", "defaultTopic": "c", "defaultTopicQueueNums": "d",
		"queueId": "e", "sysFlag": "f", "bornTimestamp": "g", "flag": "h", "properties": "i", "reconsumeTimes": "j",
		"unitMode": "k", "maxReconsumeTimes": "l", "batch": "m", "bname": "n"}
	for i := 0; i+1 < len(sendV1); i += 2 {
		sendV2 = append(sendV2, v2[sendV1[i]], sendV1[i+1])
	}
	with := func(base []string, kv ...string) []string {
		out := slices.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			if j := slices.Index(out, kv[i]); j >= 0 && j%2 == 0 {
				out[j+1] = kv[i+1]
			} else {
				out = append(out, kv[i], kv[i+1])
			}
		}
		return out
	}
	pull := []string{"consumerGroup", "@group", "topic", "@seed", "queueId", "0", "queueOffset", "0", "maxMsgNums", "32",
		"sysFlag", "2", "commitOffset", "0", "suspendTimeoutMillis", "15000", "subscription", "*", "subVersion", "0",
		"expressionType", "TAG"}
	qh := []string{"topic", "@seed", "queueId", "0"}
	heartbeat := `{"clientID":"` + fuzzClientID + `","producerDataSet":[{"groupName":"PG"}],"consumerDataSet":[{"groupName":"` +
		fuzzGroup + `","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET",` +
		`"subscriptionDataSet":[{"topic":"` + seedTopic + `","subString":"a || b","tagsSet":["a","b"],"codeSet":[97,98],` +
		`"subVersion":1,"expressionType":"TAG"}],"unitMode":false}]}`
	lock := `{"consumerGroup":"` + fuzzGroup + `","clientId":"` + fuzzClientID + `","mqSet":[{"topic":"` + seedTopic +
		`","brokerName":"broker-a","queueId":0},{"topic":"` + seedTopic + `","brokerName":"broker-a","queueId":1}]}`
	end := []string{"producerGroup", "PG", "tranStateTableOffset", "@halfq", "commitLogOffset", "@halfphys",
		"commitOrRollback", "@commit", "fromTransactionCheck", "false", "msgId", "x", "transactionId", "x"}
	reply := with(sendV1, "topic", "DefaultCluster_REPLY_TOPIC", "properties",
		"@p:CORRELATION_ID=c1;REPLY_TO_CLIENT="+fuzzClientID+";MSG_TYPE=reply")
	replyV2 := with(sendV2, "b", "DefaultCluster_REPLY_TOPIC", "i",
		"@p:CORRELATION_ID=c1;REPLY_TO_CLIENT="+fuzzClientID+";MSG_TYPE=reply")

	return []reqSeed{
		{"send", 10, lines(sendV1...), "hello"},
		{"send_delay", 10, lines(with(sendV1, "properties", "@p:DELAY=3")...), "delayed"},
		{"send_retry_topic", 10, lines(with(sendV1, "topic", "@retry", "reconsumeTimes", "20")...), "retry"},
		{"send_autocreate", 10, lines(with(sendV1, "topic", "FUZZ_NEW", "queueId", "-1")...), "new"},
		{"send_transaction", 10, lines(with(sendV1, "properties", "@p:TRAN_MSG=true;PGROUP=PG")...), "half"},
		{"send_transaction_odd_props", 10, lines(with(sendV1, "properties", "@p:TRAN_MSG=true;PGROUP=PG;"+
			"TRAN_PREPARED_QUEUE_OFFSET=0;CHECK_IMMUNITY_TIME_IN_SECONDS=-1;TRANSACTION_CHECK_TIMES=x;REAL_TOPIC=TBW102;DELAY=2")...), "odd half"},
		{"send_delay_odd", 10, lines(with(sendV1, "properties", "@p:DELAY=99;REAL_TOPIC=@seed;REAL_QID=-1;WAIT=false")...), "odd delay"},
		{"send_bad_numbers", 10, lines(with(sendV1, "queueId", "@i32over", "sysFlag", "@huge")...), "x"},
		{"sendv2", 310, lines(sendV2...), "hello"},
		{"sendv2_request", 310, lines(with(sendV2, "i", "@p:CORRELATION_ID=c1;REPLY_TO_CLIENT="+fuzzClientID)...), "request"},
		{"batch", 320, lines(with(sendV2, "m", "true")...), "@batch\nKEYS=k1|one\nTAGS=b|two\n|three"},
		{"batch_raw", 320, lines(with(sendV2, "m", "true")...),
			string(msg.AppendBatchEntry(msg.AppendBatchEntry(nil, 0, []byte("one"), propsOf("KEYS=k")), 1, []byte("two"), ""))},
		{"batch_big", 320, lines(sendV2...), "@big"},
		{"pull", 11, lines(pull...), ""},
		{"pull_commit_sub", 11, lines(with(pull, "sysFlag", "7", "commitOffset", "1", "subscription", "a || b")...), ""},
		{"pull_at_end", 11, lines(with(pull, "queueOffset", "1", "sysFlag", "2")...), ""},
		{"pull_sql", 11, lines(with(pull, "sysFlag", "4", "expressionType", "@sql", "subscription", "a > 1")...), ""},
		{"query_message", 12, lines("topic", "@seed", "key", "k", "maxNum", "32", "beginTimestamp", "0", "endTimestamp", "@i64max"), ""},
		{"query_message_unique", 12, lines("topic", "@seed", "key", "k", "maxNum", "@neg1", "beginTimestamp", "@i64min",
			"endTimestamp", "@neg1", "_UNIQUE_KEY_QUERY", "true"), ""},
		{"query_offset", 14, lines(with(qh, "consumerGroup", "@group")...), ""},
		{"update_offset", 15, lines(with(qh, "consumerGroup", "@group", "commitOffset", "1")...), ""},
		{"create_topic", 17, lines("topic", "FUZZ_T", "readQueueNums", "8", "writeQueueNums", "8", "perm", "6",
			"topicFilterType", "SINGLE_TAG", "topicSysFlag", "0", "order", "false"), ""},
		{"all_topics", 21, "", ""},
		{"runtime_info", 28, "", ""},
		{"search_offset", 29, lines(with(qh, "timestamp", "@now")...), ""},
		{"max_offset", 30, lines(qh...), ""},
		{"min_offset", 31, lines(qh...), ""},
		{"earliest_time", 32, lines(qh...), ""},
		{"view_message", 33, lines("offset", "@phys1"), ""},
		{"view_message_mid", 33, lines("offset", "@physmid"), ""},
		{"heartbeat", 34, "", heartbeat},
		{"unregister", 35, lines("clientID", "@client", "producerGroup", "PG", "consumerGroup", "@group"), ""},
		{"send_back", 36, lines("group", "@group", "offset", "@phys2", "delayLevel", "0", "originMsgId", "x",
			"originTopic", "@seed", "maxReconsumeTimes", "16"), ""},
		{"send_back_dlq", 36, lines("group", "@group", "offset", "@phys3", "delayLevel", "@neg1"), ""},
		{"end_transaction", 37, lines(end...), ""},
		{"end_transaction_rollback", 37, lines(with(end, "commitOrRollback", "@rollback")...), ""},
		{"consumer_list", 38, lines("consumerGroup", "@group"), ""},
		{"lock", 41, "", lock},
		{"unlock", 42, "", lock},
		{"all_groups", 201, "", ""},
		{"topic_stats", 202, lines("topic", "@seed"), ""},
		{"consume_stats", 208, lines("consumerGroup", "@group", "topic", "@seed"), ""},
		{"consume_stats_all", 208, lines("consumerGroup", "@group"), ""},
		{"delete_topic", 215, lines("topic", "FUZZ_T"), ""},
		{"send_reply", 324, lines(reply...), "reply"},
		{"send_reply_v2", 325, lines(replyV2...), "reply"},
		{"unknown_code", 999, lines("topic", "@seed"), "?"},
		{"key_tokens", 30, lines("@1", "@seed", "@4", "@zero"), ""},
	}
}

// nameServerSeeds is one valid-ish request per name server code.
func nameServerSeeds() []reqSeed {
	reg := lines("brokerName", "broker-f", "clusterName", "FC", "brokerAddr", "127.0.0.1:10911", "brokerId", "0",
		"haServerAddr", "127.0.0.1:10912", "compressed", "false", "bodyCrc32", "0")
	regBody := `{"topicConfigSerializeWrapper":{"topicConfigTable":{"FT":{"topicName":"FT","readQueueNums":4,` +
		`"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}},` +
		`"dataVersion":{"timestamp":1,"counter":1}},"filterServerList":[]}`
	return []reqSeed{
		{"register", 103, reg, regBody},
		{"register_compressed", 103, strings.Replace(reg, "compressed=false", "compressed=true", 1), compressedRegisterBody()},
		{"register_compressed_garbage", 103, strings.Replace(reg, "compressed=false", "compressed=true", 1), "\x00\x00\x00\x10garbage"},
		{"unregister", 104, lines("brokerName", "broker-f", "clusterName", "FC", "brokerAddr", "127.0.0.1:10911", "brokerId", "0"), ""},
		{"route", 105, lines("topic", "FT"), ""},
		{"cluster_info", 106, "", ""},
		{"topic_list", 206, "", ""},
		{"delete_topic", 216, lines("topic", "FT"), ""},
		{"data_version", 322, lines("brokerAddr", "127.0.0.1:10911", "brokerName", "broker-f", "clusterName", "FC", "brokerId", "0"),
			`{"timestamp":1,"counter":2}`},
		{"unknown_code", 10, lines("topic", "FT"), "?"},
	}
}

// compressedRegisterBody is a REGISTER_BROKER body as a Java broker
// compresses it (nameserver/body.go decodeCompressedBody).
func compressedRegisterBody() string {
	var raw []byte
	str := func(s string) { raw = append(binary.BigEndian.AppendUint32(raw, uint32(len(s))), s...) }
	str(`{"timestamp":1,"counter":3}`)
	raw = binary.BigEndian.AppendUint32(raw, 2)
	str("FT 4 4 6 SINGLE_TAG")
	str(`{"topicName":"FT2","readQueueNums":2,"writeQueueNums":2,"perm":6}`)
	str("[]")
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(raw)
	zw.Close()
	return buf.String()
}

var writeSeeds = flag.Bool("write-request-seeds", false,
	"rewrite testdata/fuzz/Fuzz{Broker,NameServer}Request/seed-* from brokerSeeds and nameServerSeeds")

// TestWriteRequestSeeds keeps the seed corpus files in step with the seed
// lists: with -write-request-seeds it writes them, otherwise it checks they
// exist and match.
func TestWriteRequestSeeds(t *testing.T) {
	for target, seeds := range map[string][]reqSeed{
		"FuzzBrokerRequest":     brokerSeeds(),
		"FuzzNameServerRequest": nameServerSeeds(),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		for _, s := range seeds {
			path := filepath.Join(dir, "seed-"+s.name)
			want := corpusFile(s.code, s.ext, []byte(s.body))
			if *writeSeeds {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(want) {
				t.Errorf("%s is missing or stale (err %v); run go test ./fuzz/ -run TestWriteRequestSeeds -write-request-seeds", path, err)
			}
		}
	}
}

// corpusFile encodes an input in the format `go test` reads.
func corpusFile(code int16, ext string, body []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\nint16(%d)\nstring(%s)\n[]byte(%s)\n", code, strconv.Quote(ext), strconv.Quote(string(body)))
}
