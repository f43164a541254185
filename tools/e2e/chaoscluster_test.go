package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
	"github.com/wharfmq/wharf/remoting"
)

// Controller-mode timings of the chaos cluster, shared by controllers and
// brokers (the lease must be the same on both sides).
const (
	chaosLeaseMillis     = "600"
	chaosHBTimeoutMillis = "1000"
)

// ctlNode is one `wharf namesrv` process with an embedded controller: its
// name-server listen address, its Raft/remoting peer address and its data
// dir stay the same across restarts.
type ctlNode struct {
	id, dir, conf, listen, peer string
	runs                        int
	proc                        *brokerProc // the current or last run
}

// chaosRep is one replica of a controller-mode broker group. Its
// controllerAddr lists one tcpproxy per controller, so a test can cut the
// replica off the controllers alone; its HA port is behind a tcpproxy of
// its own, which it advertises (haAdvertisedAddress), so while it is
// master a test can cut or stall it off its slaves alone.
type chaosRep struct {
	s       *brokerSetup
	proc    *brokerProc
	probe   *probeClient
	ctlLink []*tcpproxy.Proxy
	haLink  *tcpproxy.Proxy
}

// chaosGroup is one brokerName's replicas.
type chaosGroup struct {
	name string
	reps []*chaosRep
}

// chaosCluster is the whole cluster of real processes on loopback: three
// name servers with controllers, and the broker groups.
type chaosCluster struct {
	bin    string
	ctls   []*ctlNode
	groups []*chaosGroup
	nsc    *remoting.Client // name-server and controller requests
}

// chaosOpts shapes a chaos cluster.
type chaosOpts struct {
	replicas map[string]int    // brokerName -> replica count
	keys     map[string]string // broker.conf keys over the chaos ones
}

