package acl

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseRocketMQSample(t *testing.T) {
	r, err := Parse([]byte(sampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 3 || len(r.globalWhite) != 2 {
		t.Fatalf("accounts %d, global white %d; want 3 and 2", r.Len(), len(r.globalWhite))
	}
	a, ok := r.Account("RocketMQ")
	if !ok || a.secretKey != "12345678" || a.Admin || a.DefaultTopicPerm != Deny || a.DefaultGroupPerm != Sub {
		t.Fatalf("RocketMQ account parsed as %+v", a)
	}
	want := map[string]Perm{
		"topicA": Deny, "topicB": Pub | Sub, "topicC": Sub,
		"%RETRY%groupA": Deny, "%RETRY%groupB": Pub | Sub, "%RETRY%groupC": Sub,
	}
	if len(a.Perms) != len(want) {
		t.Fatalf("perms %v, want %v", a.Perms, want)
	}
	for k, v := range want {
		if a.Perms[k] != v {
			t.Errorf("perm %s = %v, want %v", k, a.Perms[k], v)
		}
	}
	if a.white.match(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an empty whiteRemoteAddress matched an address")
	}
	b, _ := r.Account("rocketmq2")
	if !b.Admin || b.Perms != nil || !b.white.match(netip.MustParseAddr("192.168.1.77")) {
		t.Fatalf("rocketmq2 parsed as %+v", b)
	}
}

func TestParseRejects(t *testing.T) {
	for name, tc := range map[string]struct{ yml, want string }{
		"not yaml":         {"accounts: [", "yaml"},
		"no secret":        {"accounts:\n  - accessKey: abcdefg\n", "secretKey are required"},
		"duplicate":        {"accounts:\n  - {accessKey: access1, secretKey: secret1x}\n  - {accessKey: access1, secretKey: secret2x}\n", "listed twice"},
		"bad perm item":    {"accounts:\n  - {accessKey: access1, secretKey: secret1x, topicPerms: [topicA]}\n", "NAME=PERM"},
		"bad address":      {"accounts:\n  - {accessKey: access1, secretKey: secret1x, whiteRemoteAddress: 300.1.1.1}\n", "not an IP"},
		"bad global":       {"globalWhiteRemoteAddresses: [10.1.*.5]\n", "only '*' may follow"},
		"empty":            {"", "no accounts"},
		"list as a secret": {"accounts:\n  - {accessKey: access1, secretKey: [x]}\n", "single value"},
	} {
		_, err := Parse([]byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one containing %q", name, err, tc.want)
		}
	}
}

func TestAddressPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"192.168.0.1", []string{"192.168.0.1", "::ffff:192.168.0.1"}, []string{"192.168.0.2"}},
		{"*", []string{"1.2.3.4", "::1"}, nil},
		{"*.*.*.*", []string{"1.2.3.4"}, nil},
		{"192.168.0.{1,2}", []string{"192.168.0.1", "192.168.0.2"}, []string{"192.168.0.3"}},
		{"192.168.1.1-5", []string{"192.168.1.1", "192.168.1.5"}, []string{"192.168.1.6", "192.168.2.3"}},
		{"192.168.*", []string{"192.168.0.0", "192.168.255.255"}, []string{"192.169.0.1"}},
		{"192.168.*.*", []string{"192.168.7.7"}, []string{"10.0.0.1"}},
		{"10.1-3.*", []string{"10.2.9.9"}, []string{"10.4.0.0"}},
		{"127.0.0.1,10.0.0.1", []string{"127.0.0.1", "10.0.0.1"}, []string{"10.0.0.2"}},
		{"::1", []string{"::1", "0:0:0:0:0:0:0:1"}, []string{"127.0.0.1"}},
		{"", nil, []string{"127.0.0.1"}},
	} {
		p, err := parseAddrPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, a := range tc.match {
			if !p.match(netip.MustParseAddr(a).Unmap()) {
				t.Errorf("%q does not match %s", tc.pattern, a)
			}
		}
		for _, a := range tc.miss {
			if p.match(netip.MustParseAddr(a).Unmap()) {
				t.Errorf("%q matches %s", tc.pattern, a)
			}
		}
	}
	for _, bad := range []string{"1.2.3.4-2", "1.2.3.4.5-6", "1.2.*.4", "1.2.3.{a,b}", "1.2.{3}.4", "fe80::*", "1.2.3.300-301"} {
		if _, err := parseAddrPattern(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestPermAllows(t *testing.T) {
	for _, tc := range []struct {
		owned, needed Perm
		want          bool
	}{
		{Pub, Pub, true}, {Pub, Sub, false}, {Sub, Sub, true}, {Pub | Sub, Sub, true},
		{Deny, Pub, false}, {Deny | Pub, Pub, false}, {Pub, Any, true}, {Deny, Any, false},
		{ParsePerm(" SUB|PUB "), Pub, true}, {ParsePerm("pub"), Pub, false}, {ParsePerm(""), Sub, false},
	} {
		if got := tc.owned.Allows(tc.needed); got != tc.want {
			t.Errorf("%v allows %v = %v, want %v", tc.owned, tc.needed, got, tc.want)
		}
	}
}

// TestParseRefusesBadValues: what RocketMQ reads silently as DENY or as
// not admin (a typo fails closed, but without a word), and keys RocketMQ
// refuses (6 characters or fewer), are load errors naming the file, the
// account and the value; never the secret.
func TestParseRefusesBadValues(t *testing.T) {
	const ok = "  - {accessKey: goodAccess, secretKey: goodSecret1, admin: TRUE, defaultTopicPerm: SUB|PUB, defaultGroupPerm: DENY," +
		" topicPerms: [t1=PUB, t2=SUB, t3=PUB|SUB, t4=SUB|PUB, t5=DENY], groupPerms: [g1=SUB]}\n" +
		"  - {accessKey: access7, secretKey: secret7, admin: False}\n"
	for name, tc := range map[string]struct {
		account string
		want    []string
	}{
		"topicPerms word":       {"{accessKey: RocketMQ, secretKey: 12345678, topicPerms: [T1=PUBLISH]}", []string{"RocketMQ", "topicPerms", "T1=PUBLISH", `"PUBLISH" is not a permission`}},
		"groupPerms lower case": {"{accessKey: RocketMQ, secretKey: 12345678, groupPerms: [G=sub]}", []string{"RocketMQ", "groupPerms", `"sub" is not a permission`}},
		"defaultTopicPerm":      {"{accessKey: RocketMQ, secretKey: 12345678, defaultTopicPerm: READWRITE}", []string{"RocketMQ", `defaultTopicPerm "READWRITE"`}},
		"defaultGroupPerm":      {"{accessKey: RocketMQ, secretKey: 12345678, defaultGroupPerm: 'PUB, SUB'}", []string{"RocketMQ", `defaultGroupPerm "PUB, SUB"`}},
		"admin maybe":           {"{accessKey: RocketMQ, secretKey: 12345678, admin: maybe}", []string{"RocketMQ", `admin "maybe"`}},
		"admin yes":             {"{accessKey: RocketMQ, secretKey: 12345678, admin: yes}", []string{"RocketMQ", `admin "yes"`}},
		"admin ture":            {"{accessKey: RocketMQ, secretKey: 12345678, admin: ture}", []string{"RocketMQ", `admin "ture"`}},
		"secretKey of 1":        {"{accessKey: RocketMQ, secretKey: 1}", []string{"RocketMQ", "secretKey is 1 characters long"}},
		"secretKey of 6":        {"{accessKey: RocketMQ, secretKey: 'S3cr3t'}", []string{"RocketMQ", "secretKey is 6 characters long"}},
		"accessKey of 6":        {"{accessKey: Rocket, secretKey: 12345678}", []string{`accessKey "Rocket" is 6 characters long`}},
		"accessKey of 2":        {"{accessKey: ak, secretKey: 12345678}", []string{`accessKey "ak" is 2 characters long`}},
	} {
		path := filepath.Join(t.TempDir(), "plain_acl.yml")
		if err := os.WriteFile(path, []byte("accounts:\n"+ok+"  - "+tc.account+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(path)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		msg := err.Error()
		for _, w := range append([]string{path, "accounts[2]"}, tc.want...) {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q does not name %q", name, msg, w)
			}
		}
		if strings.Contains(msg, "\n") || strings.Contains(msg, "S3cr3t") || strings.Contains(msg, "12345678") {
			t.Errorf("%s: error %q: not one line, or a secret printed", name, msg)
		}
	}
	r, err := Parse([]byte("accounts:\n" + ok))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Account("goodAccess")
	b, _ := r.Account("access7")
	if !a.Admin || a.DefaultTopicPerm != Pub|Sub || a.DefaultGroupPerm != Deny || a.Perms["t1"] != Pub || a.Perms["t2"] != Sub ||
		a.Perms["t3"] != Pub|Sub || a.Perms["t4"] != Pub|Sub || a.Perms["t5"] != Deny || a.Perms["%RETRY%g1"] != Sub || b.Admin ||
		b.DefaultTopicPerm != Deny || b.DefaultGroupPerm != Deny {
		t.Fatalf("parsed %+v and %+v", a, b)
	}
}

// TestReloadRefusesBadValues: an edit with a bad value keeps the rules in
// force (nothing fails open: not to the new file's DENY, not to no rules)
// and logs one error line naming the file, the account and the value.
func TestReloadRefusesBadValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plain_acl.yml")
	good := "accounts:\n  - {accessKey: access1, secretKey: secret1x, defaultTopicPerm: PUB}\n" +
		"  - {accessKey: admin01, secretKey: secret2x, admin: true}\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c, err := Open(path, Options{PollInterval: -1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, bad := range []struct{ edit, want string }{
		{"defaultTopicPerm: PUB}", "defaultTopicPerm: PUBLISH}"},
		{"defaultTopicPerm: PUB}", "defaultTopicPerm: PUB, topicPerms: [T=ALL]}"},
		{"admin: true}", "admin: maybe}"},
		{"secretKey: secret1x", "secretKey: 1"},
	} {
		logs.Reset()
		edited := strings.Replace(good, bad.edit, bad.want, 1)
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := c.Reload(); err == nil {
			t.Fatalf("%q: reload accepted", bad.want)
		}
		if got := c.Stats().ReloadFailures; got != uint64(i+1) {
			t.Fatalf("%q: reload failures %d, want %d", bad.want, got, i+1)
		}
		if err := c.Check(signed(310, map[string]string{"b": "T"}, "x", "access1", "secret1x")); err != nil {
			t.Fatalf("%q: the rules in force changed: %v", bad.want, err)
		}
		if a, _ := c.Rules().Account("admin01"); a == nil || !a.Admin {
			t.Fatalf("%q: admin01 lost admin", bad.want)
		}
		out := strings.TrimSpace(logs.String())
		if strings.Count(out, "\n") != 0 || !strings.Contains(out, "level=ERROR") || !strings.Contains(out, path) ||
			!strings.Contains(out, "accounts[") || strings.Contains(out, "secret1x") {
			t.Fatalf("%q: log %q, want one error line naming the file and the account", bad.want, out)
		}
	}
}
