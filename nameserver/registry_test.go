package nameserver

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func reg(name, addr string, id int64, topics ...TopicConfig) registration {
	r := registration{cluster: "C", name: name, addr: addr, id: id}
	if topics != nil {
		r.topics = &brokerTopics{table: map[string]TopicConfig{}}
		for _, tc := range topics {
			r.topics.table[tc.TopicName] = tc
		}
	}
	return r
}

func mustRegister(t *testing.T, r *registry, g registration, now time.Time) registerResult {
	t.Helper()
	res, err := r.register(g, now)
	if err != nil {
		t.Fatalf("register %s %s: %v", g.name, g.addr, err)
	}
	return res
}

func routeBrokers(r *registry, topic string) []string {
	rd, ok := r.route(topic)
	if !ok {
		return nil
	}
	var names []string
	for _, bd := range rd.BrokerDatas {
		names = append(names, bd.BrokerName)
	}
	return names
}

// An address that comes back under another broker name leaves the old
// name, which goes with its topics when it has no address left.
func TestRegistryAddressChangesName(t *testing.T) {
	r := newRegistry()
	now := time.Now()
	mustRegister(t, r, reg("old", "h:1", 0, topicTest("T", 1, 6)), now)
	mustRegister(t, r, reg("new", "h:1", 0, topicTest("U", 1, 6)), now)
	if got := routeBrokers(r, "T"); got != nil {
		t.Fatalf("T still routed to %v", got)
	}
	if got := routeBrokers(r, "U"); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("U routed to %v", got)
	}
	if ci := r.clusterInfo(); !slices.Equal(ci.ClusterAddrTable["C"], []string{"new"}) {
		t.Fatalf("cluster C has %v", ci.ClusterAddrTable["C"])
	}
}

// A slave promoted to master keeps one entry, under id 0.
func TestRegistryRoleSwitch(t *testing.T) {
	r := newRegistry()
	now := time.Now()
	mustRegister(t, r, reg("b", "h:2", 1), now)
	mustRegister(t, r, reg("b", "h:2", 0, topicTest("T", 1, 6)), now)
	rd, ok := r.route("T")
	if !ok || len(rd.BrokerDatas[0].BrokerAddrs) != 1 || rd.BrokerDatas[0].BrokerAddrs[0] != "h:2" {
		t.Fatalf("route %+v ok=%v", rd, ok)
	}
}

// A new address under an existing id replaces the old one, and a late
// unregister from the old address changes nothing.
func TestRegistryReplacedAddress(t *testing.T) {
	r := newRegistry()
	now := time.Now()
	mustRegister(t, r, reg("b", "h:1", 0, topicTest("T", 1, 6)), now)
	mustRegister(t, r, reg("b", "h:9", 0, topicTest("T", 1, 6)), now)
	if r.unregister("b", "h:1", 0) {
		t.Fatal("unregister of the replaced address succeeded")
	}
	rd, ok := r.route("T")
	if !ok || rd.BrokerDatas[0].BrokerAddrs[0] != "h:9" {
		t.Fatalf("route %+v ok=%v", rd, ok)
	}
	// The replaced address has no liveness entry left to expire.
	if dropped := r.expire(now.Add(time.Hour), time.Minute); !slices.Equal(dropped, []string{"h:9"}) {
		t.Fatalf("expired %v, want only h:9", dropped)
	}
}

func TestRegistryExpireAndDropConn(t *testing.T) {
	r := newRegistry()
	t0 := time.Now()
	a := reg("a", "h:1", 0, topicTest("T", 1, 6))
	a.connID = 7
	b := reg("b", "h:2", 0, topicTest("T", 1, 6))
	b.connID = 8
	mustRegister(t, r, a, t0)
	mustRegister(t, r, b, t0.Add(time.Minute))

	if got := r.expire(t0.Add(90*time.Second), time.Minute); !slices.Equal(got, []string{"h:1"}) {
		t.Fatalf("expired %v, want h:1", got)
	}
	if got := routeBrokers(r, "T"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("T routed to %v", got)
	}
	if got := r.dropConn(7); got != nil {
		t.Fatalf("conn 7 dropped %v again", got)
	}
	if got := r.dropConn(8); !slices.Equal(got, []string{"h:2"}) {
		t.Fatalf("conn 8 dropped %v", got)
	}
	if _, ok := r.route("T"); ok || len(r.topicList()) != 0 {
		t.Fatalf("topics left: %v", r.topicList())
	}
}

func TestRegistryRefusesClosedConn(t *testing.T) {
	r := newRegistry()
	done := make(chan struct{})
	close(done)
	g := reg("a", "h:1", 0, topicTest("T", 1, 6))
	g.connDone = done
	if _, err := r.register(g, time.Now()); !errors.Is(err, errConnClosed) {
		t.Fatalf("err %v, want errConnClosed", err)
	}
	if len(r.clusterInfo().BrokerAddrTable) != 0 {
		t.Fatal("registered through a closed connection")
	}
}

// A slave's topic table is ignored and an absent table leaves the
// master's topics alone.
func TestRegistryTopicsFromMasterOnly(t *testing.T) {
	r := newRegistry()
	now := time.Now()
	mustRegister(t, r, reg("b", "h:1", 0, topicTest("T", 1, 6)), now)
	mustRegister(t, r, reg("b", "h:2", 1, topicTest("S", 1, 6)), now)
	g := reg("b", "h:1", 0)
	mustRegister(t, r, g, now)
	if got := r.topicList(); !slices.Equal(got, []string{"T"}) {
		t.Fatalf("topics %v, want [T]", got)
	}
}
