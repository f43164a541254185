package failover

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var bg = context.Background()

type rig struct {
	c    *clock
	ctl  *fakeController
	node *fakeNode
	d    *Driver
	dir  string
}

func newRig(t *testing.T, addr string, fence bool) *rig {
	c := newClock()
	r := &rig{c: c, ctl: newFakeController(c), node: &fakeNode{}, dir: t.TempDir()}
	r.ctl.node = r.node
	r.d = r.driver(t, addr, fence)
	return r
}

func (r *rig) driver(t *testing.T, addr string, fence bool) *Driver {
	return New(Options{Cluster: "C", BrokerName: "b", Addr: addr, Dir: r.dir, Controller: r.ctl, Node: r.node,
		FenceOnLeaseLoss: fence, Logger: testLogger(t), Now: r.c.Now})
}

func TestIdentityIsAppliedForOnceAndKept(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	id, err := resolveID(bg, r.ctl, r.dir, "C", "b", "127.0.0.1:1", r.c.Now)
	if err != nil || id != 1 {
		t.Fatalf("first id: %d, %v", id, err)
	}
	b, _ := os.ReadFile(filepath.Join(r.dir, IdentityFile))
	if string(b) != "C#b#1" {
		t.Fatalf("brokerIdentity holds %q, want RocketMQ's C#b#1", b)
	}
	if _, err := os.Stat(filepath.Join(r.dir, IdentityTempFile)); !os.IsNotExist(err) {
		t.Fatalf("the temp file is left behind: %v", err)
	}
	r.ctl.calls = nil
	id, err = resolveID(bg, r.ctl, r.dir, "C", "b", "127.0.0.1:1", r.c.Now)
	if err != nil || id != 1 || len(r.ctl.calls) != 0 {
		t.Fatalf("second start: id %d, err %v, controller calls %v (want none)", id, err, r.ctl.calls)
	}
	if _, err := resolveID(bg, r.ctl, r.dir, "C", "other", "127.0.0.1:1", r.c.Now); err == nil ||
		!strings.Contains(err.Error(), IdentityFile) || !strings.Contains(err.Error(), "belongs to broker b") {
		t.Fatalf("another broker's data: %v", err)
	}
	other := New(Options{Cluster: "C", BrokerName: "other", Dir: r.dir, Controller: r.ctl, Node: r.node, Logger: testLogger(t)})
	if err := other.Start(); err == nil || !strings.Contains(err.Error(), IdentityFile) {
		t.Fatalf("Start on another broker's data: %v, want an error naming %s", err, IdentityFile)
	}
}

