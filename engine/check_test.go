package engine

import (
	"crypto/sha256"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// populate writes a store with several topics and queues, keys, tags, a
// queue long enough to complete bloom blocks, and small segments; it
// returns the number of records.
func populate(t *testing.T, fs vfs.FS) int {
	t.Helper()
	s := openStore(t, testOptions(fs, commitlog.AsyncFlush))
	n := 0
	put := func(topic string, q int32, i int, tag string) {
		if _, err := s.Put(newMsg(topic, q, i, tag)); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for i := 0; i < 300; i++ {
		put("T", int32(i%3), i, []string{"", "A", "B"}[i%3])
	}
	for i := 0; i < queue.BlockSize+100; i++ {
		tag := "common"
		if i%50 == 0 {
			tag = "rare"
		}
		put("B", 0, 1000+i, tag)
	}
	if err := s.CommitOffset("G", "T", 1, 17); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta().PutTopic("T", []byte(`{"queues":3}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}

func checkStore(t *testing.T, fs vfs.FS) *CheckReport {
	t.Helper()
	rep, err := Check(CheckOptions{FS: fs, Dir: "data", IndexSamples: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func wantProblem(t *testing.T, rep *CheckReport, area, substr string) Problem {
	t.Helper()
	for _, p := range rep.Problems {
		if p.Area == area && strings.Contains(p.Reason, substr) {
			return p
		}
	}
	t.Fatalf("no %s problem %q in %v", area, substr, rep.Problems)
	return Problem{}
}

func TestCheckCleanStore(t *testing.T) {
	fs := vfs.NewMem()
	n := populate(t, fs)
	var prog Progress
	rep, err := Check(CheckOptions{FS: fs, Dir: "data", IndexSamples: 100000, Progress: &prog})
	if err != nil || !rep.OK() {
		t.Fatalf("problems in a clean store: %v %v", err, rep.Problems)
	}
	// The progress counters followed the scan: every record, up to the end
	// of the log, within a span bounded by the segment files.
	if done, total := prog.Bytes(); prog.Records.Load() != int64(n) || prog.At.Load() != rep.CommitLog.End || done > total || total%rep.CommitLog.SegmentSize != 0 {
		t.Fatalf("progress: %d of %d bytes, %d records; log ends at %d", done, total, prog.Records.Load(), rep.CommitLog.End)
	}
	if rep.CommitLog.Records != int64(n) || rep.QueueEntries != int64(n) || rep.EntriesVerified != int64(n) ||
		rep.Queues != 4 || rep.IndexProbes != n || rep.IndexMisses != 0 || rep.CommitLog.Segments < 4 {
		t.Fatalf("report: %+v, commitlog %+v", rep, rep.CommitLog)
	}
	if rep.UncleanStop {
		t.Fatal("clean stop reported unclean")
	}
	// Check leaves no lock file behind: the next Open sees a clean stop.
	if _, err := fs.Stat("data/lock"); err == nil {
		t.Fatal("lock file left behind")
	}
	// And it refuses to run beside an open store.
	s := openStore(t, testOptions(fs, commitlog.AsyncFlush))
	_, err = Check(CheckOptions{FS: fs, Dir: "data"})
	s.Close()
	if !errors.Is(err, ErrStoreInUse) {
		t.Fatalf("check beside an open store: %v", err)
	}
	if _, err := Check(CheckOptions{FS: fs, Dir: "nothing"}); !errors.Is(err, ErrNoStore) {
		t.Fatalf("check of an empty dir: %v", err)
	}
}

func TestCheckFindsFlipAndDanglingEntry(t *testing.T) {
	fs := vfs.NewMem()
	n := populate(t, fs)
	// Flip a bit in the body of the first record of the second segment.
	seg := "data/commitlog/" + commitlog.SegmentName(64<<10)
	f, err := fs.OpenReadWrite(seg, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], 120)
	b[0] ^= 0x10
	f.WriteAt(b[:], 120)
	f.Close()
	rep := checkStore(t, fs)
	p := wantProblem(t, rep, "commitlog", "CRC")
	if p.Segment != commitlog.SegmentName(64<<10) || p.Offset != 64<<10 {
		t.Fatalf("problem at the wrong place: %v", p)
	}
	q := wantProblem(t, rep, "queue", "points at a damaged record")
	if q.Offset != 64<<10 {
		t.Fatalf("queue problem: %v", q)
	}
	if rep.CommitLog.Records != int64(n-1) || rep.EntriesVerified != int64(n-1) {
		t.Fatalf("records %d, verified entries %d, want %d", rep.CommitLog.Records, rep.EntriesVerified, n-1)
	}
}

func TestCheckFindsQueueAndIndexDamage(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	damageDerived(t, fs)
	rep := checkStore(t, fs)
	p := wantProblem(t, rep, "queue", "points at the record with queue offset 4")
	if p.Topic != "T" || p.QueueID != 0 || p.QueueOffset != 3 {
		t.Fatalf("problem: %v", p)
	}
	if !invariants.Enabled {
		wantProblem(t, rep, "queue", "have no entry")
		wantProblem(t, rep, "queue", "points at the record with queue offset 0")
	}
	wantProblem(t, rep, "queue", "records below the dispatch checkpoint have no matching entry")
	wantProblem(t, rep, "index", "is not in the index")
	if rep.IndexMisses == 0 || rep.IndexMisses >= rep.IndexProbes {
		t.Fatalf("index misses %d of %d", rep.IndexMisses, rep.IndexProbes)
	}
}

// damageDerived makes queue entry T/0@3 point at entry 4's record, adds an
// entry two offsets past the end of T/1 (a hole), and drops the index's
// entries past the middle of the log while it still claims to be complete.
func damageDerived(t *testing.T, fs vfs.FS) {
	t.Helper()
	release, _, err := LockStore(fs, "data")
	if err != nil {
		t.Fatal(err)
	}
	qdb, err := queue.Open(queue.Options{FS: fs, Dir: "data/meta"})
	if err != nil {
		t.Fatal(err)
	}
	// Entry 3 of T/0 points at entry 4's record; an entry appears two
	// offsets past the end of T/1, leaving a hole.
	e4, _, _ := qdb.EntryAt("T", 0, 4)
	st, _ := qdb.State("T", 1)
	e0, _, _ := qdb.EntryAt("T", 1, 0)
	bt := qdb.NewBatch()
	if err := bt.Add("T", 0, 3, e4); err != nil {
		t.Fatal(err)
	}
	// Invariants builds refuse a hole at once (the pass without the tag
	// checks that Check finds it).
	if !invariants.Enabled {
		if err := bt.Add("T", 1, st.Max+1, e0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := bt.Commit(); err != nil {
		t.Fatal(err)
	}
	bt.Close()
	if err := errors.Join(qdb.Flush(), qdb.Close()); err != nil {
		t.Fatal(err)
	}
	// The index loses its entries past the middle of the log but claims
	// to be complete.
	idx, err := index.Open(index.Options{FS: fs, Dir: "data/index"})
	if err != nil {
		t.Fatal(err)
	}
	ckp := idx.Checkpoint()
	if err := errors.Join(idx.TruncateFrom(ckp/2), idx.Sync(ckp), idx.Close(), release()); err != nil {
		t.Fatal(err)
	}
}

// crashAfterPuts puts 600 messages into a SYNC_FLUSH store, lets them be
// dispatched (and, with commitOffset, syncs Pebble with an offset commit),
// and returns a crash clone of its files with the log's end and segment
// size.
func crashAfterPuts(t *testing.T, commitOffset bool) (crashed vfs.FS, end, segSize int64) {
	t.Helper()
	fs := vfs.NewCrashableMem()
	s := openStore(t, testOptions(fs, commitlog.SyncFlush))
	for i := 0; i < 600; i++ {
		if _, err := s.Put(newMsg("T", int32(i%2), i, "A")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if commitOffset {
		if err := s.CommitOffset("G", "T", 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	crashed = fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	return crashed, s.CommitLog().End(), s.CommitLog().SegmentSize()
}

// TestCheckAfterCrash: after a crash the bytes past the checkpoint of the
// active segment may be torn; Check reports that as a note (recovery cuts
// it), not as damage, while damage before the checkpoint stays a problem.
func TestCheckAfterCrash(t *testing.T) {
	crashed, end, segSize := crashAfterPuts(t, false)
	// Garbage after the end of the log in the active segment: a torn write.
	last := "data/commitlog/" + commitlog.SegmentName(end-end%segSize)
	f, err := crashed.OpenReadWrite(last, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("torn torn torn"), end%segSize+10)
	f.Close()
	if end < 2*segSize {
		t.Fatalf("fixture has one segment (end %d)", end)
	}
	rep := checkStore(t, crashed)
	if !rep.UncleanStop || rep.TornTail != 1 || !rep.OK() {
		t.Fatalf("crashed store: unclean %v, torn %d, problems %v, notes %v", rep.UncleanStop, rep.TornTail, rep.Problems, rep.Notes)
	}
	// A flip in a sealed segment of the crashed store is damage, not a
	// torn tail.
	f, err = crashed.OpenReadWrite("data/commitlog/"+commitlog.SegmentName(0), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	f.ReadAt(b[:], 100)
	b[0] ^= 1
	f.WriteAt(b[:], 100)
	f.Close()
	rep = checkStore(t, crashed)
	if rep.TornTail != 1 || rep.OK() {
		t.Fatalf("crashed store with a flip: torn %d, problems %v", rep.TornTail, rep.Problems)
	}
	if p := wantProblem(t, rep, "commitlog", "CRC"); p.Offset != 0 {
		t.Fatalf("flip reported at %v", p)
	}
	// The lock file of the crash stays, so the next Open still knows.
	if _, err := crashed.Stat("data/lock"); err != nil {
		t.Fatal("check removed the lock file of a crashed store")
	}
}

// TestCheckTornTailWithHole: a power cut can keep later blocks of the tail
// while an earlier one is lost (write-back order is the kernel's). Recovery
// ends the log at the hole, so queue entries and index keys of the records
// after it are derived data past the end (notes), not damage.
func TestCheckTornTailWithHole(t *testing.T) {
	// An offset commit syncs Pebble: the queue entries survive the crash.
	crashed, end, segSize := crashAfterPuts(t, true)
	if end%segSize < 4096 || end < segSize {
		t.Fatalf("fixture: end %d", end)
	}
	// A lost block in the middle of the active segment, records after it.
	f, err := crashed.OpenReadWrite("data/commitlog/"+commitlog.SegmentName(end-end%segSize), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(make([]byte, 512), end%segSize/2)
	f.Close()
	rep := checkStore(t, crashed)
	if !rep.OK() || rep.TornTail == 0 || rep.EntriesPastEnd == 0 || !rep.UncleanStop {
		t.Fatalf("torn tail with a hole: problems %v, torn %d, past end %d, notes %v", rep.Problems, rep.TornTail, rep.EntriesPastEnd, rep.Notes)
	}
	// Recovery cuts there; afterwards the store checks clean.
	s := openStore(t, testOptions(crashed, commitlog.SyncFlush))
	if cut := s.RecoveryReport().CutAt; cut < end-end%segSize || cut >= end {
		t.Fatalf("recovery cut at %d, end was %d", cut, end)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := checkStore(t, crashed); !rep.OK() || rep.TornTail != 0 || rep.UncleanStop {
		t.Fatalf("after recovery: problems %v, torn %d", rep.Problems, rep.TornTail)
	}
}

// hashFiles returns the SHA-256 of every file under dir, by path.
func hashFiles(t *testing.T, fs vfs.FS, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	names, err := fs.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := fs.PathJoin(dir, n)
		st, err := fs.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.IsDir() {
			maps.Copy(out, hashFiles(t, fs, p))
			continue
		}
		out[p] = sha256.Sum256(vfstest.ReadFile(t, fs, p))
	}
	return out
}

// unchanged runs act and fails when any file under dir changed, appeared
// or went meanwhile; what names act in the failures.
func unchanged(t *testing.T, fs vfs.FS, dir, what string, act func()) {
	t.Helper()
	before := hashFiles(t, fs, dir)
	act()
	after := hashFiles(t, fs, dir)
	for p, h := range before {
		if h2, ok := after[p]; !ok {
			t.Errorf("%s removed %s", what, p)
		} else if h2 != h {
			t.Errorf("%s changed %s", what, p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s created %s", what, p)
		}
	}
}

// checkUnchanged runs Check and fails when any file under data changed,
// appeared or went.
func checkUnchanged(t *testing.T, fs vfs.FS, what string) (rep *CheckReport) {
	t.Helper()
	unchanged(t, fs, "data", what+": Check", func() { rep = checkStore(t, fs) })
	return rep
}

// TestCheckIsReadOnly: Check writes nothing in the store, clean or after a
// crash, and reports a damaged queue state as a problem. It used to open
// Pebble and the index for writing: every run rewrote the active index
// file and Pebble's WAL and MANIFEST, and a damaged state record made
// queue.Open delete every queue entry (the reset a broker's start does)
// while Check, finding nothing left to check, said OK.
func TestCheckIsReadOnly(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	if rep := checkUnchanged(t, fs, "clean store"); !rep.OK() {
		t.Fatalf("clean store: %v", rep.Problems)
	}
	crashed, _, _ := crashAfterPuts(t, true)
	if rep := checkUnchanged(t, crashed, "crashed store"); !rep.OK() || rep.QueueEntries == 0 {
		t.Fatalf("crashed store: %d entries, problems %v", rep.QueueEntries, rep.Problems)
	}

	// A 3-byte value in T/1's state record (the key layout is part of
	// the format: 's', topic, 0, queue id).
	db, err := pebble.Open("data/meta", &pebble.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Set([]byte("sT\x00\x00\x00\x00\x01"), []byte{1, 2, 3}, pebble.Sync), db.Close()); err != nil {
		t.Fatal(err)
	}
	rep := checkUnchanged(t, fs, "damaged state")
	if rep.OK() {
		t.Fatalf("damaged state record: Check says OK (%d queues, %d entries)", rep.Queues, rep.QueueEntries)
	}
	wantProblem(t, rep, "queue", "bad state record")
	// The entries are still there for the broker's start to rebuild.
	qdb, err := queue.Open(queue.Options{FS: fs, Dir: "data/meta", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer qdb.Close()
	n := 0
	if err := qdb.ScanAllEntries(func(queue.Ref, int64, queue.Entry) bool { n++; return true }); err != nil || n == 0 {
		t.Fatalf("queue entries after Check: %d, %v", n, err)
	}
}

// A store whose meta/ is gone while the CommitLog holds records is a
// problem for Check, as it is for Open (ErrMetaMissing): it used to be a
// note, and Check said OK about a store no broker would start on.
func TestCheckReportsMissingMeta(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	if err := fs.RemoveAll("data/meta"); err != nil {
		t.Fatal(err)
	}
	rep := checkStore(t, fs)
	if rep.OK() {
		t.Fatalf("Check says OK without meta/: notes %v", rep.Notes)
	}
	wantProblem(t, rep, "queue", "meta/ is missing")
}
