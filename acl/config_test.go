package acl

import (
	"net/netip"
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
		"duplicate":        {"accounts:\n  - {accessKey: a, secretKey: b}\n  - {accessKey: a, secretKey: c}\n", "listed twice"},
		"bad perm item":    {"accounts:\n  - {accessKey: a, secretKey: b, topicPerms: [topicA]}\n", "NAME=PERM"},
		"bad address":      {"accounts:\n  - {accessKey: a, secretKey: b, whiteRemoteAddress: 300.1.1.1}\n", "not an IP"},
		"bad global":       {"globalWhiteRemoteAddresses: [10.1.*.5]\n", "only '*' may follow"},
		"empty":            {"", "no accounts"},
		"list as a secret": {"accounts:\n  - {accessKey: a, secretKey: [x]}\n", "single value"},
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
