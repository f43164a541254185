package controller

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
	"github.com/wharfmq/wharf/remoting"
)

// Test timings: short, so a failover takes about a second.
const (
	testHeartbeatTimeout = 1500 * time.Millisecond
	testLease            = 600 * time.Millisecond
	testMargin           = 200 * time.Millisecond
	testHeartbeatEvery   = 100 * time.Millisecond
)

func testConfig(t *testing.T, peers []Peer, self string) Config {
	cfg := DefaultConfig()
	cfg.Peers = peers
	cfg.SelfID = self
	cfg.StorePath = filepath.Join(t.TempDir(), self)
	cfg.HeartbeatTimeout = testHeartbeatTimeout
	cfg.BrokerLease = testLease
	cfg.LeaseMargin = testMargin
	cfg.ScanInterval = 50 * time.Millisecond
	cfg.RaftHeartbeatTimeout = time.Second // a loaded CI machine flaps with less
	return cfg
}

// startGroup starts n controllers on loopback. Ports chosen free can be
// taken by another process before the controllers bind them: then it
// tries again with other ports.
func startGroup(t *testing.T, n int) []*Controller {
	t.Helper()
	for attempt := 1; ; attempt++ {
		cs, err := tryStartConfigs(t, groupConfigs(t, n))
		if err == nil {
			return cs
		}
		if !errors.Is(err, syscall.EADDRINUSE) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; again with other ports", attempt, err)
	}
}

// groupConfigs returns the configs of an n-controller group on loopback.
func groupConfigs(t *testing.T, n int) []Config {
	addrs := testkit.FreePorts(t, n)
	peers := make([]Peer, n)
	for i, a := range addrs {
		peers[i] = Peer{ID: fmt.Sprintf("n%d", i), Addr: a}
	}
	cfgs := make([]Config, n)
	for i := range cfgs {
		cfgs[i] = testConfig(t, peers, peers[i].ID)
	}
	return cfgs
}

// startConfigs starts a controller per config; the test closes them.
func startConfigs(t *testing.T, cfgs []Config) []*Controller {
	t.Helper()
	cs, err := tryStartConfigs(t, cfgs)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// tryStartConfigs starts a controller per config, or closes those it
// started and returns the error.
func tryStartConfigs(t *testing.T, cfgs []Config) ([]*Controller, error) {
	cs := make([]*Controller, 0, len(cfgs))
	for _, cfg := range cfgs {
		c, err := New(cfg, testkit.Logger(t))
		if err == nil {
			err = c.Start()
		}
		if err != nil {
			for _, s := range cs {
				s.Close()
			}
			return nil, err
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs, nil
}

// leader waits for exactly one ready leader among the open controllers.
func leader(t *testing.T, cs []*Controller) *Controller {
	t.Helper()
	var l *Controller
	testkit.Eventually(t, 10*time.Second, func() bool {
		l = nil
		n := 0
		for _, c := range cs {
			if c != nil && c.IsLeader() {
				l, n = c, n+1
			}
		}
		return n == 1
	}, "no single leader among %d controllers", len(cs))
	return l
}

// fakeBroker is a replica driven by hand: a remoting client that records
// the role changes the controller pushes, and a heartbeat loop.
type fakeBroker struct {
	t     *testing.T
	id    int64
	addr  string
	rc    *remoting.Client
	roles chan api.NotifyBrokerRoleChanged
	epoch atomic.Int32

	mu       sync.Mutex
	lastSend time.Time // before the last lease renewal the leader answered
	stop     chan struct{}
	done     chan struct{}
}

func newFakeBroker(t *testing.T, addr string) *fakeBroker {
	b := &fakeBroker{t: t, addr: addr, roles: make(chan api.NotifyBrokerRoleChanged, 8),
		rc: remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})}
	b.rc.Handle(api.CodeNotifyBrokerRoleChanged, func(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
		h, err := api.ParseNotifyBrokerRoleChanged(req)
		if err != nil {
			t.Errorf("bad 1008: %v", err)
			return nil
		}
		select {
		case b.roles <- h:
		default:
		}
		return nil
	})
	t.Cleanup(func() { b.stopHeartbeats(); b.rc.Close() })
	return b
}

// testCtx bounds a whole test's requests.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (b *fakeBroker) hb() api.BrokerHeartbeat {
	return api.BrokerHeartbeat{ClusterName: "c", BrokerAddr: b.addr, BrokerName: "broker-a", BrokerID: b.id,
		Epoch: b.epoch.Load(), MaxOffset: 100, HeartbeatTimeoutMillis: testHeartbeatTimeout.Milliseconds(),
		ElectionPriority: api.DefaultElectionPriority}
}

