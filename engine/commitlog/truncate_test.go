package commitlog

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"

	"github.com/wharfmq/wharf/internal/durable"
)

const truncSegSize = 16 << 10

// fillLog appends n records of varied sizes and returns what the log holds
// by offset, and the offsets in order.
func fillLog(t *testing.T, c *CommitLog, from, n int) map[int64][]byte {
	t.Helper()
	out := map[int64][]byte{}
	for i := from; i < from+n; i++ {
		rec := record(i, 100+(i*131)%2500)
		phys, _, err := c.Append(rec, nil)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out[phys] = stored(rec, phys)
	}
	return out
}

func sortedOffsets(m map[int64][]byte) []int64 {
	out := make([]int64, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// keepBelow returns the records of m below phys.
func keepBelow(m map[int64][]byte, phys int64) map[int64][]byte {
	out := map[int64][]byte{}
	for p, r := range m {
		if p < phys {
			out[p] = r
		}
	}
	return out
}

// sameRecords fails unless the log holds exactly want.
func sameRecords(t *testing.T, c *CommitLog, want map[int64][]byte) {
	t.Helper()
	got, _ := readAll(t, c)
	if len(got) != len(want) {
		t.Fatalf("log holds %d records, want %d (end %d)", len(got), len(want), c.End())
	}
	for p, r := range want {
		if !bytes.Equal(got[p], r) {
			t.Fatalf("record at %d differs or is missing", p)
		}
	}
}

// truncCases picks cut points: mid-segment in an older segment, a segment
// start, the BLANK at a segment's end (behind the boundary), inside the
// active segment, and the end itself.
func truncCases(t *testing.T, recs map[int64][]byte, end int64) map[string]int64 {
	t.Helper()
	offs := sortedOffsets(recs)
	cases := map[string]int64{"end": end}
	for i, p := range offs {
		if p/truncSegSize == 1 && cases["mid-segment"] == 0 && i+1 < len(offs) && offs[i+1]/truncSegSize == 1 && p%truncSegSize != 0 {
			cases["mid-segment"] = p
		}
		if p%truncSegSize == 0 && p >= 2*truncSegSize && cases["segment start"] == 0 {
			cases["segment start"] = p
			// The end of the previous segment's last record: its BLANK.
			last := offs[i-1]
			cases["before a BLANK"] = last + int64(len(recs[last]))
		}
	}
	last := offs[len(offs)-1]
	cases["last record"] = last
	if len(cases) != 5 {
		t.Fatalf("fixture too small for the cut points: %v", cases)
	}
	return cases
}

func TestTruncateTo(t *testing.T) {
	for _, kind := range []string{"mem-sync", "os-async-mapped", "os-sync"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			memFS := vfs.NewMem()
			openLog := func() *CommitLog {
				switch kind {
				case "mem-sync":
					return open(t, memFS, SyncFlush, truncSegSize)
				case "os-async-mapped":
					return openOS(t, dir, AsyncFlush, MmapOn, truncSegSize)
				default:
					return openOS(t, dir, SyncFlush, MmapOff, truncSegSize)
				}
			}
			c := openLog()
			recs := fillLog(t, c, 0, 60)
			cases := truncCases(t, recs, c.End())
			// From the end backwards, so each cut is below the last.
			names := []string{"end", "last record", "before a BLANK", "segment start", "mid-segment"}
			sort.Slice(names, func(i, j int) bool { return cases[names[i]] > cases[names[j]] })
			next := 1000
			for _, name := range names {
				phys := cases[name]
				if err := c.TruncateTo(phys, nil); err != nil {
					t.Fatalf("%s: truncate to %d: %v", name, phys, err)
				}
				if c.End() != phys || c.Readable() != phys {
					t.Fatalf("%s: end %d readable %d after a cut at %d", name, c.End(), c.Readable(), phys)
				}
				recs = keepBelow(recs, phys)
				sameRecords(t, c, recs)
				// New records go at the cut and survive a restart.
				more := fillLog(t, c, next, 8)
				next += 8
				if first := sortedOffsets(more)[0]; first != phys && !(first%truncSegSize == 0 && first > phys) {
					t.Fatalf("%s: first append after the cut at %d went to %d", name, phys, first)
				}
				for p, r := range more {
					recs[p] = r
				}
				c.Close()
				c = openLog()
				sameRecords(t, c, recs)
				if err := c.TruncateTo(c.End(), nil); err != nil {
					t.Fatal(err)
				}
				// Cut the new records again to continue from phys.
				if err := c.TruncateTo(phys, nil); err != nil {
					t.Fatalf("%s: second cut: %v", name, err)
				}
				recs = keepBelow(recs, phys)
			}
			defer c.Close()
			// Refusals change nothing.
			offs := sortedOffsets(recs)
			inside := offs[len(offs)-1] + 1
			end := c.End()
			if err := c.TruncateTo(inside, nil); !errors.Is(err, ErrNotBoundary) {
				t.Fatalf("cut inside a record: %v", err)
			}
			if err := c.TruncateTo(end+1, nil); err == nil {
				t.Fatal("cut past the end accepted")
			}
			if err := c.TruncateTo(-1, nil); err == nil {
				t.Fatal("cut below the start accepted")
			}
			if c.End() != end || c.Err() != nil {
				t.Fatalf("a refused cut changed the log: end %d -> %d, err %v", end, c.End(), c.Err())
			}
			sameRecords(t, c, recs)
		})
	}
}

