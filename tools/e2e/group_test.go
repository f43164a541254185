package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
	"github.com/wharfmq/wharf/remoting"
	rbody "github.com/wharfmq/wharf/remoting/body"
)

// groupSegmentSize is the CommitLog segment of a group's brokers, master
// and slave alike (replication needs the same size on both).
const groupSegmentSize = 4 << 20

// node is a member of a group: its master or its slave.
type node int

const (
	masterNode node = iota // brokerId 0
	slaveNode              // brokerId 1, brokerRole SLAVE
)

func (n node) String() string {
	if n == masterNode {
		return "master"
	}
	return "slave"
}

// groupOpts configures a group. Zero values take the defaults named.
type groupOpts struct {
	brokerName string   // "broker-a"
	masterRole string   // brokerRole of the master: ASYNC_MASTER (default) or SYNC_MASTER
	flush      string   // flushDiskType of both: ASYNC_FLUSH
	namesrv    []string // name servers of both (required)
	// keys are broker.conf keys for both, over haTestKeys' and the
	// group's own; masterKeys and slaveKeys go over these for one.
	keys, masterKeys, slaveKeys map[string]string
	// haProxy puts a tcpproxy between the slave and the master's HA port
	// (the slave's haMasterAddress), so a test can stall or cut the
	// replication link; group.proxy is it.
	haProxy bool
}

// haTestKeys are test-sized HA timings (RocketMQ's defaults are 5 s
// heartbeats, a 20 s housekeeping and a 3 s slaveTimeout).
func haTestKeys() map[string]string {
	return map[string]string{
		"haSendHeartbeatInterval": "1000",
		"haHousekeepingInterval":  "3000",
		"slaveTimeout":            "1000",
	}
}

// group is one brokerName's master (brokerId 0) and slave (brokerId 1),
// each a `wharf broker` process with its own data dir, listen port and HA
// port, which stay the same across restarts. Start, kill -9, terminate or
// restart either; the other keeps running.
type group struct {
	name   string
	nodes  [2]*brokerSetup
	procs  [2]*brokerProc // the current or last run; nil before the first
	probes [2]*probeClient
	proxy  *tcpproxy.Proxy // with groupOpts.haProxy, else nil
}

// newGroup writes both brokers' configs; it starts neither.
func newGroup(t *testing.T, o groupOpts) *group {
	t.Helper()
	if len(o.namesrv) == 0 {
		t.Fatal("newGroup: no name server")
	}
	if o.brokerName == "" {
		o.brokerName = "broker-a"
	}
	if o.masterRole == "" {
		o.masterRole = "ASYNC_MASTER"
	}
	if o.flush == "" {
		o.flush = "ASYNC_FLUSH"
	}
	ports := testkit.FreePorts(t, 4) // listen and HA port of each
	port := func(i int) string {
		_, p, _ := net.SplitHostPort(ports[i])
		return p
	}
	g := &group{name: o.brokerName}
	if o.haProxy {
		g.proxy = tcpproxy.Start(t, ports[1])
	}
	for n := range []node{masterNode, slaveNode} {
		keys := haTestKeys()
		keys["brokerName"] = o.brokerName
		keys["flushDiskType"] = o.flush
		keys["mappedFileSizeCommitLog"] = strconv.Itoa(groupSegmentSize)
		keys["listenPort"] = port(2 * n)
		keys["haListenPort"] = port(2*n + 1)
		if node(n) == masterNode {
			keys["brokerId"], keys["brokerRole"] = "0", o.masterRole
		} else {
			keys["brokerId"], keys["brokerRole"] = "1", "SLAVE"
			if g.proxy != nil {
				keys["haMasterAddress"] = g.proxy.Addr()
			}
		}
		maps.Copy(keys, o.keys)
		if node(n) == masterNode {
			maps.Copy(keys, o.masterKeys)
		} else {
			maps.Copy(keys, o.slaveKeys)
		}
		g.nodes[n] = newBrokerSetupWith(t, brokerOpts{namesrv: o.namesrv, keys: keys})
		g.probes[n] = newProbe(g.nodes[n].addr)
		t.Cleanup(g.probes[n].Close)
	}
	return g
}

func (g *group) setup(n node) *brokerSetup { return g.nodes[n] }

// addr is the client address of n.
func (g *group) addr(n node) string { return g.nodes[n].addr }

// probe is a remoting client of n.
func (g *group) probe(n node) *probeClient { return g.probes[n] }

