package acl

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit/loglines"
)

// newTestChecker writes yml to a temp plain_acl.yml and opens it without
// polling.
func newTestChecker(tb testing.TB, yml string) (*Checker, error) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		tb.Fatal(err)
	}
	c, err := Open(path, Options{PollInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		tb.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// signed returns a request signed with ak/sk from 127.0.0.1.
func signed(code int16, ext map[string]string, body string, ak, sk string) Request {
	e := map[string]string{}
	for k, v := range ext {
		e[k] = v
	}
	Sign(e, []byte(body), ak, sk)
	return Request{Code: code, Ext: e, Body: []byte(body), RemoteAddr: "127.0.0.1:40000"}
}

const rmq, rmqSK = "RocketMQ", "12345678"

// TestCheckRequestFamilies: one row per request-code family and way to be
// refused, against RocketMQ's sample accounts.
func TestCheckRequestFamilies(t *testing.T) {
	c, err := newTestChecker(t, sampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	hb := func(group, topic string) string {
		return `{"clientID":"c1","producerDataSet":[],"consumerDataSet":[{"groupName":"` + group +
			`","consumeType":"CONSUME_PASSIVELY","subscriptionDataSet":[{"topic":"` + topic + `","subString":"*"}]}]}`
	}
	tamper := func(r Request) Request { r.Body = append([]byte(nil), r.Body...); r.Body[0] ^= 1; return r }
	from := func(r Request, addr string) Request { r.RemoteAddr = addr; return r }
	unsigned := func(r Request) Request { delete(r.Ext, FieldSignature); return r }

	for _, tc := range []struct {
		name string
		req  Request
		want string // "" allowed, else a piece of the refusal
	}{
		// send: topic PUB
		{"send v1 to PUB|SUB topic", signed(10, map[string]string{"topic": "topicB"}, "m", rmq, rmqSK), ""},
		{"send v2 to PUB|SUB topic", signed(310, map[string]string{"b": "topicB", "a": "pg"}, "m", rmq, rmqSK), ""},
		{"batch send to SUB-only topic", signed(320, map[string]string{"b": "topicC"}, "m", rmq, rmqSK), "no PUB permission on topic:topicC"},
		{"send to DENY topic", signed(310, map[string]string{"b": "topicA"}, "m", rmq, rmqSK), "no PUB permission on topic:topicA"},
		{"send to default-DENY topic", signed(310, map[string]string{"b": "other"}, "m", rmq, rmqSK), "no PUB permission on topic:other"},
		{"DENY entry beats PUB default", signed(310, map[string]string{"b": "denied"}, "m", "pubdefault", "s3cret-pub"), "topic:denied"},
		{"PUB default", signed(310, map[string]string{"b": "anything"}, "m", "pubdefault", "s3cret-pub"), ""},
		{"reply v1 to PUB|SUB topic", signed(324, map[string]string{"topic": "topicB"}, "m", rmq, rmqSK), ""},
		{"reply v2 to DENY topic", signed(325, map[string]string{"b": "topicA"}, "m", rmq, rmqSK), "no PUB permission on topic:topicA"},
		{"send to a retry topic needs group SUB", signed(310, map[string]string{"b": "%RETRY%groupC", "a": "groupC"}, "m", rmq, rmqSK), ""},
		{"send to a denied group's retry topic", signed(310, map[string]string{"b": "%RETRY%groupA", "a": "groupA"}, "m", rmq, rmqSK), "no SUB permission on group:groupA"},
		// The group is the topic's, whatever the header names (v1 names none).
		{"send v1 to a denied group's retry topic", signed(10, map[string]string{"topic": "%RETRY%groupA"}, "m", rmq, rmqSK), "no SUB permission on group:groupA"},
		{"send v2 to a denied group's retry topic naming another", signed(310, map[string]string{"b": "%RETRY%groupA", "a": "groupC"}, "m", rmq, rmqSK), "group:groupA"},
		{"send to a denied group's DLQ", signed(310, map[string]string{"b": "%DLQ%groupA", "a": "groupC"}, "m", rmq, rmqSK), "no SUB permission on group:groupA"},
		{"send to a SUB group's DLQ", signed(310, map[string]string{"b": "%DLQ%groupC"}, "m", rmq, rmqSK), ""},
		{"send back", signed(36, map[string]string{"group": "groupB", "offset": "1"}, "", rmq, rmqSK), ""},
		{"send back for a denied group", signed(36, map[string]string{"group": "groupA"}, "", rmq, rmqSK), "group:groupA"},
		// pull, offsets, heartbeat, locks: topic SUB and group SUB
		{"pull", signed(11, map[string]string{"topic": "topicC", "consumerGroup": "groupC"}, "", rmq, rmqSK), ""},
		{"pull from DENY topic", signed(11, map[string]string{"topic": "topicA", "consumerGroup": "groupC"}, "", rmq, rmqSK), "no SUB permission on topic:topicA"},
		{"pull into DENY group", signed(11, map[string]string{"topic": "topicC", "consumerGroup": "groupA"}, "", rmq, rmqSK), "group:groupA"},
		{"commit offset", signed(15, map[string]string{"topic": "topicB", "consumerGroup": "groupB", "queueId": "0"}, "", rmq, rmqSK), ""},
		{"commit offset, DENY topic", signed(15, map[string]string{"topic": "topicA", "consumerGroup": "groupB"}, "", rmq, rmqSK), "topic:topicA"},
		{"query offset, DENY group", signed(14, map[string]string{"topic": "topicB", "consumerGroup": "groupA"}, "", rmq, rmqSK), "group:groupA"},
		{"heartbeat", signed(34, nil, hb("groupC", "topicC"), rmq, rmqSK), ""},
		{"heartbeat, DENY topic", signed(34, nil, hb("groupC", "topicA"), rmq, rmqSK), "topic:topicA"},
		{"heartbeat, bad body", signed(34, nil, "{not json", rmq, rmqSK), "HeartbeatData"},
		{"lock", signed(41, nil, `{"consumerGroup":"groupB","clientId":"c","mqSet":[{"topic":"topicB","brokerName":"b","queueId":0}]}`, rmq, rmqSK), ""},
		{"lock, DENY group", signed(41, nil, `{"consumerGroup":"groupA","mqSet":[]}`, rmq, rmqSK), "group:groupA"},
		{"unregister client", signed(35, map[string]string{"clientID": "c", "consumerGroup": "groupA"}, "", rmq, rmqSK), "group:groupA"},
		{"consumer list", signed(38, map[string]string{"consumerGroup": "groupC"}, "", rmq, rmqSK), ""},
		{"query message, DENY topic", signed(12, map[string]string{"topic": "topicA", "key": "k"}, "", rmq, rmqSK), "topic:topicA"},
		// admin codes
		{"create topic without admin", signed(17, map[string]string{"topic": "x"}, "", rmq, rmqSK), "request code 17 needs admin"},
		{"delete topic without admin", signed(215, map[string]string{"topic": "x"}, "", rmq, rmqSK), "needs admin"},
		{"reset offset without admin", signed(222, map[string]string{"topic": "x", "group": "g"}, "", rmq, rmqSK), "needs admin"},
		{"group update without admin", signed(200, nil, "{}", rmq, rmqSK), "needs admin"},
		{"broker config without admin", signed(25, nil, "", rmq, rmqSK), "needs admin"},
		{"create topic as admin", from(signed(17, map[string]string{"topic": "x"}, "", "rocketmq2", "12345678"), "10.9.9.9:1"), ""},
		{"admin sends anywhere", from(signed(310, map[string]string{"b": "topicA"}, "", "rocketmq2", "12345678"), "10.9.9.9:1"), ""},
		// codes without resources: a valid signature is enough
		{"slave sync reads (all offsets, 43) need no admin", signed(43, nil, "", rmq, rmqSK), ""},
		{"clone group offset needs admin", signed(314, nil, "", rmq, rmqSK), "needs admin"},
		{"end transaction", signed(37, map[string]string{"producerGroup": "pg"}, "", rmq, rmqSK), ""},
		{"unknown code", signed(9999, nil, "", rmq, rmqSK), ""},
		{"unknown code unsigned", unsigned(signed(9999, nil, "", rmq, rmqSK)), "signature check failed"},
		// authentication
		{"no credentials", Request{Code: 310, Ext: map[string]string{"b": "topicB"}, RemoteAddr: "127.0.0.1:1"}, "no AccessKey"},
		{"nil ext", Request{Code: 34, RemoteAddr: "127.0.0.1:1"}, "no AccessKey"},
		{"unknown access key", signed(310, map[string]string{"b": "topicB"}, "m", "nobody", rmqSK), "no account for accessKey=nobody"},
		{"wrong secret", signed(310, map[string]string{"b": "topicB"}, "m", rmq, "wrong-secret"), "signature check failed for accessKey=RocketMQ"},
		{"tampered body", tamper(signed(310, map[string]string{"b": "topicB"}, "message", rmq, rmqSK)), "signature check failed"},
		{"garbage signature", func() Request {
			r := signed(310, map[string]string{"b": "topicB"}, "m", rmq, rmqSK)
			r.Ext[FieldSignature] = "%%%"
			return r
		}(), "signature check failed"},
		// addresses
		{"global white address needs nothing", Request{Code: 17, RemoteAddr: "192.168.0.9:1"}, ""},
		{"account white address waives the signature", from(unsigned(signed(17, nil, "", "rocketmq2", "x")), "192.168.1.20:5"), ""},
		{"outside the account's white address the signature counts", from(unsigned(signed(17, nil, "", "rocketmq2", "x")), "192.168.2.20:5"), "signature check failed"},
		{"IPv6 peer outside every pattern", from(signed(17, nil, "", rmq, rmqSK), "[::1]:5"), "needs admin"},
	} {
		err := c.Check(tc.req)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: allowed, want a refusal with %q", tc.name, tc.want)
		case tc.want != "":
			var d *Denied
			if !errors.As(err, &d) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: refusal %v, want one with %q", tc.name, err, tc.want)
			}
			for _, secret := range []string{rmqSK, "s3cret-pub", "wrong-secret"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("%s: refusal %q shows a secret", tc.name, err)
				}
			}
		}
	}
	s := c.Stats()
	if s.AuthFailures == 0 || s.PermDenied == 0 || s.Allowed == 0 {
		t.Fatalf("stats %+v: every counter should have moved", s)
	}
}

