package broker

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

// sqlHeartbeat is a heartbeat of group G whose subscription to topic is the
// SQL92 expression expr, as the Go client sends it (no tags).
func sqlHeartbeat(topic, expr string) []byte {
	return fmt.Appendf(nil, `{"clientID":"10.0.0.9@1","producerDataSet":[],"consumerDataSet":[{"groupName":"G",
"consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","unitMode":false,
"subscriptionDataSet":[{"classFilterMode":false,"topic":%q,"subString":%q,"tagsSet":null,"codeSet":null,"subVersion":7,"expressionType":"SQL92"}]}]}`,
		topic, expr)
}

// sqlPull pulls topic queue 0 of group G from offset; a non-empty expr is
// sent as a SQL92 subscription (sysFlag SUBSCRIPTION).
func sqlPull(c *testClient, topic string, offset int64, expr string) *remoting.Command {
	flag := 0
	if expr != "" {
		flag = pullSubscription
	}
	ext := pullExt("G", topic, 0, offset, flag, 0)
	if expr != "" {
		ext["subscription"], ext["expressionType"] = expr, "SQL92"
	}
	return c.call(remoting.CodePullMessage, ext, nil)
}

// sendSQLMessages stores n messages on topic queue 0, message i with
// property a=i and tag A or B (even, odd).
func sendSQLMessages(t *testing.T, b *Broker, c *testClient, topic string, n int) {
	for i := range n {
		c.send(topic, 0, props("TAGS", []string{"A", "B"}[i%2], "a", strconv.Itoa(i)), "m"+strconv.Itoa(i))
	}
	waitDispatched(t, b)
}

// TestPullSQL92Disabled: with enablePropertyFilter false (the default) a
// SQL92 subscription, in the pull or from the heartbeat, fails as in
// RocketMQ's PullMessageProcessor: SYSTEM_ERROR with its remark, while the
// heartbeat itself succeeds.
func TestPullSQL92Disabled(t *testing.T) {
	b := startBroker(t, Config{})
	c := newTestClient(t, b.Addr())
	sendSQLMessages(t, b, c, "SQ", 4)
	// An empty expression is refused first (FilterAPI.build), with 23.
	ext := pullExt("G", "SQ", 0, 0, pullSubscription, 0)
	ext["expressionType"] = "SQL92"
	expectCode(t, c.call(remoting.CodePullMessage, ext, nil), remoting.RespSubscriptionParseFailed, "empty expression")
	want := "The broker does not support consumer to filter message by SQL92"
	for _, tt := range []struct{ name, expr string }{{"in the pull", "a > 1"}, {"bad, in the pull", "a >"}} {
		resp := sqlPull(c, "SQ", 0, tt.expr)
		if resp.Code != remoting.RespSystemError || resp.Remark != want || resp.ExtFields["nextBeginOffset"] != "0" {
			t.Errorf("%s: code %d %q ext %v; want %d %q with offsets", tt.name, resp.Code, resp.Remark, resp.ExtFields, remoting.RespSystemError, want)
		}
	}
	expectCode(t, c.call(remoting.CodeHeartBeat, nil, sqlHeartbeat("SQ", "a > 1")), remoting.RespSuccess, "heartbeat")
	if resp := sqlPull(c, "SQ", 0, ""); resp.Code != remoting.RespSystemError || resp.Remark != want {
		t.Errorf("from the heartbeat: code %d %q; want %d %q", resp.Code, resp.Remark, remoting.RespSystemError, want)
	}
}