// register does what a broker does on start: next id, apply, heartbeat,
// register; each step on the leader of the moment.
func (b *fakeBroker) register(_ string, all []string) api.RegisterBrokerResponse {
	ctx := testCtx(b.t)
	onLeader(b.t, b.rc, all, func(addr string) (err error) {
		b.id, err = client.GetNextBrokerID(ctx, b.rc, addr, api.GetNextBrokerIDRequest{ClusterName: "c", BrokerName: "broker-a"})
		return err
	})
	onLeader(b.t, b.rc, all, func(addr string) error {
		return client.ApplyBrokerID(ctx, b.rc, addr, api.ApplyBrokerIDRequest{ClusterName: "c", BrokerName: "broker-a",
			AppliedBrokerID: b.id, RegisterCheckCode: b.addr + ";1"})
	})
	b.heartbeatOnce(all)
	var resp api.RegisterBrokerResponse
	onLeader(b.t, b.rc, all, func(addr string) error {
		// A two-way heartbeat is recorded before its reply: the leader
		// now knows the replica alive (oneway ones race with later
		// requests).
		if _, _, err := client.RenewLease(ctx, b.rc, addr, b.hb()); err != nil {
			return err
		}
		var err error
		resp, _, err = client.RegisterBroker(ctx, b.rc, addr, api.RegisterBrokerRequest{ClusterName: "c",
			BrokerName: "broker-a", BrokerID: b.id, BrokerAddress: b.addr})
		return err
	})
	return resp
}

// onLeader runs fn on the leader, finding it again while fn's answer says
// leadership moved: Raft may change leaders on a loaded machine, and a
// broker then asks the new one.
func onLeader(t *testing.T, rc *remoting.Client, all []string, fn func(addr string) error) {
	t.Helper()
	var last error
	testkit.Eventually(t, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		addr, err := client.FindLeader(ctx, rc, all, 300*time.Millisecond)
		cancel()
		if err != nil {
			last = err
			return false
		}
		last = fn(addr)
		if last != nil && client.Code(last) != api.RespNotLeader && !strings.Contains(last.Error(), "leadership lost") {
			t.Fatal(last)
		}
		return last == nil
	}, "no leader answered")
}

func (b *fakeBroker) heartbeatOnce(all []string) {
	for _, a := range all {
		_ = client.Heartbeat(b.rc, a, b.hb()) // a closed controller refuses
	}
}

// startHeartbeats heartbeats every controller; with renew, it also renews
// its lease with the leader and records when.
func (b *fakeBroker) startHeartbeats(all []string, renew bool) {
	b.stop, b.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(b.done)
		t := time.NewTicker(testHeartbeatEvery)
		defer t.Stop()
		for {
			b.heartbeatOnce(all)
			if renew {
				b.renew(all)
			}
			select {
			case <-b.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (b *fakeBroker) renew(all []string) {
	for _, a := range all {
		sent := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, _, err := client.RenewLease(ctx, b.rc, a, b.hb())
		cancel()
		if err == nil {
			b.mu.Lock()
			b.lastSend = sent
			b.mu.Unlock()
			return
		}
	}
}

func (b *fakeBroker) stopHeartbeats() {
	if b.stop != nil {
		close(b.stop)
		<-b.done
		b.stop = nil
	}
}

func (b *fakeBroker) lastRenewal() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastSend
}

// waitAlive waits until controller c has seen replica id's heartbeat:
// oneway heartbeats and other requests are not ordered.
func waitAlive(t *testing.T, c *Controller, id int64) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, func() bool { return c.live.Alive("broker-a", id) }, "replica %d not alive on %s", id, c.self.ID)
}

func addrsOf(cs []*Controller) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Addr())
	}
	return out
}

