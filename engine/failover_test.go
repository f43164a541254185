package engine

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/wharfmq/wharf/engine/commitlog"
)

// putRec is one message put by a truncation test.
type putRec struct {
	id        int
	q         int32
	phys, end int64
	qoff      int64
}

// putMsgs puts ids [from, to) to queues id%4 and returns them.
func putMsgs(t *testing.T, s *Store, from, to int) []putRec {
	t.Helper()
	var out []putRec
	for i := from; i < to; i++ {
		q := int32(i % 4)
		res, err := s.Put(newMsg("T", q, i, "A"))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.ReadRecord(res.Phys)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, putRec{id: i, q: q, phys: res.Phys, end: res.Phys + int64(len(rec)), qoff: res.QueueOffset})
	}
	return out
}

// below returns the records that start below phys.
func below(recs []putRec, phys int64) []putRec {
	var out []putRec
	for _, r := range recs {
		if r.phys < phys {
			out = append(out, r)
		}
	}
	return out
}

// checkServes fails unless s serves exactly recs: queue maxima, every
// message by queue offset, and the key index (a kept key found, a cut
// key not).
func checkServes(t *testing.T, s *Store, recs []putRec, cut []putRec) {
	t.Helper()
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	count := map[int32]int64{}
	for _, r := range recs {
		if r.qoff != count[r.q] {
			t.Fatalf("message %d has queue offset %d, want %d", r.id, r.qoff, count[r.q])
		}
		count[r.q]++
	}
	for q := int32(0); q < 4; q++ {
		st, _ := s.QueueState("T", q)
		if st.Max != count[q] {
			t.Fatalf("queue %d: max %d, want %d", q, st.Max, count[q])
		}
		got, err := s.Get("T", q, 0, 10000, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if int64(got.Count) != count[q] {
			t.Fatalf("queue %d: Get returned %d messages, want %d", q, got.Count, count[q])
		}
	}
	far := time.Now().Add(time.Hour).UnixMilli()
	if len(recs) > 0 {
		last := recs[len(recs)-1]
		if hits, err := s.QueryByKey("T", fmt.Sprintf("k%d", last.id), 10, 0, far); err != nil || len(hits) != 1 {
			t.Fatalf("key of kept message %d: %d hits, %v", last.id, len(hits), err)
		}
	}
	for _, r := range cut {
		if hits, err := s.QueryByKey("T", fmt.Sprintf("k%d", r.id), 10, 0, far); err != nil || len(hits) != 0 {
			t.Fatalf("key of cut message %d: %d hits, %v", r.id, len(hits), err)
		}
	}
}

// cutPoints picks a cut mid-segment, at a segment start, and at the end of
// the last record before a segment's BLANK (behind the boundary).
func cutPoints(t *testing.T, recs []putRec, seg int64) map[string]int64 {
	t.Helper()
	cuts := map[string]int64{"mid-segment": recs[len(recs)*3/4].phys}
	for i, r := range recs {
		if i > 0 && r.phys%seg == 0 {
			cuts["segment start"] = r.phys
			cuts["before a BLANK"] = recs[i-1].end
			break
		}
	}
	if len(cuts) != 3 || recs[len(recs)*3/4].phys%seg == 0 {
		t.Fatalf("fixture does not give the cut points: %v", cuts)
	}
	return cuts
}

func ids(recs []putRec) map[int]bool {
	out := map[int]bool{}
	for _, r := range recs {
		out[r.id] = true
	}
	return out
}

func minus(all, keep []putRec) []putRec {
	k := ids(keep)
	var out []putRec
	for _, r := range all {
		if !k[r.id] {
			out = append(out, r)
		}
	}
	return out
}

// TestStoreTruncateTo cuts a store mid-segment, at a segment start and
// behind a segment boundary, and checks queues, blooms, index and queue
// offsets after the cut, after appends at the cut, and after a restart.
func TestStoreTruncateTo(t *testing.T) {
	for _, mode := range []commitlog.FlushMode{commitlog.SyncFlush, commitlog.AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			opts := testOptions(vfs.NewMem(), mode)
			s := openStore(t, opts)
			all := putMsgs(t, s, 0, 500)
			cuts := cutPoints(t, all, s.SegmentSize())
			names := []string{"mid-segment", "segment start", "before a BLANK"}
			sort.Slice(names, func(i, j int) bool { return cuts[names[i]] > cuts[names[j]] })
			recs := all
			next := 1000
			for _, name := range names {
				phys := cuts[name]
				if err := s.TruncateTo(phys); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if s.MaxPhysOffset() != phys {
					t.Fatalf("%s: end %d after a cut at %d", name, s.MaxPhysOffset(), phys)
				}
				kept := below(recs, phys)
				checkServes(t, s, kept, minus(recs, kept))
				more := putMsgs(t, s, next, next+30)
				next += 30
				if more[0].phys != phys && more[0].phys%s.SegmentSize() != 0 {
					t.Fatalf("%s: first put after the cut at %d went to %d", name, phys, more[0].phys)
				}
				recs = append(kept, more...)
				checkServes(t, s, recs, minus(all, recs))
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = openStore(t, opts)
				checkServes(t, s, recs, minus(all, recs))
				// Cut the new messages again before the next, lower cut.
				if err := s.TruncateTo(phys); err != nil {
					t.Fatal(err)
				}
				recs = kept
			}
			// A cut inside a record changes nothing.
			end := s.MaxPhysOffset()
			if err := s.TruncateTo(recs[len(recs)-1].phys + 3); err == nil {
				t.Fatal("a cut inside a record was accepted")
			}
			if s.MaxPhysOffset() != end {
				t.Fatal("a refused cut moved the end")
			}
			checkServes(t, s, recs, nil)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := Check(CheckOptions{FS: opts.FS, Dir: opts.Dir, Logger: opts.Logger})
			if err != nil || !rep.OK() {
				t.Fatalf("check after the cuts: %v %+v", err, rep)
			}
		})
	}
}

