package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/failover"
	"github.com/wharfmq/wharf/controller"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// controllers is a real 3-controller Raft group on loopback whose members
// a test can stop and start again (same port, same store).
type controllers struct {
	t     *testing.T
	addrs []string
	cfgs  []controller.Config
	ctls  []*controller.Controller
}

// startControllers runs a real 3-controller Raft group on loopback and
// returns the addresses.
func startControllers(t *testing.T) []string { return startControllerGroup(t).addrs }

func startControllerGroup(t *testing.T) *controllers { return startControllerGroupWith(t, nil) }

// startControllerGroupWith is startControllerGroup with mut applied to
// each member's configuration (nil: the short test timings alone).
func startControllerGroupWith(t *testing.T, mut func(*controller.Config)) *controllers {
	g := &controllers{t: t, addrs: testkit.FreePorts(t, 3)}
	peers := make([]controller.Peer, len(g.addrs))
	for i, a := range g.addrs {
		peers[i] = controller.Peer{ID: fmt.Sprintf("n%d", i), Addr: a}
	}
	for i := range peers {
		cfg := controller.DefaultConfig()
		cfg.Peers, cfg.SelfID = peers, peers[i].ID
		cfg.StorePath = filepath.Join(t.TempDir(), peers[i].ID)
		cfg.HeartbeatTimeout, cfg.BrokerLease, cfg.LeaseMargin = time.Second, 600*time.Millisecond, 200*time.Millisecond
		cfg.ScanInterval, cfg.RaftHeartbeatTimeout = 50*time.Millisecond, 300*time.Millisecond
		if mut != nil {
			mut(&cfg)
		}
		g.cfgs = append(g.cfgs, cfg)
		g.ctls = append(g.ctls, nil)
		g.start(i)
	}
	t.Cleanup(func() {
		for i := range g.ctls {
			g.stop(i)
		}
	})
	return g
}

// start starts member i (again).
func (g *controllers) start(i int) {
	c, err := controller.New(g.cfgs[i], testkit.Logger(g.t))
	if err != nil {
		g.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.ctls[i] = c
}

// stop stops member i if it runs.
func (g *controllers) stop(i int) {
	if c := g.ctls[i]; c != nil {
		c.Close()
		g.ctls[i] = nil
	}
}

// replica is a failover driver over a fake node, talking to real
// controllers.
type replica struct {
	d    *failover.Driver
	r    *controllerRemote
	node *nodeFake
}

// nodeFake is a broker as the driver sees it, changed by hand.
type nodeFake struct {
	mu        sync.Mutex
	progress  failover.Progress
	followers []failover.Follower
}

func (n *nodeFake) BecomeMaster(context.Context, int32, failover.SyncStateSet) error { return nil }
func (n *nodeFake) BecomeSlave(context.Context, string, int64, int32) error          { return nil }
func (n *nodeFake) SetAckSet([]int64)                                                {}
func (n *nodeFake) Progress() failover.Progress {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.progress
}
func (n *nodeFake) Followers() []failover.Follower {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.followers)
}

func startReplica(t *testing.T, ctls []string, addr, dir string) *replica {
	rep := &replica{node: &nodeFake{}}
	var d *failover.Driver
	rep.r = newControllerRemote(ctls, func() { d.Notify() }, remoting.ClientOptions{Logger: testkit.Logger(t), DialTimeout: time.Second})
	d = failover.New(failover.Options{Cluster: "C", BrokerName: "b", Addr: addr, Dir: dir, Controller: rep.r, Node: rep.node,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: time.Second, Lease: 600 * time.Millisecond,
		Poll: 200 * time.Millisecond, CheckSyncStateSet: 100 * time.Millisecond, FenceOnLeaseLoss: true,
		ElectionPriority: 1 << 30, Logger: testkit.Logger(t)})
	rep.d = d
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.stop)
	return rep
}

func (r *replica) stop() {
	r.d.Close()
	r.r.Close()
}

// TestDriversFailOverThroughRealControllers: the first replica becomes
// master, the second follows it and joins the SyncStateSet once caught
// up; when the master stops, the controllers elect the second after the
// old lease, and it becomes master with the next epoch.
func TestFailoverDriversThroughRealControllers(t *testing.T) {
	ctls := startControllers(t)
	a := startReplica(t, ctls, "127.0.0.1:10911", t.TempDir())
	testkit.Eventually(t, 10*time.Second, func() bool { return a.d.Role() == failover.RoleMaster }, "the first replica becomes master")
	b := startReplica(t, ctls, "127.0.0.1:10921", t.TempDir())
	testkit.Eventually(t, 10*time.Second, func() bool { return b.d.Role() == failover.RoleSlave }, "the second follows")
	if st := b.d.Status(); st.MasterAddr != "127.0.0.1:10911" || st.ID != 2 {
		t.Fatalf("the slave's view: %+v", st)
	}
	// The slave caught up: the master's check grows the set.
	a.node.mu.Lock()
	a.node.progress = failover.Progress{Epoch: 1, MaxOffset: 100, ConfirmOffset: 100}
	a.node.followers = []failover.Follower{{ID: 2, Acked: 100, CaughtUp: time.Now().UnixNano(), Connected: true}}
	a.node.mu.Unlock()
	testkit.Eventually(t, 10*time.Second, func() bool { return slices.Equal(a.d.Status().Sync.IDs, []int64{1, 2}) },
		"the caught-up slave joins the SyncStateSet")
	epoch := a.d.Status().MasterEpoch
	if a.d.Fenced() {
		t.Fatal("a live master with a lease is fenced")
	}

	start := time.Now()
	a.stop()
	testkit.Eventually(t, 10*time.Second, func() bool { return b.d.Role() == failover.RoleMaster }, "the slave is elected")
	took := time.Since(start)
	st := b.d.Status()
	if st.MasterEpoch != epoch+1 || !slices.Equal(st.Sync.IDs, []int64{2}) {
		t.Fatalf("the new master: %+v, want epoch %d and set [2]", st, epoch+1)
	}
	// Never before the old master's lease (600 ms) ran out.
	if took < 600*time.Millisecond {
		t.Fatalf("elected %s after the old master stopped: inside its lease", took)
	}
	t.Logf("failover took %s", took)
}