func TestThreeControllersElectAndFailOver(t *testing.T) {
	cs := startGroup(t, 3)
	all := addrsOf(cs)
	l := leader(t, cs)
	ctx := testCtx(t)

	// Leader discovery works through any controller.
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	found, err := client.FindLeader(ctx, rc, all, time.Second)
	if err != nil || found != l.Addr() {
		t.Fatalf("FindLeader = %q, %v; want %s", found, err, l.Addr())
	}

	// The first replica registers and becomes master on asking.
	a := newFakeBroker(t, "127.0.0.1:30911")
	if resp := a.register(l.Addr(), all); resp.MasterBrokerID != api.NoMaster {
		t.Fatalf("register before any master: %+v", resp)
	}
	mi, body, code, err := client.ElectMaster(ctx, a.rc, l.Addr(), api.ElectMasterRequest{ClusterName: "c", BrokerName: "broker-a", BrokerID: a.id})
	if err != nil || code != 0 || mi.MasterBrokerID != a.id || mi.MasterEpoch != 1 || mi.MasterAddress != a.addr {
		t.Fatalf("first election: %+v %+v code %d %v", mi, body, code, err)
	}
	a.epoch.Store(mi.MasterEpoch)
	a.startHeartbeats(all, true)
	waitAlive(t, l, a.id)

	// A second replica registers and learns the master.
	b := newFakeBroker(t, "127.0.0.1:31911")
	resp := b.register(l.Addr(), all)
	if b.id != 2 || resp.MasterBrokerID != a.id || resp.MasterAddress != a.addr || resp.MasterEpoch != 1 {
		t.Fatalf("second replica: id %d, %+v", b.id, resp)
	}
	b.epoch.Store(1)
	b.startHeartbeats(all, false)
	waitAlive(t, l, b.id)

	// The master adds it to the SyncStateSet.
	sss, err := client.AlterSyncStateSet(ctx, a.rc, l.Addr(), api.AlterSyncStateSetRequest{BrokerName: "broker-a",
		MasterBrokerID: a.id, MasterEpoch: 1}, api.SyncStateSet{SyncStateSet: []int64{1, 2}, SyncStateSetEpoch: mi.SyncStateSetEpoch})
	if err != nil || !sss.Contains(1) || !sss.Contains(2) || sss.SyncStateSetEpoch != mi.SyncStateSetEpoch+1 {
		t.Fatalf("alter: %+v %v", sss, err)
	}

	// A follower refuses leader-only requests with 2007 and answers 1005.
	var follower *Controller
	for _, c := range cs {
		if c != l {
			follower = c
			break
		}
	}
	if _, _, err := client.GetReplicaInfo(ctx, rc, follower.Addr(), "broker-a"); client.Code(err) != api.RespNotLeader {
		t.Fatalf("follower GET_REPLICA_INFO: %v, want code 2007", err)
	}
	if md, err := client.GetMetadata(ctx, rc, follower.Addr()); err != nil || md.IsLeader || md.ControllerLeaderAddress != l.Addr() {
		t.Fatalf("follower metadata %+v %v", md, err)
	}
	// A follower refuses a lease renewal too.
	if _, _, err := client.RenewLease(ctx, rc, follower.Addr(), a.hb()); client.Code(err) != api.RespNotLeader {
		t.Fatalf("follower renewal: %v", err)
	}
	// Each controller prints its own configuration; none changes it at
	// run time.
	if body, err := client.GetConfig(ctx, rc, follower.Addr()); err != nil ||
		!strings.Contains(string(body), "controllerDLegerSelfId="+follower.cfg.SelfID+"\n") ||
		!strings.Contains(string(body), "brokerLeaseMillis=") {
		t.Fatalf("follower GET_CONTROLLER_CONFIG: %q %v", body, err)
	}
	if r, err := rc.Invoke(ctx, l.Addr(), remoting.NewRequest(api.CodeUpdateControllerConfig, nil, []byte("brokerLeaseMillis=1\n"))); err != nil ||
		r.Code != remoting.RespSystemError || l.cfg.BrokerLease == time.Millisecond {
		t.Fatalf("UPDATE_CONTROLLER_CONFIG: %v %v, lease now %s", r, err, l.cfg.BrokerLease)
	}
	// Unknown codes get 3.
	if r, err := rc.Invoke(ctx, l.Addr(), remoting.NewRequest(1999, nil, nil)); err != nil || r.Code != remoting.RespRequestCodeNotSupported {
		t.Fatalf("unknown code: %v %v", r, err)
	}

	// The master dies: it stops heartbeating and its connections close.
	// Nobody may replace it before its last renewal + lease + margin.
	testkit.Eventually(t, 5*time.Second, func() bool { return !a.lastRenewal().IsZero() }, "the master never renewed its lease")
	a.stopHeartbeats()
	last := a.lastRenewal()
	a.rc.Close()

	var role api.NotifyBrokerRoleChanged
	select {
	case role = <-b.roles:
	case <-time.After(5 * time.Second):
		t.Fatal("the second replica was not told it is master")
	}
	elected := time.Now()
	if role.MasterBrokerID != b.id || role.MasterEpoch != 2 || role.MasterAddress != b.addr {
		t.Fatalf("role change %+v", role)
	}
	if min := last.Add(testLease + testMargin); elected.Before(min) {
		t.Fatalf("new master %v after the old master's last renewal: before its lease + margin (%v)",
			elected.Sub(last), testLease+testMargin)
	}
	t.Logf("failover %v after the old master's last lease renewal", elected.Sub(last))
	b.epoch.Store(2)
	mi, sss, err = client.GetReplicaInfo(ctx, rc, l.Addr(), "broker-a")
	if err != nil || mi.MasterBrokerID != b.id || mi.MasterEpoch != 2 || len(sss.SyncStateSet) != 1 || !sss.Contains(b.id) {
		t.Fatalf("after failover: %+v %+v %v", mi, sss, err)
	}

	// The leader controller goes: another leads with the same state.
	l.Close()
	rest := make([]*Controller, 0, 2)
	for _, c := range cs {
		if c != l {
			rest = append(rest, c)
		}
	}
	l2 := leader(t, rest)
	mi2, sss2, err := client.GetReplicaInfo(ctx, rc, l2.Addr(), "broker-a")
	if err != nil || mi2 != mi || sss2.SyncStateSetEpoch != sss.SyncStateSetEpoch {
		t.Fatalf("new leader: %+v %+v %v, want %+v", mi2, sss2, err, mi)
	}
	// The new master keeps heartbeating: past the new leader's grace it
	// is still the master, and an election request keeps it (2011).
	var seen string
	if testkit.Within(l2.grace()+500*time.Millisecond, func() bool {
		got, _, err := client.GetReplicaInfo(ctx, rc, l2.Addr(), "broker-a")
		seen = fmt.Sprintf("%+v %v", got, err)
		return err != nil || got.MasterBrokerID != b.id || got.MasterEpoch != 2
	}) {
		t.Fatalf("the new leader deposed the alive master: %s", seen)
	}
	if _, _, code, err := client.ElectMaster(ctx, b.rc, l2.Addr(), api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: b.id}); err != nil || code != api.RespMasterStillExist {
		t.Fatalf("elect with an alive master: code %d, %v", code, err)
	}
	data, err := client.GetSyncStateData(ctx, rc, l2.Addr(), []string{"broker-a"})
	if err != nil {
		t.Fatal(err)
	}
	ri := data.ReplicasInfoTable["broker-a"]
	if ri.MasterBrokerID != b.id || len(ri.InSyncReplicas) != 1 || !ri.InSyncReplicas[0].Alive || len(ri.NotInSyncReplicas) != 1 {
		t.Fatalf("sync state data %+v", ri)
	}
}

