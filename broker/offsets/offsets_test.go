package offsets

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// put stores n messages in a queue and waits until they are dispatched.
func put(t *testing.T, s *engine.Store, topic string, queueID int32, n int) {
	t.Helper()
	for range n {
		m := &msg.Message{Topic: topic, QueueID: queueID, Body: []byte("x"),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555")}
		if _, err := s.Put(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// groupSet is a Groups of names.
type groupSet map[string]bool

func (g groupSet) Known(group string) bool   { return g[group] }
func (g groupSet) Create(group string) error { g[group] = true; return nil }

// countingStore counts the offset writes that reach the store.
type countingStore struct {
	*engine.Store
	commits int
}

func (c *countingStore) CommitOffset(group, topic string, queueID int32, offset int64) error {
	c.commits++
	return c.Store.CommitOffset(group, topic, queueID, offset)
}

// TestCommitSkipsUnchanged: committing the stored value again does not
// write it again; a new value does, and reads back.
func TestCommitSkipsUnchanged(t *testing.T) {
	cs := &countingStore{Store: testkit.OpenStore(t, nil)}
	put(t, cs.Store, "T", 0, 10)
	s := New(cs, groupSet{}, quiet())
	if s.Stored("G", "T", 0, 3) {
		t.Fatal("offset 3 reported stored before any commit")
	}
	for range 3 {
		if err := s.Commit("G", "T", 0, 3); err != nil {
			t.Fatal(err)
		}
	}
	if cs.commits != 1 || !s.Stored("G", "T", 0, 3) {
		t.Fatalf("3 commits of one value: %d store writes (want 1), stored %v", cs.commits, s.Stored("G", "T", 0, 3))
	}
	if err := s.Commit("G", "T", 0, 4); err != nil {
		t.Fatal(err)
	}
	if off, found, err := s.Query("G", "T", 0, false); err != nil || !found || off != 4 || cs.commits != 2 {
		t.Fatalf("after committing 4: query %d %v %v, %d writes", off, found, err, cs.commits)
	}
}

// TestQueryNewGroup: a group without an offset starts at 0 on a young
// queue (missing, or few messages) and is not found on an old one (trap T7).
func TestQueryNewGroup(t *testing.T) {
	st := testkit.OpenStore(t, nil)
	put(t, st, "Old", 0, 100)
	put(t, st, "Old", 1, 1)
	s := New(st, groupSet{}, quiet())
	s.SetYoungQueue(50, 0) // 100 messages are then "old"
	for _, tt := range []struct {
		topic     string
		queueID   int32
		wantFound bool
	}{{"Missing", 0, true}, {"Old", 1, true}, {"Old", 0, false}} {
		off, found, err := s.Query("NewGroup", tt.topic, tt.queueID, false)
		if err != nil || found != tt.wantFound || off != 0 {
			t.Errorf("%s/%d: %d %v %v, want 0 %v", tt.topic, tt.queueID, off, found, err, tt.wantFound)
		}
	}
	// With the default limits the 100-message queue is young.
	s.SetYoungQueue(YoungQueueMaxOffset, YoungQueueMaxAge)
	if off, found, err := s.Query("NewGroup", "Old", 0, false); err != nil || !found || off != 0 {
		t.Errorf("default limits: %d %v %v, want 0 found", off, found, err)
	}
}

// TestReset: a reset moves offsets back but not forward unless forced,
// gives a queue without an offset the target, and refuses an unknown group
// unless asked to create it.
func TestReset(t *testing.T) {
	st := testkit.OpenStore(t, nil)
	put(t, st, "T", 0, 10)
	groups := groupSet{}
	s := New(st, groups, quiet())

	_, err := s.Reset(Reset{Group: "G", Topic: "T", Queues: 2, Timestamp: -1})
	if !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("unknown group: %v, want ErrUnknownGroup", err)
	}
	if _, ok, _ := st.ConsumerOffset("G", "T", 0); ok {
		t.Fatal("a refused reset committed an offset")
	}

	if err := s.Commit("G", "T", 0, 4); err != nil { // an offset makes the group known
		t.Fatal(err)
	}
	res, err := s.Reset(Reset{Group: "G", Topic: "T", Queues: 2, Timestamp: -1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Offsets[0] != 4 || res.Offsets[1] != 0 || len(res.Kept) != 1 || res.Kept[0] != 0 || len(res.Moved) != 1 || res.Moved[0] != 1 {
		t.Fatalf("to the end, not forced: %+v, want offsets [4 0], kept [0], moved [1]", res)
	}
	res, err = s.Reset(Reset{Group: "G", Topic: "T", Queues: 2, Timestamp: -1, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if off, _, _ := st.ConsumerOffset("G", "T", 0); res.Offsets[0] != 10 || off != 10 || len(res.Kept) != 0 {
		t.Fatalf("to the end, forced: %+v, stored %d, want 10", res, off)
	}
	res, err = s.Reset(Reset{Group: "G", Topic: "T", Queues: 2, Timestamp: 0})
	if err != nil {
		t.Fatal(err)
	}
	if off, _, _ := st.ConsumerOffset("G", "T", 0); res.Offsets[0] != 0 || off != 0 {
		t.Fatalf("back to the start: %+v, stored %d, want 0", res, off)
	}

	if _, err := s.Reset(Reset{Group: "New", Topic: "T", Queues: 1, Timestamp: 0, CreateGroup: true}); err != nil || !groups["New"] {
		t.Fatalf("create on request: %v, created %v", err, groups["New"])
	}
}

// TestQueueRange: min, max, search by time and earliest store time of a
// queue with messages and of an unknown one.
func TestQueueRange(t *testing.T) {
	st := testkit.OpenStore(t, nil)
	before := time.Now().UnixMilli()
	put(t, st, "T", 0, 5)
	s := New(st, groupSet{}, quiet())
	if lo, hi := s.Range("T", 0); lo != 0 || hi != 5 {
		t.Errorf("range %d %d, want 0 5", lo, hi)
	}
	if lo, hi := s.Range("Unknown", 0); lo != 0 || hi != 0 {
		t.Errorf("unknown queue range %d %d, want 0 0", lo, hi)
	}
	if off, err := s.SearchByTime("T", 0, 0); err != nil || off != 0 {
		t.Errorf("search at 0: %d %v", off, err)
	}
	if off, err := s.SearchByTime("T", 0, time.Now().UnixMilli()+60000); err != nil || off != 5 {
		t.Errorf("search in the future: %d %v, want 5", off, err)
	}
	if ts, err := s.EarliestStoreTime("T", 0); err != nil || ts < before-1000 || ts > time.Now().UnixMilli() {
		t.Errorf("earliest store time %d %v, stored after %d", ts, err, before)
	}
	if ts, err := s.EarliestStoreTime("T", 3); err != nil || ts != -1 {
		t.Errorf("earliest on an empty queue %d %v, want -1", ts, err)
	}
}

// TestMergeKeepsTheCacheTrue: Merge sees the stored value (not clamped
// into the queue's range), stores what decide returns, and the commit
// cache follows it, so a later commit of the old value is written again.
func TestMergeKeepsTheCacheTrue(t *testing.T) {
	cs := &countingStore{Store: testkit.OpenStore(t, nil)}
	s := New(cs, groupSet{}, quiet())
	if err := s.Commit("G", "T", 0, 30); err != nil { // past the end of an empty queue
		t.Fatal(err)
	}
	var seen int64
	if err := s.Merge("G", "T", 0, func(local int64, ok bool) (int64, bool) { seen = local; return 5, ok }); err != nil {
		t.Fatal(err)
	}
	if seen != 30 || !s.Stored("G", "T", 0, 5) {
		t.Fatalf("decide saw %d (want the stored 30), 5 cached %v", seen, s.Stored("G", "T", 0, 5))
	}
	if err := s.Merge("G", "T", 0, func(int64, bool) (int64, bool) { return 99, false }); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit("G", "T", 0, 30); err != nil {
		t.Fatal(err)
	}
	all, err := s.All()
	if err != nil || all["G"][engine.QueueRef{Topic: "T"}] != 30 || cs.commits != 3 {
		t.Fatalf("after merge and a commit of the old value: %v %v, %d writes (want 30, 3)", all, err, cs.commits)
	}
}