// imager takes a crash image of the file system before every write-side
// operation while armed.
type imager struct {
	mu     sync.Mutex
	fs     *vfs.MemFS
	armed  bool
	r      *rand.Rand
	images []*vfs.MemFS
}

func (m *imager) String() string { return "crash image before each write" }

func (m *imager) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.armed {
		pct := []int{0, 50, 100}[m.r.IntN(3)]
		m.images = append(m.images, m.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(m.r.Uint64(), 5))}))
	}
	return nil
}

// TestStoreTruncateCrash crashes at every write of a store's cut (the
// CommitLog's, Pebble's and the index's) and checks that each image opens
// to either the whole old store or exactly the cut one, queues and index
// included, and that the cut messages stay gone after appends and another
// crash.
func TestStoreTruncateCrash(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	mem := vfs.NewCrashableMem()
	im := &imager{fs: mem, r: rand.New(rand.NewPCG(seed, 1))}
	opts := testOptions(errorfs.Wrap(mem, im), commitlog.SyncFlush)
	s := openStore(t, opts)
	all := putMsgs(t, s, 0, 300)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts) // checkpoints now lie at the end, past the cut
	phys := cutPoints(t, all, s.SegmentSize())["mid-segment"]
	im.mu.Lock()
	im.armed = true
	im.mu.Unlock()
	if err := s.TruncateTo(phys); err != nil {
		t.Fatal(err)
	}
	im.mu.Lock()
	im.armed = false
	images := append(im.images, mem.CrashClone(vfs.CrashCloneCfg{}))
	im.mu.Unlock()
	s.Close()
	kept := below(all, phys)
	old, cut := 0, 0
	for i, img := range images {
		o := opts
		o.FS = img
		rs, err := Open(o)
		if err != nil {
			t.Fatalf("image %d: open: %v", i, err)
		}
		switch rs.MaxPhysOffset() {
		case all[len(all)-1].end:
			old++
			checkServes(t, rs, all, nil)
			rs.Close()
			continue
		case phys:
			cut++
			checkServes(t, rs, kept, minus(all, kept))
		default:
			t.Fatalf("image %d: end %d, want the old end %d or the cut %d", i, rs.MaxPhysOffset(), all[len(all)-1].end, phys)
		}
		more := putMsgs(t, rs, 2000, 2010)
		img2 := img.CrashClone(vfs.CrashCloneCfg{})
		rs.Close()
		o.FS = img2
		rs = openStore(t, o)
		checkServes(t, rs, append(append([]putRec(nil), kept...), more...), minus(all, kept))
		rs.Close()
	}
	if cut == 0 {
		t.Fatal("no image held the finished cut")
	}
	t.Logf("%d crash images: %d with the old store, %d with the cut", len(images), old, cut)
}