// The whole group stops and starts again on its stores: the state is back
// (from a Raft snapshot plus the log after it), and no group bootstraps a
// second time.
func TestGroupRestartKeepsState(t *testing.T) {
	cfgs := groupConfigs(t, 3)
	cs := startConfigs(t, cfgs)
	all := addrsOf(cs)
	l := leader(t, cs)
	a := newFakeBroker(t, "127.0.0.1:33911")
	a.register(l.Addr(), all)
	ctx := testCtx(t)
	if _, _, _, err := client.ElectMaster(ctx, a.rc, l.Addr(), api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: a.id}); err != nil {
		t.Fatal(err)
	}
	// A snapshot now, one more entry after it.
	if err := l.raft.Load().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	b := newFakeBroker(t, "127.0.0.1:34911")
	b.register(l.Addr(), all)
	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}

	cs = startConfigs(t, cfgs)
	l = leader(t, cs)
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	mi, sss, err := client.GetReplicaInfo(ctx, rc, l.Addr(), "broker-a")
	if err != nil || mi.MasterBrokerID != a.id || mi.MasterEpoch != 1 || !sss.Contains(a.id) {
		t.Fatalf("after restart: %+v %+v %v", mi, sss, err)
	}
	next, err := client.GetNextBrokerID(ctx, rc, l.Addr(), api.GetNextBrokerIDRequest{ClusterName: "c", BrokerName: "broker-a"})
	if err != nil || next != 3 {
		t.Fatalf("next broker id after restart: %d %v (the entry after the snapshot is lost)", next, err)
	}
	for _, c := range cs {
		if n := len(c.raft.Load().GetConfiguration().Configuration().Servers); n != 3 {
			t.Errorf("%s: %d servers in the configuration", c.self.ID, n)
		}
	}
}

