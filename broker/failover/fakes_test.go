package failover

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The tests use no internal/testkit: it imports broker/config, which
// imports this package for its defaults.

// testLogger logs through t at warning level and above.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// eventually fails the test unless cond holds within d.
func eventually(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within %s: %s", d, what)
		}
	}
}

// clock is a fake clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeController is one group's registry with RocketMQ's rules, reduced
// to what the driver sees.
type fakeController struct {
	mu         sync.Mutex
	clock      *clock
	next       int64
	ids        map[int64]string // id -> check code
	addrs      map[int64]string
	master     int64
	epoch      int32
	sync       SyncStateSet
	down       bool          // every call fails
	alterErr   error         // AlterSyncStateSet fails with it
	renewLag   time.Duration // RenewLease takes this long
	node       *fakeNode     // to see the ack set at call time
	ackAtAlter []int64
	calls      []string
}

var errDown = errors.New("controller unreachable")

func newFakeController(c *clock) *fakeController {
	return &fakeController{clock: c, next: 1, ids: map[int64]string{}, addrs: map[int64]string{}}
}

func (f *fakeController) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	if f.down {
		return errDown
	}
	return nil
}

func (f *fakeController) replicasLocked() Replicas {
	return Replicas{MasterID: f.master, MasterAddr: f.addrs[f.master], MasterEpoch: f.epoch,
		Sync: SyncStateSet{IDs: slices.Clone(f.sync.IDs), Epoch: f.sync.Epoch}}
}

func (f *fakeController) NextBrokerID(context.Context, string, string) (int64, error) {
	if err := f.call("next"); err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.next, nil
}

func (f *fakeController) ApplyBrokerID(_ context.Context, _, _ string, id int64, code string) error {
	if err := f.call("apply"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if have, ok := f.ids[id]; ok && have != code {
		return ErrIDTaken
	}
	f.ids[id] = code
	if id >= f.next {
		f.next = id + 1
	}
	return nil
}

func (f *fakeController) Register(_ context.Context, _, _ string, id int64, addr string) (Replicas, error) {
	if err := f.call("register"); err != nil {
		return Replicas{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs[id] = addr
	return f.replicasLocked(), nil
}

func (f *fakeController) ReplicaInfo(context.Context, string) (Replicas, error) {
	if err := f.call("info"); err != nil {
		return Replicas{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicasLocked(), nil
}

func (f *fakeController) Elect(_ context.Context, _, _ string, id int64) (Replicas, error) {
	if err := f.call("elect"); err != nil {
		return Replicas{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.master == NoMaster {
		f.master, f.epoch = id, f.epoch+1
		f.sync = SyncStateSet{IDs: []int64{id}, Epoch: f.sync.Epoch + 1}
	}
	return f.replicasLocked(), nil
}

// electOther makes id master, as the controller does when the master died.
func (f *fakeController) electOther(id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.master, f.epoch = id, f.epoch+1
	f.sync = SyncStateSet{IDs: []int64{id}, Epoch: f.sync.Epoch + 1}
}

func (f *fakeController) AlterSyncStateSet(_ context.Context, _ string, master int64, epoch int32, s SyncStateSet) (SyncStateSet, error) {
	if err := f.call("alter"); err != nil {
		return SyncStateSet{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.node != nil {
		f.ackAtAlter = f.node.ackSet()
	}
	if f.alterErr != nil {
		return SyncStateSet{}, f.alterErr
	}
	if master != f.master || epoch != f.epoch || s.Epoch != f.sync.Epoch {
		return SyncStateSet{}, ErrFenced
	}
	f.sync = SyncStateSet{IDs: slices.Clone(s.IDs), Epoch: f.sync.Epoch + 1}
	return f.sync, nil
}

func (f *fakeController) Heartbeat(Heartbeat) { _ = f.call("heartbeat") }

func (f *fakeController) RenewLease(_ context.Context, _ Heartbeat) (Replicas, error) {
	if err := f.call("renew"); err != nil {
		return Replicas{}, err
	}
	f.clock.Add(f.renewLag)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replicasLocked(), nil
}

// fakeNode records what the driver made of the broker.
type fakeNode struct {
	mu        sync.Mutex
	role      string
	epoch     int32
	master    string
	acks      []int64
	progress  Progress
	followers []Follower
	changes   []string
	// ackSets records every SetAckSet; onAckSet, if set, runs after each
	// (under mu), as the master's acknowledgements would answer it.
	ackSets  [][]int64
	onAckSet func(ids []int64)
}

func (n *fakeNode) BecomeMaster(_ context.Context, epoch int32, _ SyncStateSet) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.role, n.epoch, n.master = "master", epoch, ""
	n.changes = append(n.changes, "master")
	return nil
}

func (n *fakeNode) BecomeSlave(_ context.Context, addr string, _ int64, epoch int32) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.role, n.epoch, n.master = "slave", epoch, addr
	n.changes = append(n.changes, "slave of "+addr)
	return nil
}

func (n *fakeNode) SetAckSet(ids []int64) {
	n.mu.Lock()
	n.acks = slices.Clone(ids)
	n.ackSets = append(n.ackSets, slices.Clone(ids))
	if n.onAckSet != nil {
		n.onAckSet(ids)
	}
	n.mu.Unlock()
}

func (n *fakeNode) ackSet() []int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.acks)
}

func (n *fakeNode) Progress() Progress {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.progress
}

func (n *fakeNode) Followers() []Follower {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.followers)
}