// TestPullSQL92: with enablePropertyFilter the broker serves only the
// matching messages, and nextBeginOffset moves past what it examined.
func TestPullSQL92(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.EnablePropertyFilter = true
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	sendSQLMessages(t, b, c, "SQ", 10)
	for _, tt := range []struct {
		name   string
		offset int64
		expr   string
		code   int16
		next   int64
		want   string // the a values served, comma-separated
	}{
		{"numeric", 0, "a > 5", remoting.RespSuccess, 10, "6,7,8,9"},
		{"from the middle", 3, "a BETWEEN 2 AND 4", remoting.RespSuccess, 10, "3,4"},
		{"with tags", 0, "TAGS = 'B' AND a >= 4", remoting.RespSuccess, 10, "5,7,9"},
		{"in", 0, "a IN ('1', '8') OR a IS NULL", remoting.RespSuccess, 10, "1,8"},
		{"no match", 0, "a > 100", remoting.RespPullRetryImmediately, 10, ""},
		{"missing property", 0, "b = 'x'", remoting.RespPullRetryImmediately, 10, ""},
		{"bad expression", 4, "a > 'x'", remoting.RespSubscriptionParseFailed, 4, ""},
		{"unknown type", 4, "", remoting.RespSubscriptionParseFailed, 4, ""},
	} {
		resp := sqlPull(c, "SQ", tt.offset, tt.expr)
		if tt.name == "unknown type" {
			ext := pullExt("G", "SQ", 0, tt.offset, pullSubscription, 0)
			ext["subscription"], ext["expressionType"] = "a > 1", "CLASS"
			resp = c.call(remoting.CodePullMessage, ext, nil)
		}
		if resp.Code != tt.code {
			t.Errorf("%s: code %d %q, want %d", tt.name, resp.Code, resp.Remark, tt.code)
			continue
		}
		if next := extInt(t, resp, "nextBeginOffset"); next != tt.next {
			t.Errorf("%s: nextBeginOffset %d, want %d", tt.name, next, tt.next)
		}
		var got []string
		if resp.Code == remoting.RespSuccess {
			for _, r := range decodeAll(t, resp.Body) {
				v, _ := r.Property("a")
				got = append(got, v)
			}
		}
		if g := strings.Join(got, ","); g != tt.want {
			t.Errorf("%s: served a = %q, want %q", tt.name, g, tt.want)
		}
		if tt.code == remoting.RespSubscriptionParseFailed && tt.expr != "" && !strings.Contains(resp.Remark, "cannot be compared") {
			t.Errorf("%s: remark %q does not say what is wrong", tt.name, resp.Remark)
		}
	}

	// Without the SUBSCRIPTION bit and before any heartbeat (a pull that
	// beats the first heartbeat after a broker restart) the subscription
	// is unknown: refused with 24, never served unfiltered.
	if resp := sqlPull(c, "SQ", 0, ""); resp.Code != remoting.RespSubscriptionNotExist || len(resp.Body) != 0 {
		t.Errorf("pull before any heartbeat: code %d %q with %d body bytes, want %d and nothing served",
			resp.Code, resp.Remark, len(resp.Body), remoting.RespSubscriptionNotExist)
	}

	// Without the SUBSCRIPTION bit the heartbeat's expression applies; a
	// heartbeat whose expression does not compile still succeeds, and
	// its pulls get FILTER_DATA_NOT_EXIST (27), as in RocketMQ.
	expectCode(t, c.call(remoting.CodeHeartBeat, nil, sqlHeartbeat("SQ", "a < 2 OR a = 9")), remoting.RespSuccess, "heartbeat")
	resp := sqlPull(c, "SQ", 0, "")
	if resp.Code != remoting.RespSuccess || len(decodeAll(t, resp.Body)) != 3 || extInt(t, resp, "nextBeginOffset") != 10 {
		t.Errorf("heartbeat subscription: code %d %q, %d messages, next %s; want 3 messages, next 10",
			resp.Code, resp.Remark, len(decodeAll(t, resp.Body)), resp.ExtFields["nextBeginOffset"])
	}
	c2 := newTestClient(t, b.Addr())
	hb := strings.Replace(string(sqlHeartbeat("SQ", "a <")), `"subVersion":7`, `"subVersion":8`, 1)
	expectCode(t, c2.call(remoting.CodeHeartBeat, nil, []byte(hb)), remoting.RespSuccess, "heartbeat with a bad expression")
	if resp := sqlPull(c2, "SQ", 0, ""); resp.Code != respFilterDataNotExist {
		t.Errorf("bad heartbeat expression: code %d %q, want %d", resp.Code, resp.Remark, respFilterDataNotExist)
	}
}

// TestEnablePropertyFilterKey: the broker.conf key, off by default.
func TestEnablePropertyFilterKey(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.EnablePropertyFilter {
		t.Fatal("enablePropertyFilter on by default")
	}
	if err := ParseConfig(strings.NewReader("enablePropertyFilter=TRUE\n"), &cfg, testLogger(t)); err != nil || !cfg.EnablePropertyFilter {
		t.Fatalf("enablePropertyFilter=TRUE: %v, set %v", err, cfg.EnablePropertyFilter)
	}
}