// running reports whether n's process is alive.
func (g *group) running(n node) bool {
	p := g.procs[n]
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// start runs n and waits until it serves requests.
func (g *group) start(t *testing.T, n node) *brokerProc {
	t.Helper()
	if g.running(n) {
		t.Fatalf("%s %s is already running", g.name, n)
	}
	p := g.nodes[n].start(t)
	g.procs[n] = p
	if _, err := p.until(10*time.Second, g.probes[n].serving); err != nil {
		t.Fatalf("%s %s: %v", g.name, n, err)
	}
	return p
}

// kill sends n SIGKILL (kill -9) and waits until it is gone.
func (g *group) kill(t *testing.T, n node) {
	t.Helper()
	if p := g.procs[n]; p != nil {
		p.kill(t)
	}
}

// terminate stops n with SIGTERM and checks it exits cleanly.
func (g *group) terminate(t *testing.T, n node) {
	t.Helper()
	if g.running(n) {
		g.procs[n].terminate(t, 15*time.Second)
	}
}

// restart kills n with SIGKILL if it runs, then starts it again.
func (g *group) restart(t *testing.T, n node) *brokerProc {
	t.Helper()
	g.kill(t, n)
	return g.start(t, n)
}

// routeOf asks the name server at nsAddr for topic's route
// (GET_ROUTEINFO_BY_TOPIC, 105).
func routeOf(ctx context.Context, c *remoting.Client, nsAddr, topic string) (rbody.TopicRouteData, error) {
	var rd rbody.TopicRouteData
	resp, err := c.Invoke(ctx, nsAddr, remoting.NewRequest(remoting.CodeGetRouteInfoByTopic, map[string]string{"topic": topic}, nil))
	if err != nil {
		return rd, err
	}
	if resp.Code != remoting.RespSuccess {
		return rd, fmt.Errorf("route of %s on %s: code %d %s", topic, nsAddr, resp.Code, resp.Remark)
	}
	if err := json.Unmarshal(resp.Body, &rd); err != nil {
		return rd, fmt.Errorf("route of %s on %s: %w", topic, nsAddr, err)
	}
	return rd, nil
}

// brokerAddrs is the id → address table of brokerName in topic's route
// on the name server at nsAddr.
func brokerAddrs(ctx context.Context, c *remoting.Client, nsAddr, topic, brokerName string) (map[int64]string, error) {
	rd, err := routeOf(ctx, c, nsAddr, topic)
	if err != nil {
		return nil, err
	}
	for _, bd := range rd.BrokerDatas {
		if bd.BrokerName == brokerName {
			return bd.BrokerAddrs, nil
		}
	}
	return nil, fmt.Errorf("route of %s on %s has no broker %s", topic, nsAddr, brokerName)
}

// waitRoute waits until every name server routes topic to exactly the
// addresses want (id → address) for brokerName.
func waitRoute(t *testing.T, c *remoting.Client, namesrv []string, topic, brokerName string, want map[int64]string) {
	t.Helper()
	for _, ns := range namesrv {
		var got map[int64]string
		var err error
		ok := testkit.Within(10*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			got, err = brokerAddrs(ctx, c, ns, topic, brokerName)
			return err == nil && maps.Equal(got, want)
		})
		if !ok {
			t.Fatalf("name server %s: route of %s for %s is %v (err %v) after 10 s, want %v", ns, topic, brokerName, got, err, want)
		}
	}
}

// runtimeInfo asks the broker for its runtime table
// (GET_BROKER_RUNTIME_INFO, 28): on a master haSlaveCount and
// haSlave.ADDR, on a slave haConnected and haEnd (broker/replication.go).
func (pc *probeClient) runtimeInfo(ctx context.Context) (map[string]string, error) {
	resp, err := pc.invoke(ctx, remoting.CodeGetBrokerRuntimeInfo, nil)
	if err != nil {
		return nil, err
	}
	if resp.Code != remoting.RespSuccess {
		return nil, fmt.Errorf("runtime info of %s: code %d %s", pc.addr, resp.Code, resp.Remark)
	}
	var kv rbody.KVTable
	if err := json.Unmarshal(resp.Body, &kv); err != nil {
		return nil, fmt.Errorf("runtime info of %s: %w", pc.addr, err)
	}
	return kv.Table, nil
}

// slaveEnd is the slave's CommitLog end as it reports it (haEnd).
func (g *group) slaveEnd(ctx context.Context) (int64, error) {
	tbl, err := g.probe(slaveNode).runtimeInfo(ctx)
	if err != nil {
		return 0, err
	}
	end, err := strconv.ParseInt(tbl["haEnd"], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("slave %s: haEnd %q: %w", g.addr(slaveNode), tbl["haEnd"], err)
	}
	return end, nil
}