// TestConfirmOffsetLimitsDispatch: with a confirm offset, consumers and
// key queries see only records that end at or below it; moving it wakes
// the dispatcher; HoldUnconfirmed keeps a restarted store from replaying
// past what was visible; a cut lowers it.
func TestConfirmOffsetLimitsDispatch(t *testing.T) {
	opts := testOptions(vfs.NewMem(), commitlog.SyncFlush)
	s := openStore(t, opts)
	if _, ok := s.ConfirmOffset(); ok {
		t.Fatal("a new store has a confirm offset")
	}
	s.SetConfirmOffset(0)
	recs := putMsgs(t, s, 0, 40)
	visible := func(n int) {
		t.Helper()
		total := 0
		for q := int32(0); q < 4; q++ {
			got, err := s.Get("T", q, 0, 1000, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			total += got.Count
		}
		if total != n {
			t.Fatalf("%d messages visible, want %d", total, n)
		}
		far := time.Now().Add(time.Hour).UnixMilli()
		if n < len(recs) {
			if hits, _ := s.QueryByKey("T", fmt.Sprintf("k%d", recs[n].id), 10, 0, far); len(hits) != 0 {
				t.Fatalf("key of unconfirmed message %d found", recs[n].id)
			}
		}
	}
	// A limit inside record 10: records 0..9 only.
	lim := recs[10].phys + 5
	s.SetConfirmOffset(lim)
	if err := s.disp.WaitFor(recs[10].phys, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	s.disp.Notify()
	if err := s.disp.WaitFor(recs[10].phys, time.Second); err != nil {
		t.Fatal(err)
	}
	if p := s.DispatchedOffset(); p != recs[10].phys {
		t.Fatalf("dispatched to %d with a confirm offset at %d (record 10 at %d)", p, lim, recs[10].phys)
	}
	visible(10)
	s.SetConfirmOffset(recs[30].phys)
	if err := s.disp.WaitFor(recs[30].phys, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	visible(30)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart with HoldUnconfirmed replays nothing past what was seen.
	opts.HoldUnconfirmed = true
	s = openStore(t, opts)
	if off, ok := s.ConfirmOffset(); !ok || off != recs[30].phys {
		t.Fatalf("confirm offset after restart %d %v, want %d", off, ok, recs[30].phys)
	}
	visible(30)
	// A cut below it lowers it.
	if err := s.TruncateTo(recs[20].phys); err != nil {
		t.Fatal(err)
	}
	if off, _ := s.ConfirmOffset(); off != recs[20].phys {
		t.Fatalf("confirm offset %d after a cut at %d", off, recs[20].phys)
	}
	recs = recs[:20]
	visible(20)
	recs = append(recs, putMsgs(t, s, 100, 110)...)
	visible(20)
	s.SetConfirmOffset(-1)
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	visible(30)
	s.Close()
}

// TestResumeQueueOffsets: a replica whose dispatch is held back by its
// confirm offset continues the master's queue offsets after
// ResumeQueueOffsets.
func TestResumeQueueOffsets(t *testing.T) {
	master := openStore(t, testOptions(vfs.NewMem(), commitlog.SyncFlush))
	defer master.Close()
	sopts := testOptions(vfs.NewMem(), commitlog.SyncFlush)
	sopts.HoldUnconfirmed = true
	slave := openStore(t, sopts)
	defer slave.Close()
	putMsgs(t, master, 0, 200)
	ship(t, master, slave, 8000)
	if err := slave.ResumeQueueOffsets(); err != nil {
		t.Fatal(err)
	}
	for q := int32(0); q < 4; q++ {
		res, err := slave.Put(newMsg("T", q, 900+int(q), ""))
		if err != nil {
			t.Fatal(err)
		}
		if res.QueueOffset != 50 {
			t.Fatalf("queue %d: the new master's first put got queue offset %d, want 50", q, res.QueueOffset)
		}
	}
	if st, _ := slave.QueueState("T", 0); st.Max != 0 {
		t.Fatalf("the confirm offset let %d entries through", st.Max)
	}
}