// TestCheckTopic: a topic reached through the request, not named by it,
// is decided by Check's rules: the account's entry or default, a retry topic
// standing for its group, white addresses and rights-less admins passing. A
// refusal is counted; a pass is not counted again.
func TestCheckTopic(t *testing.T) {
	c, err := newTestChecker(t, sampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	view := func(ak, sk string) Request { return signed(33, map[string]string{"offset": "0"}, "", ak, sk) }
	for _, tc := range []struct {
		name  string
		req   Request
		topic string
		want  string // "" allowed, else a piece of the refusal
	}{
		{"SUB topic", view(rmq, rmqSK), "topicC", ""},
		{"DENY topic", view(rmq, rmqSK), "topicA", "no SUB permission on topic:topicA"},
		{"default-DENY topic", view(rmq, rmqSK), "other", "topic:other"},
		{"retry topic of a SUB group", view(rmq, rmqSK), "%RETRY%groupC", ""},
		{"retry topic of a DENY group", view(rmq, rmqSK), "%RETRY%groupA", "no SUB permission on group:groupA"},
		{"admin", func() Request { r := view("rocketmq2", "12345678"); r.RemoteAddr = "10.9.9.9:1"; return r }(), "topicA", ""},
		{"global white address", Request{Code: 33, RemoteAddr: "192.168.0.9:1"}, "topicA", ""},
		{"bad signature", view(rmq, "wrong-secret"), "topicC", "signature check failed"},
	} {
		err := c.CheckTopic(tc.req, tc.topic, Sub)
		var d *Denied
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (!errors.As(err, &d) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want a refusal with %q", tc.name, err, tc.want)
		}
	}
	if s := c.Stats(); s.Allowed != 0 || s.PermDenied != 3 || s.AuthFailures != 1 {
		t.Fatalf("stats %+v, want 0 allowed, 3 denied, 1 auth failure", s)
	}
}

// TestAccountAndAllowed: Account names the account a request was let in
// as ("" from a global white address, whatever AccessKey it names), and
// Allowed decides a topic for that account by Check's rules without a
// signature, counting nothing.
func TestAccountAndAllowed(t *testing.T) {
	c, err := newTestChecker(t, sampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	const here, white, adminWhite = "127.0.0.1:4000", "192.168.0.9:1", "192.168.1.7:1"
	for _, tc := range []struct {
		name string
		req  Request
		want string
	}{
		{"signed", signed(34, nil, "{}", rmq, rmqSK), rmq},
		{"global white, naming an admin", Request{Code: 34, Ext: map[string]string{FieldAccessKey: "rocketmq2"}, RemoteAddr: white}, ""},
		{"the account's white address", Request{Code: 34, Ext: map[string]string{FieldAccessKey: "rocketmq2"}, RemoteAddr: adminWhite}, "rocketmq2"},
		{"no account", Request{Code: 34, Ext: map[string]string{FieldAccessKey: "nobody"}, RemoteAddr: here}, ""},
	} {
		if got := c.Account(tc.req); got != tc.want {
			t.Errorf("Account(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		account, addr, topic string
		p                    Perm
		want                 bool
	}{
		{rmq, here, "topicB", Pub, true},
		{rmq, here, "topicC", Pub, false}, // SUB only
		{rmq, here, "topicA", Pub, false}, // DENY entry
		{rmq, here, "other", Pub, false},  // default DENY
		{"pubdefault", here, "other", Pub, true},
		{"pubdefault", here, "denied", Pub, false},
		{"rocketmq2", here, "topicA", Pub, true}, // admin without rights entries
		{"", white, "topicA", Pub, true},         // global white
		{"", here, "topicB", Pub, false},         // no account, not white
		{"nobody", here, "topicB", Pub, false},   // not in the file
	} {
		if got := c.Allowed(tc.account, tc.addr, tc.topic, tc.p); got != tc.want {
			t.Errorf("Allowed(%q, %s, %s, %s) = %v, want %v", tc.account, tc.addr, tc.topic, tc.p, got, tc.want)
		}
	}
	if s := c.Stats(); s != (Stats{}) {
		t.Errorf("Account and Allowed counted: %+v", s)
	}
	// Account runs on every heartbeat under ACL.
	req := signed(34, nil, "{}", rmq, rmqSK)
	if n := testing.AllocsPerRun(100, func() { _ = c.Account(req) }); n != 0 {
		t.Errorf("Account allocates %v times", n)
	}
}

// TestRefusalLogIsRateLimited: a burst of refusals writes one line, and
// the next line after the interval counts those not logged.
func TestRefusalLogIsRateLimited(t *testing.T) {
	c, err := newTestChecker(t, sampleYAML)
	if err != nil {
		t.Fatal(err)
	}
	var buf loglines.Lines
	c.log = slog.New(slog.NewTextHandler(&buf, nil))
	for range 500 {
		_ = c.Check(Request{Code: 310, RemoteAddr: "127.0.0.1:1"})
	}
	if n := strings.Count(buf.String(), "request refused"); n != 1 {
		t.Fatalf("%d refusal lines for a burst of 500, want 1:\n%s", n, buf.String())
	}
	c.lastLog.Store(time.Now().Add(-2 * refusalLogEvery).UnixNano()) // the interval has passed
	_ = c.Check(Request{Code: 310, RemoteAddr: "127.0.0.1:1"})
	if !strings.Contains(buf.String(), "refused_unlogged_since_last_line=499") {
		t.Fatalf("second line does not count the 499 unlogged:\n%s", buf.String())
	}
	if s := c.Stats(); s.AuthFailures != 501 {
		t.Fatalf("auth failures %d, want 501", s.AuthFailures)
	}
}

func TestNameServerScope(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(path, []byte(sampleYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path, Options{Scope: NameServer, PollInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	anon := func(code int16) Request {
		return Request{Code: code, Ext: map[string]string{}, RemoteAddr: "127.0.0.1:1"}
	}
	for _, tc := range []struct {
		name string
		req  Request
		ok   bool
	}{
		{"route query, anonymous", anon(105), true},
		{"cluster info, anonymous", anon(106), true},
		{"register broker, anonymous", anon(103), false},
		// Claiming a broker identity is an admin's act (a slave's
		// address gets its master's CommitLog).
		{"register broker, not admin", signed(103, map[string]string{"brokerName": "b"}, "{}", rmq, rmqSK), false},
		{"register broker, admin", signed(103, map[string]string{"brokerName": "b"}, "{}", "rocketmq2", "12345678"), true},
		{"unregister broker, not admin", signed(104, map[string]string{"brokerName": "b"}, "", rmq, rmqSK), false},
		{"controller heartbeat, not admin", signed(904, map[string]string{"brokerName": "b"}, "", rmq, rmqSK), false},
		{"controller register, admin", signed(1003, map[string]string{"brokerName": "b"}, "", "rocketmq2", "12345678"), true},
		{"next broker id, not admin", signed(1012, map[string]string{"brokerName": "b"}, "", rmq, rmqSK), true},
		{"delete topic, anonymous", anon(216), false},
		{"delete topic, not admin", signed(216, map[string]string{"topic": "t"}, "", rmq, rmqSK), false},
		{"delete topic, admin", signed(216, map[string]string{"topic": "t"}, "", "rocketmq2", "12345678"), true},
		{"KV put, not admin", signed(100, map[string]string{"namespace": "n"}, "", rmq, rmqSK), false},
		{"wipe write perm, not admin", signed(205, nil, "", rmq, rmqSK), false},
	} {
		if err := c.Check(tc.req); (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want allowed=%v", tc.name, err, tc.ok)
		}
	}
}

// TestReloadKeepsOldRulesOnABrokenFile: an edit takes effect within the
// poll interval; a file that does not parse keeps the rules in force and
// is counted once.
func TestReloadKeepsOldRulesOnABrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	write := func(s string) {
		// Write a new file and rename it over, as editors do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("accounts:\n  - {accessKey: access1, secretKey: secret1x, defaultTopicPerm: PUB}\n")
	c, err := Open(path, Options{PollInterval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(ak, sk string) error {
		return c.Check(signed(310, map[string]string{"b": "T"}, "x", ak, sk))
	}
	if err := send("access1", "secret1x"); err != nil {
		t.Fatal(err)
	}
	write("accounts:\n  - {accessKey: access1, secretKey: secret1x, defaultTopicPerm: SUB}\n  - {accessKey: access2, secretKey: secret2x, defaultTopicPerm: PUB}\n")
	eventually(t, 5*time.Second, func() bool { return send("access1", "secret1x") != nil && send("access2", "secret2x") == nil },
		"the edited file in force")
	write("accounts: [ {accessKey: access3")
	eventually(t, 5*time.Second, func() bool { return c.Stats().ReloadFailures == 1 }, "the broken file reported")
	if err := send("access2", "secret2x"); err != nil {
		t.Fatalf("after a broken edit the old rules should stay: %v", err)
	}
	if within(100*time.Millisecond, func() bool { return c.Stats().ReloadFailures > 1 }) {
		t.Fatal("the same broken file reported more than once")
	}
	if s := c.Stats(); s.Reloads != 1 {
		t.Fatalf("reloads %d, want 1", s.Reloads)
	}
}

func TestOpenErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yml")
	if _, err := Open(missing, Options{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("accounts: ["), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad, Options{}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("broken file: %v", err)
	}
}

// FuzzParse: no input makes Parse panic, and what parses can be checked.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sampleYAML))
	f.Add([]byte("globalWhiteRemoteAddresses: ['*', 1.2.3.{4,5}, 1.2.3-4.*]\n"))
	f.Add([]byte("accounts:\n  - {accessKey: a, secretKey: b, topicPerms: [x=PUB, '=', y==SUB]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		c := &Checker{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		c.rules.Store(r)
		_ = c.Check(Request{Code: 310, Ext: map[string]string{"b": "t", FieldAccessKey: "a"}, RemoteAddr: "1.2.3.4:5"})
	})
}

// within polls cond every 5 ms until it holds or d passes. (The package
// cannot use internal/testkit: it imports the name server, which imports
// this package.)
func within(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	if !within(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}