// newChaosCluster writes every config and starts the controllers, then
// every replica of every group, first replica first (it becomes master).
func newChaosCluster(t *testing.T, o chaosOpts) *chaosCluster {
	t.Helper()
	c := &chaosCluster{bin: wharfBinary(t), nsc: remoting.NewClient(remoting.ClientOptions{Logger: quietLogger(),
		DialTimeout: 300 * time.Millisecond})}
	t.Cleanup(func() { c.nsc.Close() })
	ports := testkit.FreePorts(t, 6)
	var peers []string
	for i := range 3 {
		n := &ctlNode{id: fmt.Sprintf("n%d", i), dir: t.TempDir(), listen: ports[2*i], peer: ports[2*i+1]}
		n.conf = filepath.Join(n.dir, "namesrv.conf")
		c.ctls = append(c.ctls, n)
		peers = append(peers, n.id+"-"+n.peer)
	}
	for _, n := range c.ctls {
		conf := map[string]string{
			"enableControllerInNamesrv":            "true",
			"controllerDLegerGroup":                "chaos",
			"controllerDLegerPeers":                strings.Join(peers, ";"),
			"controllerDLegerSelfId":               n.id,
			"controllerStorePath":                  filepath.Join(n.dir, "controller"),
			"controllerHeartBeatTimeoutMills":      chaosHBTimeoutMillis,
			"brokerLeaseMillis":                    chaosLeaseMillis,
			"brokerLeaseMarginMillis":              "200",
			"scanNotActiveBrokerInterval":          "50",
			"controllerRaftHeartbeatTimeoutMillis": "300",
		}
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(conf)) {
			fmt.Fprintf(&b, "%s=%s\n", k, conf[k])
		}
		if err := os.WriteFile(n.conf, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range c.ctls {
		c.startCtl(t, i)
	}
	testkit.Eventually(t, 15*time.Second, func() bool { return c.ctlLeader() >= 0 }, "a controller leader")

	for _, name := range slices.Sorted(maps.Keys(o.replicas)) {
		g := &chaosGroup{name: name}
		for range o.replicas[name] {
			g.reps = append(g.reps, c.newRep(t, name, o.keys))
		}
		c.groups = append(c.groups, g)
	}
	for _, g := range c.groups {
		for i := range g.reps {
			c.startRep(t, g, i)
			// Set-up, not a fault under test: a loaded CI box may take
			// long; a failure says what each replica was doing.
			if i == 0 && !testkit.Within(30*time.Second, func() bool { m, _ := c.master(g); return m == 0 }) {
				t.Fatalf("%s: the first replica not elected within 30 s:\n%s%s", g.name, c.describe(g), c.logTails(g))
			}
		}
	}
	return c
}

// namesrv lists the name servers' listen addresses.
func (c *chaosCluster) namesrv() []string {
	out := make([]string, len(c.ctls))
	for i, n := range c.ctls {
		out[i] = n.listen
	}
	return out
}

// newRep writes a replica's broker.conf: controller mode, test timings,
// small segments, its controllerAddr through its own proxies.
func (c *chaosCluster) newRep(t *testing.T, name string, extra map[string]string) *chaosRep {
	t.Helper()
	r := &chaosRep{}
	var ctlAddrs []string
	for _, n := range c.ctls {
		p := tcpproxy.Start(t, n.listen)
		r.ctlLink = append(r.ctlLink, p)
		ctlAddrs = append(ctlAddrs, p.Addr())
	}
	keys := map[string]string{
		"brokerName":                      name,
		"enableControllerMode":            "true",
		"controllerAddr":                  strings.Join(ctlAddrs, ";"),
		"mappedFileSizeCommitLog":         strconv.Itoa(groupSegmentSize),
		"brokerHeartbeatInterval":         "100",
		"brokerLeaseMillis":               chaosLeaseMillis,
		"controllerHeartBeatTimeoutMills": chaosHBTimeoutMillis,
		"syncBrokerMetadataPeriod":        "200",
		"checkSyncStateSetPeriod":         "100",
		"haSendHeartbeatInterval":         "100",
		"haMaxTimeSlaveNotCatchup":        "3000",
	}
	maps.Copy(keys, extra)
	r.s = newBrokerSetupWith(t, brokerOpts{namesrv: c.namesrv(), keys: keys})
	// Slaves reach this replica's HA port only through its proxy.
	r.haLink = tcpproxy.Start(t, r.s.haAddr)
	r.s.keys["haAdvertisedAddress"] = r.haLink.Addr()
	// The controller assigns ids and roles: none in the file.
	delete(r.s.keys, "brokerId")
	delete(r.s.keys, "brokerRole")
	r.s.writeConf(t)
	r.probe = newProbe(r.s.addr)
	t.Cleanup(r.probe.Close)
	return r
}

func alive(p *brokerProc) bool {
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

// startCtl starts name server i and waits until it answers 1005.
func (c *chaosCluster) startCtl(t *testing.T, i int) {
	t.Helper()
	n := c.ctls[i]
	if alive(n.proc) {
		t.Fatalf("controller %s already runs", n.id)
	}
	n.runs++
	n.proc = startProc(t, c.bin, filepath.Join(n.dir, fmt.Sprintf("namesrv-%03d.log", n.runs)),
		"namesrv", "-c", n.conf, "--listen", n.listen)
	if _, err := n.proc.until(15*time.Second, func(ctx context.Context) error {
		_, err := client.GetMetadata(ctx, c.nsc, n.listen)
		return err
	}); err != nil {
		t.Fatalf("controller %s: %v", n.id, err)
	}
}

// ctlLeader is the index of the controller that says it leads, or -1.
func (c *chaosCluster) ctlLeader() int {
	for i, n := range c.ctls {
		if !alive(n.proc) {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		md, err := client.GetMetadata(ctx, c.nsc, n.listen)
		cancel()
		if err == nil && md.IsLeader {
			return i
		}
	}
	return -1
}

// startRep starts replica i of g and waits until it serves.
func (c *chaosCluster) startRep(t *testing.T, g *chaosGroup, i int) {
	t.Helper()
	r := g.reps[i]
	if alive(r.proc) {
		t.Fatalf("%s replica %d already runs", g.name, i)
	}
	r.proc = r.s.start(t)
	if _, err := r.proc.until(15*time.Second, r.probe.serving); err != nil {
		t.Fatalf("%s replica %d: %v", g.name, i, err)
	}
}

// repState is what a replica says of itself (GET_BROKER_RUNTIME_INFO).
type repState struct {
	id      string // the controller-assigned replica id
	role    string
	epoch   int
	sync    []string
	fenced  bool
	lastErr string // controllerLastError
}

func (r *chaosRep) state() (repState, error) {
	if !alive(r.proc) {
		return repState{}, errExited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	tbl, err := r.probe.runtimeInfo(ctx)
	if err != nil {
		return repState{}, err
	}
	st := repState{id: tbl["controllerBrokerId"], role: tbl["controllerRole"], fenced: tbl["writeFenced"] == "true",
		lastErr: tbl["controllerLastError"]}
	st.epoch, _ = strconv.Atoi(tbl["masterEpoch"])
	if s := tbl["syncStateSet"]; s != "" {
		st.sync = strings.Split(s, ",")
	}
	return st, nil
}

// master is the index of the replica of g that says it is master, not
// fenced, at the highest epoch, and that epoch; -1 if none.
func (c *chaosCluster) master(g *chaosGroup) (int, int) {
	best, epoch := -1, -1
	for i, r := range g.reps {
		st, err := r.state()
		if err == nil && st.role == "MASTER" && !st.fenced && st.epoch > epoch {
			best, epoch = i, st.epoch
		}
	}
	return best, epoch
}

// waitMaster waits for a master of g at an epoch above after, and returns
// it and its epoch.
func (c *chaosCluster) waitMaster(t *testing.T, g *chaosGroup, after int, within time.Duration) (int, int) {
	t.Helper()
	m, e := -1, -1
	if !testkit.Within(within, func() bool {
		m, e = c.master(g)
		return m >= 0 && e > after
	}) {
		t.Fatalf("%s: no master above epoch %d within %v (last %d at %d)\n%s%s", g.name, after, within, m, e, c.describe(g), c.ctlLogs())
	}
	return m, e
}

// waitHealthy waits until every replica of g runs and g's master counts
// all of them in its SyncStateSet.
func (c *chaosCluster) waitHealthy(t *testing.T, g *chaosGroup, within time.Duration) {
	t.Helper()
	if !testkit.Within(within, func() bool {
		m, _ := c.master(g)
		if m < 0 {
			return false
		}
		st, err := g.reps[m].state()
		return err == nil && len(st.sync) == len(g.reps)
	}) {
		t.Fatalf("%s: not all %d replicas in sync within %v\n%s%s", g.name, len(g.reps), within, c.describe(g), c.logTails(g))
	}
}

// describe is every replica's state, for failure messages.
func (c *chaosCluster) describe(g *chaosGroup) string {
	var b strings.Builder
	for i, r := range g.reps {
		st, err := r.state()
		fmt.Fprintf(&b, "  %s[%d] %s: %+v %v\n", g.name, i, r.s.addr, st, err)
	}
	return b.String()
}

// logTails is the end of every replica's current log of g.
func (c *chaosCluster) logTails(g *chaosGroup) string {
	var b strings.Builder
	for i, r := range g.reps {
		if r.proc != nil {
			fmt.Fprintf(&b, "---- %s[%d] %s\n%s\n", g.name, i, r.s.addr, r.proc.logTail())
		}
	}
	return b.String()
}

// roleLines returns, for every replica of g and every run of it, the log
// lines that tell a role story (elections, promotions, truncations,
// consume-queue holes, panics): what a failed failover check needs to be
// explained after the fact.
func (c *chaosCluster) roleLines(g *chaosGroup) string {
	words := []string{"master", "slave", "truncat", "cutting", "hole", "panic", "invariant", "epoch"}
	var b strings.Builder
	for i, r := range g.reps {
		for run := 1; run <= r.s.runs; run++ {
			path := filepath.Join(r.s.dir, fmt.Sprintf("broker-%03d.log", run))
			data, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			fmt.Fprintf(&b, "---- %s[%d] %s run %d\n", g.name, i, r.s.addr, run)
			for line := range strings.Lines(string(data)) {
				low := strings.ToLower(line)
				if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(low, w) }) {
					b.WriteString(line)
				}
			}
		}
	}
	return b.String()
}

// signal sends sig to p.
func signal(t *testing.T, p *brokerProc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to pid %d: %v", sig, p.cmd.Process.Pid, err)
	}
}

// cutControllers cuts (on) or heals (off) every link of r to the
// controllers: new connections are refused and current ones reset.
func (r *chaosRep) cutControllers(on bool) {
	for _, p := range r.ctlLink {
		p.Refuse(on)
		if on {
			p.Cut()
		}
	}
}

// storeHost is the address that wrote a message, from its offsetMsgId.
func storeHost(offsetMsgID string) string {
	ap, _, err := msg.ParseOffsetMsgID(offsetMsgID)
	if err != nil {
		return ""
	}
	return ap.String()
}

// routes is every name server's broker table of the chaos topic, for
// failure messages.
func (c *chaosCluster) routes() string {
	var b strings.Builder
	for _, ns := range c.namesrv() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		rd, err := routeOf(ctx, c.nsc, ns, chaosTopic)
		cancel()
		fmt.Fprintf(&b, "  route on %s: %+v %v\n", ns, rd.BrokerDatas, err)
	}
	return b.String()
}

// ctlLogs is the end of every controller's current log, for failure
// messages.
func (c *chaosCluster) ctlLogs() string {
	var b strings.Builder
	for _, n := range c.ctls {
		if n.proc != nil {
			fmt.Fprintf(&b, "---- controller %s (%s, peer %s)\n%s\n", n.id, n.listen, n.peer, n.proc.logTail())
		}
	}
	return b.String()
}
