package engine

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// TestDerivedDataNeverLeads is RELIABILITY T6: under ASYNC_FLUSH, Pebble is
// synced by an offset commit while the CommitLog tail is not; after a crash
// that keeps only synced data, no queue entry may point past the CommitLog,
// the dispatch checkpoint is back within it, a consumer offset past the queue
// is clamped, and new puts continue the queue densely.
func TestDerivedDataNeverLeads(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := testOptions(fs, commitlog.AsyncFlush)
	opts.FlushInterval = time.Hour // nothing synced by the timer
	s := openStore(t, opts)
	for i := 0; i < 50; i++ {
		if _, err := s.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitLog().WaitSynced(s.CommitLog().End()); err != nil {
		t.Fatal(err)
	}
	synced := s.CommitLog().Synced()
	for i := 50; i < 120; i++ {
		if _, err := s.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.disp.WaitFor(s.CommitLog().Written(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// An offset commit fsyncs Pebble, dispatched entries and checkpoint with it.
	if err := s.CommitOffset("g", "T", 0, 110); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.QueueState("T", 0); st.Max != 120 {
		t.Fatalf("before the crash the queue holds %d", st.Max)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	opts.FS = crashed
	s = openStore(t, opts)
	defer s.Close()
	end := s.CommitLog().End()
	if end != synced {
		t.Fatalf("recovered CommitLog end %d, synced was %d", end, synced)
	}
	st, _ := s.QueueState("T", 0)
	if st.Max != 50 {
		t.Fatalf("queue max %d after crash, want 50", st.Max)
	}
	s.Meta().Scan("T", 0, 0, 1000, func(off int64, e queueEntry) bool {
		if e.Phys+int64(e.Size) > end {
			t.Fatalf("entry %d points past the CommitLog end %d", off, end)
		}
		return true
	})
	if cp, _ := s.Meta().Checkpoint(); cp > end {
		t.Fatalf("dispatch checkpoint %d past the end %d", cp, end)
	}
	if off, ok, _ := s.ConsumerOffset("g", "T", 0); !ok || off != 50 {
		t.Fatalf("consumer offset %d %v, want clamped to 50", off, ok)
	}
	res, err := s.Put(newMsg("T", 0, 999, ""))
	if err != nil || res.QueueOffset != 50 {
		t.Fatalf("put after recovery: %+v %v", res, err)
	}
	s.WaitDispatched(5 * time.Second)
	got, _ := s.Get("T", 0, 50, 1, nil, nil)
	r, _ := msg.Decode(got.Data)
	if got.Status != Found || r.QueueOffset != 50 || r.PhysOffset != end {
		t.Fatalf("new record: %v %+v", got.Status, r)
	}
}

// TestRetention removes old segments once dispatched, and trims the queues
// and index that pointed into them.
func TestRetention(t *testing.T) {
	opts := testOptions(vfs.NewMem(), commitlog.SyncFlush)
	opts.FileReservedTime = time.Millisecond
	s := openStore(t, opts)
	defer s.Close()
	for i := 0; i < 400; i++ {
		if _, err := s.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	s.WaitDispatched(5 * time.Second)
	s.disp.Close() // stop, so CleanExpired sees a settled index checkpoint
	s.disp, _ = newDispatcherForTest(s)
	time.Sleep(5 * time.Millisecond)
	n, err := s.CleanExpired(time.Now())
	if err != nil || n == 0 {
		t.Fatalf("removed %d segments: %v", n, err)
	}
	st, _ := s.QueueState("T", 0)
	if st.Min == 0 || st.Max != 400 {
		t.Fatalf("queue after retention: %+v", st)
	}
	if res, _ := s.Get("T", 0, 0, 1, nil, nil); res.Status != OffsetTooSmall || res.NextOffset != st.Min {
		t.Fatalf("get below min: %+v", res)
	}
	if res, _ := s.Get("T", 0, st.Min, 32, nil, nil); res.Status != Found {
		t.Fatalf("get at min: %+v", res.Status)
	}
	if s.CommitLog().MinOffset() == 0 {
		t.Fatal("no segment removed")
	}
}