// A master that goes silent with its connection open (a stopped process,
// a stalled network) is replaced after its heartbeat timeout, not before.
func TestSilentMasterReplacedAfterHeartbeatTimeout(t *testing.T) {
	cs := startGroup(t, 3)
	all := addrsOf(cs)
	l := leader(t, cs)
	ctx := testCtx(t)
	a := newFakeBroker(t, "127.0.0.1:35911")
	a.register(l.Addr(), all)
	mi, _, _, err := client.ElectMaster(ctx, a.rc, l.Addr(), api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: a.id})
	if err != nil {
		t.Fatal(err)
	}
	a.epoch.Store(mi.MasterEpoch)
	b := newFakeBroker(t, "127.0.0.1:36911")
	b.register(l.Addr(), all)
	b.epoch.Store(1)
	b.startHeartbeats(all, false)
	waitAlive(t, l, b.id)
	if _, err := client.AlterSyncStateSet(ctx, a.rc, l.Addr(), api.AlterSyncStateSetRequest{BrokerName: "broker-a",
		MasterBrokerID: a.id, MasterEpoch: 1}, api.SyncStateSet{SyncStateSet: []int64{1, 2}, SyncStateSetEpoch: mi.SyncStateSetEpoch}); err != nil {
		t.Fatal(err)
	}
	// One last heartbeat, then silence; the connection stays open.
	silentFrom := time.Now()
	a.heartbeatOnce(all)
	select {
	case role := <-b.roles:
		if d := time.Since(silentFrom); d < testHeartbeatTimeout || role.MasterBrokerID != b.id {
			t.Fatalf("replaced %v after the last heartbeat (timeout %v): %+v", d, testHeartbeatTimeout, role)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the silent master was not replaced")
	}
}

// With a majority of controllers down nobody leads: no lease is renewed
// and no master replaced. When a majority returns, elections resume.
func TestMajorityLossThenResume(t *testing.T) {
	cfgs := groupConfigs(t, 3)
	cs := startConfigs(t, cfgs)
	all := addrsOf(cs)
	l := leader(t, cs)
	ctx := testCtx(t)
	a := newFakeBroker(t, "127.0.0.1:37911")
	a.register(l.Addr(), all)
	mi, _, _, err := client.ElectMaster(ctx, a.rc, l.Addr(), api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: a.id})
	if err != nil {
		t.Fatal(err)
	}
	b := newFakeBroker(t, "127.0.0.1:38911")
	b.register(l.Addr(), all)
	b.epoch.Store(1)
	b.startHeartbeats(all, false)
	waitAlive(t, l, b.id)
	if _, err := client.AlterSyncStateSet(ctx, a.rc, l.Addr(), api.AlterSyncStateSetRequest{BrokerName: "broker-a",
		MasterBrokerID: a.id, MasterEpoch: 1}, api.SyncStateSet{SyncStateSet: []int64{1, 2}, SyncStateSetEpoch: mi.SyncStateSetEpoch}); err != nil {
		t.Fatal(err)
	}

	// Two controllers go, the leader among them; the master dies.
	var survivor *Controller
	var gone []int
	for i, c := range cs {
		if survivor == nil && c != l {
			survivor = c
			continue
		}
		gone = append(gone, i)
		c.Close()
	}
	a.rc.Close()
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	if _, _, err := client.RenewLease(ctx, rc, survivor.Addr(), b.hb()); client.Code(err) != api.RespNotLeader {
		t.Fatalf("renewal without a majority: %v, want 2007", err)
	}
	testkit.Never(t, 2*(testLease+testMargin), func() bool {
		select {
		case <-b.roles:
			return true
		default:
			return survivor.IsLeader()
		}
	}, "a lone controller led or elected")

	// One returns: a majority again, and the dead master is replaced.
	back := startConfigs(t, []Config{cfgs[gone[0]]})
	leader(t, []*Controller{survivor, back[0]})
	select {
	case role := <-b.roles:
		if role.MasterBrokerID != b.id || role.MasterEpoch != 2 {
			t.Fatalf("role change %+v", role)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no election after the majority returned")
	}
}

// TestFindLeaderPrefersConfiguredAddress: a broker reaching the
// controllers through other addresses (here proxies; a name server's port
// in embedded mode) keeps using them: FindLeader returns the configured
// address of the leader, even when a follower is asked first and names
// the leader's peer address. (Else a partition of the configured links
// leaves a direct one: found by the chaos test in tools/e2e.)
func TestFindLeaderPrefersConfiguredAddress(t *testing.T) {
	cs := startGroup(t, 3)
	l := leader(t, cs)
	var addrs []string
	want := ""
	// Followers first.
	for _, c := range append(slices.DeleteFunc(slices.Clone(cs), func(c *Controller) bool { return c == l }), l) {
		p := tcpproxy.Start(t, c.Addr())
		addrs = append(addrs, p.Addr())
		if c == l {
			want = p.Addr()
		}
	}
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	found, err := client.FindLeader(testCtx(t), rc, addrs, time.Second)
	if err != nil || found != want {
		t.Fatalf("FindLeader over %v = %q, %v; want the leader's proxy %s (leader %s)", addrs, found, err, want, l.Addr())
	}
}