// cloner takes a crash image of the file system before every write-side
// operation once armed: a crash at that instant.
type cloner struct {
	mu     sync.Mutex
	fs     *vfs.MemFS
	armed  bool
	r      *rand.Rand
	images []*vfs.MemFS
}

func (c *cloner) String() string { return "crash image before each write" }

func (c *cloner) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed {
		pct := []int{0, 50, 100}[c.r.IntN(3)]
		c.images = append(c.images, c.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(c.r.Uint64(), 7))}))
	}
	return nil
}

// TestTruncateCrashPoints crashes at every write-side file system
// operation of a cut (and right after it) and checks that recovery finds
// either the whole old log or exactly the records below the cut, never a
// cut record; and that after an append and another crash, the cut
// records still do not come back.
func TestTruncateCrashPoints(t *testing.T) {
	seed := testSeed(t)
	for _, cut := range []string{"mid-segment", "segment start", "last record"} {
		t.Run(cut, func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			cl := &cloner{fs: mem, r: rand.New(rand.NewPCG(seed, 9))}
			fs := errorfs.Wrap(mem, cl)
			opts := Options{FS: fs, Dir: "cl", SegmentSize: truncSegSize, FlushMode: SyncFlush, Prewrite: PrewriteOn, Logger: quiet}
			c, err := Open(opts)
			if err != nil {
				t.Fatal(err)
			}
			recs := fillLog(t, c, 0, 60)
			c.Close()
			// Reopen: the checkpoint now lies at the end, past the cut,
			// where a stale tail would be trusted.
			if c, err = Open(opts); err != nil {
				t.Fatal(err)
			}
			phys := truncCases(t, recs, c.End())[cut]
			cl.mu.Lock()
			cl.armed = true
			cl.mu.Unlock()
			if err := c.TruncateTo(phys, nil); err != nil {
				t.Fatal(err)
			}
			cl.mu.Lock()
			cl.armed = false
			images := append(cl.images, mem.CrashClone(vfs.CrashCloneCfg{}))
			cl.mu.Unlock()
			c.Close()
			below := keepBelow(recs, phys)
			sawOld, sawCut, marked := false, false, 0
			for i, img := range images {
				if p, _, _ := durable.ReadSlotFile(img, "cl/"+truncMarkName, &truncMarkLayout); p != nil {
					// The cut was under way: crash again at every write of
					// the recovery that finishes it.
					marked++
					if rep, err := Check(CheckOptions{FS: img, Dir: "cl", SegmentSize: truncSegSize}); err != nil || rep.PendingCut != phys {
						t.Fatalf("image %d: Check says the pending cut is at %d (%v), want %d", i, rep.PendingCut, err, phys)
					}
					checkRecoveryCrashes(t, img.CrashClone(vfs.CrashCloneCfg{}), opts, below, seed)
				}
				o := opts
				o.FS = img
				rc, err := Open(o)
				if err != nil {
					t.Fatalf("image %d: open: %v", i, err)
				}
				got, _ := readAll(t, rc)
				want := below
				if len(got) == len(recs) {
					want = recs
					sawOld = true
				} else {
					sawCut = true
				}
				for p, r := range want {
					if !bytes.Equal(got[p], r) {
						t.Fatalf("image %d: record at %d lost or changed (%d records, end %d, cut at %d)", i, p, len(got), rc.End(), phys)
					}
				}
				if len(got) != len(want) {
					t.Fatalf("image %d: %d records after a crash during a cut at %d: want %d or %d", i, len(got), phys, len(recs), len(below))
				}
				if len(got) == len(below) {
					// Append, crash again with nothing unsynced lost:
					// the cut records must stay gone.
					more := fillLog(t, rc, 5000, 3)
					img2 := img.CrashClone(vfs.CrashCloneCfg{})
					rc.Close()
					o.FS = img2
					rc2, err := Open(o)
					if err != nil {
						t.Fatalf("image %d: reopen: %v", i, err)
					}
					got2, _ := readAll(t, rc2)
					if len(got2) != len(below)+len(more) {
						t.Fatalf("image %d: %d records after append and crash, want %d", i, len(got2), len(below)+len(more))
					}
					for p, r := range more {
						if !bytes.Equal(got2[p], r) {
							t.Fatalf("image %d: appended record at %d lost", i, p)
						}
					}
					rc2.Close()
				} else {
					rc.Close()
				}
			}
			if !sawCut {
				t.Fatal("no crash image held the finished cut")
			}
			if marked == 0 {
				t.Fatal("no crash image caught the truncation mark")
			}
			t.Logf("%d crash points (old log %v, cut %v, %d with the mark)", len(images), sawOld, sawCut, marked)
		})
	}
}

// checkRecoveryCrashes opens base (a crash image holding a truncation
// mark), taking a crash image before every write of the recovery, and
// checks that each opens to exactly the records below the cut.
func checkRecoveryCrashes(t *testing.T, base *vfs.MemFS, opts Options, below map[int64][]byte, seed uint64) {
	t.Helper()
	cl := &cloner{fs: base, r: rand.New(rand.NewPCG(seed, 11)), armed: true}
	o := opts
	o.FS = errorfs.Wrap(base, cl)
	c, err := Open(o)
	if err != nil {
		t.Fatalf("recovery with the mark: %v", err)
	}
	cl.mu.Lock()
	cl.armed = false
	images := cl.images
	cl.mu.Unlock()
	sameRecords(t, c, below)
	c.Close()
	for i, img := range images {
		o.FS = img
		rc, err := Open(o)
		if err != nil {
			t.Fatalf("recovery crash image %d: %v", i, err)
		}
		sameRecords(t, rc, below)
		rc.Close()
	}
}