func TestIdentityCrashAfterTempFileAppliesTheSameID(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	// A crash after brokerIdentity-temp was written and the application
	// reached the controller, before brokerIdentity was written.
	code := "127.0.0.1:1;42"
	r.ctl.ids[7] = code
	r.ctl.next = 8
	if err := os.WriteFile(filepath.Join(r.dir, IdentityTempFile), []byte("C#b#7#"+code), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := resolveID(bg, r.ctl, r.dir, "C", "b", "127.0.0.1:1", r.c.Now)
	if err != nil || id != 7 {
		t.Fatalf("after the crash: id %d, %v; want the id applied for before, 7", id, err)
	}
}

func TestIdentityTakenIDAsksAgain(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	r.ctl.ids[1] = "someone else"
	r.ctl.next = 1 // a stale answer: 1 is taken by the time we apply
	id, err := resolveID(bg, &takenOnce{fakeController: r.ctl}, r.dir, "C", "b", "127.0.0.1:1", r.c.Now)
	if err != nil || id != 2 {
		t.Fatalf("id %d, %v; want 2 after 1 was taken", id, err)
	}
}

// takenOnce answers the first NextBrokerID with a taken id.
type takenOnce struct {
	*fakeController
	asked bool
}

func (t *takenOnce) NextBrokerID(ctx context.Context, c, b string) (int64, error) {
	if !t.asked {
		t.asked = true
		return 1, nil
	}
	return 2, nil
}

func TestFirstReplicaElectsItselfAndHoldsALease(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	r.ctl.renewLag = 300 * time.Millisecond
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	st := r.d.Status()
	if st.Role != RoleMaster || st.MasterEpoch != 1 || !slices.Equal(r.node.ackSet(), []int64{1}) || r.node.role != "master" {
		t.Fatalf("after joining an empty group: %+v, node %s acks %v", st, r.node.role, r.node.ackSet())
	}
	// The lease runs from the renewal's send, not its answer.
	if want := DefaultLease - r.ctl.renewLag; st.LeaseLeft != want {
		t.Fatalf("lease left %s, want %s (lease counted from the send)", st.LeaseLeft, want)
	}
	if r.d.Fenced() {
		t.Fatal("fenced with a fresh lease")
	}
}

func TestLapsedLeaseFencesUntilRenewed(t *testing.T) {
	for _, fence := range []bool{true, false} {
		r := newRig(t, "127.0.0.1:1", fence)
		if err := r.d.register(bg); err != nil {
			t.Fatal(err)
		}
		r.ctl.down = true
		r.c.Add(DefaultLease - time.Millisecond)
		r.d.renew(bg)
		if r.d.Fenced() {
			t.Fatalf("fence=%v: fenced before the lease ran out", fence)
		}
		r.c.Add(time.Millisecond)
		r.d.renew(bg)
		if r.d.Fenced() != fence {
			t.Fatalf("fence=%v: Fenced()=%v once the lease lapsed", fence, r.d.Fenced())
		}
		r.ctl.down = false
		r.d.renew(bg)
		if r.d.Fenced() {
			t.Fatalf("fence=%v: still fenced after a renewal", fence)
		}
	}
}

func TestDeposedMasterFollowsTheNewOne(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.ctl.addrs[2] = "127.0.0.1:2"
	r.ctl.electOther(2)
	r.d.renew(bg) // the leader's answer names another master
	st := r.d.Status()
	if st.Role != RoleSlave || st.MasterEpoch != 2 || st.MasterAddr != "127.0.0.1:2" || r.node.master != "127.0.0.1:2" {
		t.Fatalf("after the election of 2: %+v, node following %q", st, r.node.master)
	}
	if r.d.Fenced() {
		t.Fatal("a slave reports fenced (its writes are refused as a slave's)")
	}
	// An older answer arriving late changes nothing.
	if err := r.d.apply(bg, Replicas{MasterID: 1, MasterAddr: "127.0.0.1:1", MasterEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	if got := r.node.changes; !slices.Equal(got, []string{"master", "slave of 127.0.0.1:2"}) {
		t.Fatalf("role changes %v", got)
	}
}

func TestSlaveJoinsAGroupWithAMaster(t *testing.T) {
	r := newRig(t, "127.0.0.1:2", true)
	r.ctl.next, r.ctl.master, r.ctl.epoch = 2, 1, 3
	r.ctl.addrs[1] = "127.0.0.1:1"
	r.ctl.sync = SyncStateSet{IDs: []int64{1}, Epoch: 4}
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	if st := r.d.Status(); st.Role != RoleSlave || st.ID != 2 || r.node.master != "127.0.0.1:1" || r.node.epoch != 3 {
		t.Fatalf("%+v, node %+v", st, r.node)
	}
	if slices.Contains(r.ctl.calls, "elect") || slices.Contains(r.ctl.calls, "renew") {
		t.Fatalf("a slave elected or renewed: %v", r.ctl.calls)
	}
}

func TestSyncStateSetGrowsThenShrinks(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.progress = Progress{Epoch: 1, EpochStart: 0, MaxOffset: 1000, ConfirmOffset: 1000}
	r.node.followers = []Follower{{ID: 2, Acked: 999, CaughtUp: r.c.Now().UnixNano(), Connected: true}}
	r.d.checkSyncStateSet(bg)
	if slices.Contains(r.ctl.calls, "alter") {
		t.Fatal("a replica short of the confirm offset joined the set")
	}
	r.node.followers[0].Acked = 1000
	r.d.checkSyncStateSet(bg)
	if !slices.Equal(r.ctl.ackAtAlter, []int64{1, 2}) {
		t.Fatalf("while the expansion was in flight the master counted acks of %v, want [1 2]", r.ctl.ackAtAlter)
	}
	if st := r.d.Status(); !slices.Equal(st.Sync.IDs, []int64{1, 2}) || st.Sync.Epoch != 2 || !slices.Equal(r.node.ackSet(), []int64{1, 2}) {
		t.Fatalf("after growing: %+v acks %v", st.Sync, r.node.ackSet())
	}
	r.c.Add(DefaultMaxNotCatchup + time.Second)
	r.d.checkSyncStateSet(bg)
	if !slices.Equal(r.ctl.ackAtAlter, []int64{1, 2}) {
		t.Fatalf("while the shrink was in flight the master counted acks of %v, want still [1 2]", r.ctl.ackAtAlter)
	}
	if st := r.d.Status(); !slices.Equal(st.Sync.IDs, []int64{1}) || !slices.Equal(r.node.ackSet(), []int64{1}) {
		t.Fatalf("after a member fell behind for haMaxTimeSlaveNotCatchup: %+v acks %v", st.Sync, r.node.ackSet())
	}
}

// A replica trailing the moving confirm offset by a frame joins: the master
// counts its acknowledgements, the confirm offset stops, it draws level.
func TestTrailingReplicaJoinsOnceCounted(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.progress = Progress{Epoch: 1, MaxOffset: 5000, ConfirmOffset: 5000}
	r.node.followers = []Follower{{ID: 2, Acked: 4000, Connected: true}}
	r.node.onAckSet = func(ids []int64) {
		if slices.Contains(ids, 2) {
			r.node.followers[0].Acked = 5000 // the master waits for it: it catches up
		}
	}
	r.d.checkSyncStateSet(bg)
	if !slices.Equal(r.ctl.ackAtAlter, []int64{1, 2}) {
		t.Fatalf("the master counted %v when it proposed the set, want [1 2]", r.ctl.ackAtAlter)
	}
	if st := r.d.Status(); !slices.Equal(st.Sync.IDs, []int64{1, 2}) {
		t.Fatalf("set %v after the trailing replica drew level, want [1 2]", st.Sync.IDs)
	}
}

// A replica level with the confirm offset when the master looks is
// counted, and then must still be level: a send confirmed by the old set
// between that look and the widening passed it, and a set proposed with it
// would let the controller elect a replica without that acknowledged send.
func TestNewcomerCheckedAgainstTheConfirmOffsetAfterWidening(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.progress = Progress{Epoch: 1, MaxOffset: 1000, ConfirmOffset: 1000}
	r.node.followers = []Follower{{ID: 2, Acked: 1000, CaughtUp: r.c.Now().UnixNano(), Connected: true}}
	moved := false
	r.node.onAckSet = func(ids []int64) {
		if slices.Contains(ids, 2) && !moved {
			moved = true // confirmed alone just before 2 was counted
			r.node.progress.ConfirmOffset, r.node.progress.MaxOffset = 1100, 1100
		}
	}
	r.d.checkSyncStateSet(bg)
	if !moved {
		t.Fatal("replica 2 was never counted: the test did not reach the race")
	}
	if slices.Contains(r.ctl.calls, "alter") || slices.Contains(r.d.Status().Sync.IDs, 2) || slices.Contains(r.node.ackSet(), 2) {
		t.Fatalf("replica 2 (holding 1000) joined although 1100 was confirmed: calls %v, set %v, counted %v",
			r.ctl.calls, r.d.Status().Sync.IDs, r.node.ackSet())
	}
	// Once it holds the confirmed bytes it joins.
	r.node.followers[0].Acked = 1100
	r.d.checkSyncStateSet(bg)
	if st := r.d.Status(); !slices.Equal(st.Sync.IDs, []int64{1, 2}) {
		t.Fatalf("set %v after replica 2 drew level, want [1 2]", st.Sync.IDs)
	}
}

// A near replica that does not draw level within joinWait is dropped from
// the counted set and not waited for again until joinBackoff passed; a
// replica beyond joinGap is never waited for.
func TestSlowReplicaStallsSendsOncePerBackoff(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.ackSets = nil
	r.node.progress = Progress{Epoch: 1, MaxOffset: 5000 + joinGap, ConfirmOffset: 5000 + joinGap}
	r.node.followers = []Follower{
		{ID: 2, Acked: 4000 + joinGap, Connected: true}, // near, never draws level
		{ID: 3, Acked: 4000, Connected: true},           // beyond joinGap
	}
	start := time.Now()
	r.d.checkSyncStateSet(bg)
	if waited := time.Since(start); waited < joinWait {
		t.Fatalf("returned after %v, before joinWait %v", waited, joinWait)
	}
	want := [][]int64{{1, 2}, {1}}
	if !slices.EqualFunc(r.node.ackSets, want, slices.Equal) || slices.Contains(r.ctl.calls, "alter") {
		t.Fatalf("counted sets %v (want %v), calls %v", r.node.ackSets, want, r.ctl.calls)
	}
	r.d.checkSyncStateSet(bg)
	if len(r.node.ackSets) != 2 {
		t.Fatalf("waited again within joinBackoff: %v", r.node.ackSets)
	}
	r.c.Add(joinBackoff)
	r.d.checkSyncStateSet(bg)
	if len(r.node.ackSets) != 4 {
		t.Fatalf("after joinBackoff the master did not try again: %v", r.node.ackSets)
	}
}

func TestLostExpansionKeepsCountingTheNewMember(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.progress = Progress{Epoch: 1, MaxOffset: 10, ConfirmOffset: 10}
	r.node.followers = []Follower{{ID: 2, Acked: 10, CaughtUp: r.c.Now().UnixNano(), Connected: true}}
	r.ctl.alterErr = errDown // the answer is lost; it may have been applied
	r.d.checkSyncStateSet(bg)
	if !slices.Equal(r.node.ackSet(), []int64{1, 2}) {
		t.Fatalf("after a lost expansion the master counts %v, want [1 2] until it settles", r.node.ackSet())
	}
	r.d.poll(bg) // same epoch: the request may still commit
	if !slices.Equal(r.node.ackSet(), []int64{1, 2}) {
		t.Fatalf("an answer of the old epoch dropped the pending member: %v", r.node.ackSet())
	}
	r.c.Add(alterSettle)
	r.d.poll(bg)
	if !slices.Equal(r.node.ackSet(), []int64{1}) {
		t.Fatalf("after settling, the controller's set is %v, the master counts %v", []int64{1}, r.node.ackSet())
	}
}

func TestNextSyncStateSet(t *testing.T) {
	now := time.Unix(100, 0)
	fresh, stale := now.Add(-time.Second).UnixNano(), now.Add(-time.Minute).UnixNano()
	p := Progress{EpochStart: 500, ConfirmOffset: 800}
	cases := []struct {
		name string
		cur  []int64
		fs   []Follower
		want []int64
	}{
		{"alone", []int64{1}, nil, []int64{1}},
		{"member caught up stays", []int64{1, 2}, []Follower{{ID: 2, Acked: 10, CaughtUp: fresh, Connected: true}}, []int64{1, 2}},
		{"member behind too long leaves", []int64{1, 2}, []Follower{{ID: 2, Acked: 900, CaughtUp: stale, Connected: true}}, []int64{1}},
		{"member disconnected leaves", []int64{1, 2}, []Follower{{ID: 2, Acked: 900, CaughtUp: fresh}}, []int64{1}},
		{"member gone leaves", []int64{1, 2}, nil, []int64{1}},
		{"newcomer at confirm joins", []int64{1}, []Follower{{ID: 3, Acked: 800, CaughtUp: fresh, Connected: true}}, []int64{1, 3}},
		{"newcomer short of confirm waits", []int64{1}, []Follower{{ID: 3, Acked: 799, CaughtUp: fresh, Connected: true}}, []int64{1}},
		{"newcomer at confirm not caught up lately waits", []int64{1}, []Follower{{ID: 3, Acked: 800, CaughtUp: stale, Connected: true}}, []int64{1}},
		{"newcomer never caught up waits", []int64{1}, []Follower{{ID: 3, Acked: 800, Connected: true}}, []int64{1}},
		{"newcomer before the epoch waits", []int64{1}, []Follower{{ID: 3, Acked: 800, CaughtUp: fresh, Connected: true}}, []int64{1}},
	}
	for i, c := range cases {
		pp := p
		if i == len(cases)-1 {
			pp.EpochStart = 900
		}
		if got := nextSyncStateSet(1, c.cur, c.fs, pp, now, 15*time.Second); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestSyncStateSetStalledMembersLeave: both slaves' links stall (they
// stay connected, nothing is acknowledged, so the confirm offset stands
// at what they last acknowledged), and they fell behind at different
// checks. Each check drops the one past haMaxTimeSlaveNotCatchup; the
// set reaches the master alone and stays there, instead of the dropped
// one rejoining at the stuck confirm offset while the other leaves.
func TestSyncStateSetStalledMembersLeave(t *testing.T) {
	now := time.Unix(100, 0)
	const max = 3 * time.Second
	p := Progress{ConfirmOffset: 800}
	fs := []Follower{
		{ID: 2, Acked: 800, CaughtUp: now.Add(-max - 50*time.Millisecond).UnixNano(), Connected: true},
		{ID: 3, Acked: 800, CaughtUp: now.Add(-max + 50*time.Millisecond).UnixNano(), Connected: true},
	}
	cur := []int64{1, 2, 3}
	var seen [][]int64
	for i := range 5 {
		cur = nextSyncStateSet(1, cur, fs, p, now.Add(time.Duration(i)*100*time.Millisecond), max)
		seen = append(seen, cur)
	}
	if !slices.Equal(seen[0], []int64{1, 3}) || !slices.Equal(cur, []int64{1}) || !slices.Equal(seen[1], []int64{1}) {
		t.Fatalf("sets at successive checks %v, want [1 3] then [1] for good", seen)
	}
}

// A stalled replica just dropped from the set shows, unchanged, the offset
// it last acknowledged, which equals the confirm offset that stood still
// while it was a member: near the end, it is waited for, but it joins only
// with a newer acknowledgement, which it never sends.
func TestStalledReplicaAtConfirmDoesNotRejoin(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	if err := r.d.register(bg); err != nil {
		t.Fatal(err)
	}
	r.node.progress = Progress{Epoch: 1, MaxOffset: 5000, ConfirmOffset: 5000}
	r.node.followers = []Follower{{ID: 2, Acked: 5000, CaughtUp: r.c.Now().Add(-time.Minute).UnixNano(), Connected: true}}
	r.d.checkSyncStateSet(bg)
	if slices.Contains(r.ctl.calls, "alter") || !slices.Equal(r.node.ackSet(), []int64{1}) {
		t.Fatalf("a stalled replica rejoined: calls %v, counted %v", r.ctl.calls, r.node.ackSet())
	}
}

func TestDriverRunsAndCloses(t *testing.T) {
	c := newClock()
	ctl, node := newFakeController(c), &fakeNode{}
	d := New(Options{Cluster: "C", BrokerName: "b", Addr: "127.0.0.1:1", Dir: t.TempDir(), Controller: ctl, Node: node,
		HeartbeatInterval: 5 * time.Millisecond, Poll: 5 * time.Millisecond, CheckSyncStateSet: 5 * time.Millisecond,
		Lease: 20 * time.Millisecond, Logger: testLogger(t)})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() bool { return d.Role() == RoleMaster }, "the lone replica becomes master")
	ctl.electOther(2)
	d.Notify()
	eventually(t, 5*time.Second, func() bool { return d.Role() == RoleSlave }, "it follows the new master")
	d.Close()
	d.Close()
}

// TestCloseWithoutStart: a broker that fails between New and Start closes
// a driver that never ran.
func TestCloseWithoutStart(t *testing.T) {
	r := newRig(t, "127.0.0.1:1", true)
	done := make(chan struct{})
	go func() {
		r.d.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close of a driver never started hangs")
	}
	if err := r.d.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
}
