package nameserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/wharfmq/wharf/remoting/body"
)

// TestRegistry runs testdata/registry against a fresh registry per file.
// Commands (times are offsets from a fixed start):
//
//	register name=N addr=A [id=0] [ha=H] [cluster=C] [topics=(T,...)] [queues=1] [perm=6]
//	         [dv=0] [sv=0] [base=DV] [part=I parts=K] [conn=0] [at=0s] [closed]
//	    topics absent: no topic information; base: a partial registration
//	    building on version base; closed: the connection closed during it.
//	    sv: dataVersion.stateVersion (the master epoch).
//	    Prints first/again, need-table, the master a slave is told,
//	    displaced (a live holder of the id at the same stateVersion lost
//	    it), stale (ignored: a higher stateVersion holds the id), or the
//	    error.
//	unregister name=N addr=A [id=0]      prints whether it removed the address
//	expire at=D after=D                  prints the addresses dropped
//	dropconn conn=I                      prints the addresses dropped
//	delete topic=T                       prints whether the topic existed
//	route topic=T                        prints the route (queue and broker datas)
//	state                                prints clusters, brokers and topics
func TestRegistry(t *testing.T) {
	datadriven.Walk(t, "testdata/registry", func(t *testing.T, path string) {
		r := newRegistry()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "register":
				return ddRegister(t, d, r, t0)
			case "unregister":
				var name, addr string
				var id int64
				d.ScanArgs(t, "name", &name)
				d.ScanArgs(t, "addr", &addr)
				d.MaybeScanArgs(t, "id", &id)
				return fmt.Sprintln(r.unregister(name, addr, id))
			case "expire":
				at, after := ddDuration(t, d, "at"), ddDuration(t, d, "after")
				return ddDropped(r.expire(t0.Add(at), after))
			case "dropconn":
				var conn uint64
				d.ScanArgs(t, "conn", &conn)
				return ddDropped(r.dropConn(conn))
			case "delete":
				var topic string
				d.ScanArgs(t, "topic", &topic)
				return fmt.Sprintln(r.deleteTopic(topic))
			case "route":
				var topic string
				d.ScanArgs(t, "topic", &topic)
				rd, ok := r.route(topic)
				if !ok {
					return "no route\n"
				}
				var b strings.Builder
				for _, qd := range rd.QueueDatas {
					fmt.Fprintf(&b, "queue %s read=%d write=%d perm=%d\n", qd.BrokerName, qd.ReadQueueNums, qd.WriteQueueNums, qd.Perm)
				}
				for _, bd := range rd.BrokerDatas {
					fmt.Fprintf(&b, "broker %s cluster=%s %s\n", bd.BrokerName, bd.Cluster, ddAddrs(bd))
				}
				return b.String()
			case "state":
				return ddState(r)
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func ddRegister(t *testing.T, d *datadriven.TestData, r *registry, t0 time.Time) string {
	g := registration{cluster: "C"}
	d.ScanArgs(t, "name", &g.name)
	d.ScanArgs(t, "addr", &g.addr)
	d.MaybeScanArgs(t, "id", &g.id)
	d.MaybeScanArgs(t, "cluster", &g.cluster)
	d.MaybeScanArgs(t, "conn", &g.connID)
	d.MaybeScanArgs(t, "ha", &g.haServerAddr)
	d.MaybeScanArgs(t, "part", &g.part)
	d.MaybeScanArgs(t, "parts", &g.parts)
	if d.HasArg("topics") {
		var topics []string
		queues, perm := int32(1), PermRead|PermWrite
		var dv, sv int64
		d.ScanArgs(t, "topics", &topics)
		d.MaybeScanArgs(t, "queues", &queues)
		d.MaybeScanArgs(t, "perm", &perm)
		d.MaybeScanArgs(t, "dv", &dv)
		d.MaybeScanArgs(t, "sv", &sv)
		g.topics = &body.RegisterBody{TopicConfigTable: map[string]TopicConfig{}, DataVersion: DataVersion{Counter: dv, StateVersion: sv}}
		for _, name := range topics {
			g.topics.TopicConfigTable[name] = topicTest(name, queues, perm)
		}
	}
	if d.HasArg("base") {
		var base int64
		d.ScanArgs(t, "base", &base)
		g.base = &DataVersion{Counter: base}
	}
	if d.HasArg("closed") {
		done := make(chan struct{})
		close(done)
		g.connDone = done
	}
	var at time.Duration
	if d.HasArg("at") {
		at = ddDuration(t, d, "at")
	}
	res, err := r.register(g, t0.Add(at))
	if err != nil {
		return fmt.Sprintf("error: %v\n", err)
	}
	if res.stale {
		return fmt.Sprintf("stale: %s holds the id at stateVersion %d\n", res.staleHolder, res.staleVersion)
	}
	out := "again"
	if res.first {
		out = "first"
	}
	if res.needTable {
		out += " need-table"
	}
	if res.masterAddr != "" {
		out += fmt.Sprintf(" master=%s ha=%q", res.masterAddr, res.haServerAddr)
	}
	if res.displaced != "" {
		out += " displaced=" + res.displaced
	}
	return out + "\n"
}

func ddDuration(t *testing.T, d *datadriven.TestData, key string) time.Duration {
	var s string
	d.ScanArgs(t, key, &s)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return v
}

func ddDropped(addrs []string) string {
	if len(addrs) == 0 {
		return "dropped nothing\n"
	}
	return "dropped " + strings.Join(addrs, " ") + "\n"
}

// ddAddrs prints a broker's addresses by id, in id order.
func ddAddrs(bd BrokerData) string {
	ids := make([]int64, 0, len(bd.BrokerAddrs))
	for id := range bd.BrokerAddrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%d=%s", id, bd.BrokerAddrs[id]))
	}
	return strings.Join(parts, " ")
}

// ddState prints what the registry serves: GET_BROKER_CLUSTER_INFO and the
// route of every topic in GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
func ddState(r *registry) string {
	var b strings.Builder
	ci := r.clusterInfo()
	for _, c := range sortedKeys(ci.ClusterAddrTable) {
		fmt.Fprintf(&b, "cluster %s: %s\n", c, strings.Join(ci.ClusterAddrTable[c], " "))
	}
	for _, name := range sortedKeys(ci.BrokerAddrTable) {
		bd := ci.BrokerAddrTable[name]
		fmt.Fprintf(&b, "broker %s cluster=%s %s\n", name, bd.Cluster, ddAddrs(bd))
	}
	for _, topic := range r.topicList() {
		rd, ok := r.route(topic)
		var names []string
		for _, qd := range rd.QueueDatas {
			names = append(names, qd.BrokerName)
		}
		if !ok {
			names = append(names, "(no route)")
		}
		fmt.Fprintf(&b, "topic %s: %s\n", topic, strings.Join(names, " "))
	}
	if b.Len() == 0 {
		return "empty\n"
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
