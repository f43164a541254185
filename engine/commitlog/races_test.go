package commitlog

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// blockFS makes the first SyncData after arm block until release.
type blockFS struct {
	vfs.FS
	armed   *atomic.Bool
	entered chan struct{}
	release chan struct{}
}

type blockFile struct {
	vfs.File
	fs *blockFS
}

func (f blockFile) SyncData() error {
	if f.fs.armed.CompareAndSwap(true, false) {
		close(f.fs.entered)
		<-f.fs.release
	}
	return f.File.SyncData()
}

func (b *blockFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := b.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return blockFile{f, b}, nil
}

func (b *blockFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := b.FS.OpenReadWrite(name, c, opts...)
	if err != nil {
		return nil, err
	}
	return blockFile{f, b}, nil
}

// An AsyncFlush interval fsync that is in flight (outside flushMu) while
// TruncateTo cuts the log raises the synced mark back to the pre-cut end
// when it finishes: afterwards WaitSynced acknowledges new bytes that were
// never fsynced, and Close writes a clean checkpoint past the log's end.
func TestIntervalSyncDoesNotOutliveATruncation(t *testing.T) {
	mem := vfs.NewCrashableMem()
	bfs := &blockFS{FS: mem, armed: new(atomic.Bool), entered: make(chan struct{}), release: make(chan struct{})}
	c, err := Open(Options{FS: bfs, Dir: "cl", SegmentSize: 64 << 10, FlushMode: AsyncFlush,
		FlushInterval: 5 * time.Millisecond, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatal(err)
	}
	_, e1, err := c.Append(record(1, 200), nil)
	if err != nil {
		t.Fatal(err)
	}
	for c.Synced() < e1 {
		time.Sleep(time.Millisecond)
	}
	bfs.armed.Store(true)
	_, e2, err := c.Append(record(2, 3000), nil)
	if err != nil {
		t.Fatal(err)
	}
	<-bfs.entered // the interval sync is now fsyncing [e1, e2) outside flushMu
	cut := make(chan error, 1)
	go func() { cut <- c.TruncateTo(e1, nil) }()
	time.Sleep(20 * time.Millisecond) // TruncateTo waits for the fsync in flight
	close(bfs.release)
	if err := <-cut; err != nil {
		t.Fatal(err)
	}
	t.Logf("after cut to %d: End %d Synced %d (pre-cut end %d)", e1, c.End(), c.Synced(), e2)
	if c.Synced() > c.End() {
		t.Errorf("synced mark %d past the log's end %d after TruncateTo", c.Synced(), c.End())
	}
	// A small record after the cut: WaitSynced returns at once, no fsync.
	syncsBefore := c.Stats().Syncs
	_, e3, err := c.Append(record(3, 100), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitSynced(e3); err != nil {
		t.Fatal(err)
	}
	if n := c.Stats().Syncs - syncsBefore; n == 0 {
		t.Errorf("WaitSynced(%d) returned without any fsync", e3)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	c2, err := Open(Options{FS: crashed, Dir: "cl", SegmentSize: 64 << 10, FlushMode: AsyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	if c2.End() < e3 {
		t.Errorf("record acknowledged durable by WaitSynced(%d) lost by a crash: log ends at %d", e3, c2.End())
	}
	c2.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c3, err := Open(Options{FS: bfs.FS, Dir: "cl", SegmentSize: 64 << 10, FlushMode: AsyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatalf("reopen after clean close: %v", err)
	}
	defer c3.Close()
	if c3.End() != e3 {
		t.Errorf("after a clean close the log ends at %d, want %d (clean checkpoint %v)", c3.End(), e3, c3.Report())
	}
	it := c3.NewIterator(c3.MinOffset())
	for n := 0; ; n++ {
		_, _, err := it.Next(c3.Readable())
		if errors.Is(err, io.EOF) || (err == nil && n > 10) {
			break
		}
		if err != nil {
			t.Fatalf("iterating the reopened log: %v", err)
		}
	}
}

// eioFS models Linux's errseq fsync reporting: a failed write-back of the
// writer's pages is reported once, to the first fsync of the file that
// comes after it, whoever calls it.
type eioFS struct {
	vfs.FS
	fillerSyncs atomic.Int32
	pending     atomic.Bool
	writerWrote chan struct{}
	consumed    chan struct{}
	once1       atomic.Bool
}

type eioFile struct {
	vfs.File
	fs   *eioFS
	name string
}

func fromFiller() bool {
	pc := make([]uintptr, 32)
	n := runtime.Callers(2, pc)
	frames := runtime.CallersFrames(pc[:n])
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "startFillActive") {
			return true
		}
		if !more {
			return false
		}
	}
}

func (f eioFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if strings.HasSuffix(f.name, "00000000000000000000") && !fromFiller() && f.fs.once1.CompareAndSwap(false, true) {
		// The write-back of these pages will fail (EIO).
		f.fs.pending.Store(true)
		close(f.fs.writerWrote)
	}
	return n, err
}

func (f eioFile) SyncData() error {
	if !strings.HasSuffix(f.name, "00000000000000000000") {
		return f.File.SyncData()
	}
	if fromFiller() {
		if f.fs.fillerSyncs.Add(1) == 2 {
			<-f.fs.writerWrote
		}
		if f.fs.pending.CompareAndSwap(true, false) {
			close(f.fs.consumed)
			return syscall.EIO
		}
		return f.File.SyncData()
	}
	if f.fs.pending.Load() {
		select {
		case <-f.fs.consumed: // the filler's fsync got the error first
		case <-time.After(2 * time.Second):
		}
	}
	if f.fs.pending.CompareAndSwap(true, false) {
		return syscall.EIO
	}
	return f.File.SyncData()
}

func (b *eioFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := b.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return eioFile{f, b, name}, nil
}

func (b *eioFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := b.FS.OpenReadWrite(name, c, opts...)
	if err != nil {
		return nil, err
	}
	return eioFile{f, b, name}, nil
}

// Under SyncFlush the active-segment filler fsyncs the file the writer
// appends to. When a write-back error of the writer's pages is reported to
// the filler's fsync, the writer's own fsync returns success and the append
// is acknowledged, although the filler marks the log failed.
func TestFsyncErrorTakenByTheFillerFailsTheWriter(t *testing.T) {
	efs := &eioFS{FS: vfs.NewMem(), writerWrote: make(chan struct{}), consumed: make(chan struct{})}
	c, err := Open(Options{FS: efs, Dir: "cl", SegmentSize: 4 << 20, FlushMode: SyncFlush, Prewrite: PrewriteOn})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for c.fillTo.Load() < 256<<10 {
		time.Sleep(time.Millisecond)
	}
	_, end, err := c.Append(record(1, 500), nil)
	t.Logf("append -> end %d err %v; log err now %v", end, err, c.Err())
	if err == nil {
		t.Errorf("append acknowledged (synced %d) although the fsync covering it failed", c.Synced())
	}
}

// RELIABILITY rule 3: damage in a sealed segment is corruption to report,
// never a torn tail to cut. Recovery scans from the checkpoint and cuts at
// the first damaged record; the checkpoint follows the synced mark into
// each new segment at once (it was refreshed once a second), so a crash
// soon after a roll no longer leaves the sealed segment in the scan, where
// one flipped bit cut every acknowledged record after it, later segments
// included. Check still finds the flip.
func TestDamageInASealedSegmentIsNotCutAfterACrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	opts := Options{FS: mem, Dir: "cl", SegmentSize: 4096, FlushMode: SyncFlush, Prewrite: PrewriteOff}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	var end int64
	for i := range 7 { // 1,126 bytes each: three per 4 KiB segment
		if _, end, err = c.Append(record(i, 1000), nil); err != nil {
			t.Fatal(err)
		}
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	c.Close()
	f, err := crashed.OpenReadWrite("cl/00000000000000000000", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	const at = 1126 + 700 // the second record's body
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 8
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	f.Close()
	opts.FS = crashed
	c2, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	rep := c2.Report()
	c2.Close()
	if rep.CutAt >= 0 || len(rep.RemovedSegments) > 0 || rep.End != end {
		t.Fatalf("recovery cut acknowledged records: end %d (want %d), cut at %d (%s), removed %v",
			rep.End, end, rep.CutAt, rep.Reason, rep.RemovedSegments)
	}
	chk, err := Check(CheckOptions{FS: crashed, Dir: "cl", SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if len(chk.Problems) == 0 {
		t.Fatal("Check does not report the flipped bit")
	}
}

// removeSnapFS takes a crash snapshot of its MemFS just before the first
// removal of the segment at 0: what a crash inside Rebase leaves.
type removeSnapFS struct {
	vfs.FS
	mem  *vfs.MemFS
	snap *vfs.MemFS
}

func (s *removeSnapFS) Remove(name string) error {
	if s.snap == nil && strings.HasSuffix(name, SegmentName(0)) {
		s.snap = s.mem.CrashClone(vfs.CrashCloneCfg{})
	}
	return s.FS.Remove(name)
}

// A crash inside Rebase, after the new segment is created and before the
// empty one at 0 is removed, leaves both: the log opens at the new one
// (it refused to start, "segments missing"). A segment at 0 that holds
// records beside a gap is still refused.
func TestRebaseInterruptedByACrashOpens(t *testing.T) {
	mem := vfs.NewCrashableMem()
	sfs := &removeSnapFS{FS: mem, mem: mem}
	opts := Options{FS: sfs, Dir: "cl", SegmentSize: 4096, FlushMode: SyncFlush, Prewrite: PrewriteOff}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Rebase(3 * 4096); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if sfs.snap == nil {
		t.Fatal("Rebase removed no segment at 0")
	}
	opts.FS = sfs.snap
	c2, err := Open(opts)
	if err != nil {
		t.Fatalf("open after a crash inside Rebase: %v", err)
	}
	if c2.MinOffset() != 3*4096 || c2.End() != 3*4096 {
		t.Fatalf("log [%d, %d), want to start and end at %d", c2.MinOffset(), c2.End(), 3*4096)
	}
	if _, _, err := c2.Append(record(1, 100), nil); err != nil {
		t.Fatal(err)
	}
	c2.Close()

	// Records at 0 and a segment past a gap: not a rebase, refused.
	mem2 := vfs.NewMem()
	opts.FS = mem2
	c3, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c3.Append(record(1, 100), nil); err != nil {
		t.Fatal(err)
	}
	c3.Close()
	f, err := mem2.Create("cl/"+SegmentName(3*4096), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if c4, err := Open(opts); err == nil {
		c4.Close()
		t.Fatal("a log with records at 0 and a segment past a gap opened")
	}
}

// When what the caller derived past the cut cannot be dropped (TruncateTo's
// locked fails after the cut), the log turns read-only: appends would land
// where those stale entries point. A restart opens it at the cut.
func TestTruncateWhoseDerivedDataFailsIsReadOnly(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, Dir: "cl", SegmentSize: 64 << 10, FlushMode: SyncFlush, Prewrite: PrewriteOff}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	_, e1, err := c.Append(record(1, 200), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Append(record(2, 200), nil); err != nil {
		t.Fatal(err)
	}
	derived := errors.New("queue store: delete failed")
	if err := c.TruncateTo(e1, func() error { return derived }); !errors.Is(err, derived) {
		t.Fatalf("TruncateTo: %v, want the derived-data error", err)
	}
	if _, _, err := c.Append(record(3, 100), nil); err == nil {
		t.Fatal("append accepted after the derived data could not be dropped")
	}
	c.Close()
	c2, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.End() != e1 {
		t.Fatalf("reopened log ends at %d, want the cut %d", c2.End(), e1)
	}
	if _, _, err := c2.Append(record(4, 100), nil); err != nil {
		t.Fatal(err)
	}
}
