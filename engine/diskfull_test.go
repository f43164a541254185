package engine

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// TestDiskFullRefusesWrites is RELIABILITY T26 (injected) at the store: over
// DiskFullRatio a Put fails with ErrDiskFull and a remark that says so
// within one check interval, reads go on, and writes resume by themselves
// once usage drops, without a restart.
func TestDiskFullRefusesWrites(t *testing.T) {
	fs := &vfstest.UsageFS{FS: vfs.NewMem()}
	fs.UsedPct.Store(50)
	s := openStore(t, testOptions(fs, commitlog.SyncFlush))
	defer s.Close()
	s.disk.every = 20 * time.Millisecond
	for i := range 10 {
		if _, err := s.Put(newMsg("T", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	fs.UsedPct.Store(95)
	start := time.Now()
	var err error
	for time.Since(start) < 2*time.Second {
		if _, err = s.Put(newMsg("T", 0, 99, "")); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("put on a 95%% full disk: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("writes refused only after %v", took)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := s.Get("T", 0, 0, 32, nil, nil)
	if err != nil || res.Status != Found || res.Count < 10 {
		t.Fatalf("read while the disk is full: %+v %v", res, err)
	}
	stored := res.MaxOffset
	fs.UsedPct.Store(80)
	start = time.Now()
	for {
		if _, err = s.Put(newMsg("T", 0, 100, "")); err == nil {
			break
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("writes did not resume after usage dropped: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.QueueState("T", 0); st.Max != stored+1 {
		t.Fatalf("queue max %d after one more put, want %d (a refused put was stored?)", st.Max, stored+1)
	}
}

// TestDiskFullCheckedByBytesWritten: a fast writer on a small disk is
// refused once the log has grown by a small share of the disk since the
// last check, not a whole check interval later (on a real 128 MB disk one
// second of sends overshot 90 % to 96.6 %).
func TestDiskFullCheckedByBytesWritten(t *testing.T) {
	fs := &vfstest.UsageFS{FS: vfs.NewMem(), Unit: 1 << 20} // a 100 MiB disk
	fs.UsedPct.Store(50)
	s := openStore(t, testOptions(fs, commitlog.SyncFlush))
	defer s.Close()
	s.disk.every = time.Hour // only the bytes written can trigger a check
	if _, err := s.Put(newMsg("T", 0, 0, "")); err != nil {
		t.Fatal(err)
	}
	fs.UsedPct.Store(95)
	start := s.CommitLog().Written()
	var err error
	for i := 1; i < 20000 && err == nil; i++ {
		_, err = s.Put(newMsg("T", 0, i, ""))
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("never refused on a 95%% full disk: %v", err)
	}
	if grew := s.CommitLog().Written() - start; grew > 1<<20 {
		t.Fatalf("refused only after %d bytes more (1%% of the disk)", grew)
	}
}
