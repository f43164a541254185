package commitlog

import (
	"flag"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
)

var checkTrials = flag.Int("check-trials", 0, "bit-flip trials for TestCheckDetectsEveryBitFlip (default 100; RELIABILITY T3 nightly: 1000)")

// checkFixture is a closed log of small segments and what a clean Check
// says about it.
type checkFixture struct {
	fs      *vfs.MemFS
	segSize int64
	starts  []int64 // every record's offset, ascending
	sizes   map[int64]int
	bases   []int64 // segments
}

func buildCheckFixture(t *testing.T, seed uint64) checkFixture {
	t.Helper()
	const segSize = 32 << 10
	fs := vfs.NewMem()
	c := open(t, fs, AsyncFlush, segSize)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := 0; i < 400; i++ {
		n := r.IntN(2000)
		if r.IntN(10) == 0 {
			n = 0
		}
		if _, _, err := c.Append(record(i, n), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f := checkFixture{fs: fs, segSize: segSize, sizes: map[int64]int{}}
	rep, err := Check(CheckOptions{FS: fs, Dir: "cl", OnRecord: func(phys int64, rec []byte) {
		f.starts = append(f.starts, phys)
		f.sizes[phys] = len(rec)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Records != 400 || rep.SegmentSize != segSize {
		t.Fatalf("clean log: %+v", rep)
	}
	f.bases, err = listSegments(fs, "cl")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.bases) < 5 {
		t.Fatalf("only %d segments", len(f.bases))
	}
	return f
}

func flipBit(t *testing.T, fs vfs.FS, path string, off int64, bit uint) {
	t.Helper()
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil && err != io.EOF {
		t.Fatal(err) // past the file's end the byte is zero
	}
	b[0] ^= 1 << bit
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestCheckDetectsEveryBitFlip is RELIABILITY T3 at the CommitLog level: one
// random bit flipped anywhere in a sealed segment (header, body, CRC field,
// BLANK filler) is always reported, naming the segment and the offset of
// the record holding the flip, and every other record is still verified.
func TestCheckDetectsEveryBitFlip(t *testing.T) {
	trials := 100
	if *checkTrials > 0 {
		trials = *checkTrials
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %d trials", seed, trials)
	f := buildCheckFixture(t, seed)
	r := rand.New(rand.NewPCG(seed, 2))
	sealed := f.bases[:len(f.bases)-1]
	var inHeader, inBlank int
	began := time.Now()
	for trial := 0; trial < trials; trial++ {
		base := sealed[r.IntN(len(sealed))]
		off := r.Int64N(f.segSize)
		bit := uint(r.IntN(8))
		phys := base + off
		// The unit holding the flip: a record, or the segment's BLANK.
		i, found := slices.BinarySearch(f.starts, phys)
		if !found {
			i--
		}
		unit, damaged := int64(-1), int64(-1)
		if i >= 0 && phys < f.starts[i]+int64(f.sizes[f.starts[i]]) {
			unit, damaged = f.starts[i], f.starts[i]
			if phys-unit < 36 {
				inHeader++
			}
		} else {
			// Past the segment's last record: its BLANK.
			last := base
			for _, s := range f.starts {
				if s >= base && s < base+f.segSize {
					last = s + int64(f.sizes[s])
				}
			}
			unit = last
			inBlank++
		}
		path := "cl/" + SegmentName(base)
		flipBit(t, f.fs, path, off, bit)
		seen := map[int64]bool{}
		rep, err := Check(CheckOptions{FS: f.fs, Dir: "cl", OnRecord: func(p int64, _ []byte) { seen[p] = true }})
		flipBit(t, f.fs, path, off, bit) // restore
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() {
			t.Fatalf("trial %d: flip of bit %d at %s+%d (phys %d) not detected", trial, bit, SegmentName(base), off, phys)
		}
		named := false
		for _, p := range rep.Problems {
			if p.Segment != SegmentName(base) {
				t.Fatalf("trial %d: flip at %d: problem in another segment: %v", trial, phys, p)
			}
			if p.Offset == unit {
				named = true
			}
		}
		if !named {
			t.Fatalf("trial %d: flip of bit %d at phys %d (unit at %d): problems %v", trial, bit, phys, unit, rep.Problems)
		}
		for _, s := range f.starts {
			if s != damaged && !seen[s] {
				t.Fatalf("trial %d: flip at %d (record %d): valid record at %d not verified; problems %v", trial, phys, damaged, s, rep.Problems)
			}
		}
		want := int64(len(f.starts))
		if damaged >= 0 {
			want--
		}
		if rep.Records != want {
			t.Fatalf("trial %d: %d records verified, want %d", trial, rep.Records, want)
		}
	}
	t.Logf("%d flips detected (%d in record headers, %d in BLANK fillers), %v", trials, inHeader, inBlank, time.Since(began))
}

func TestCheckFindsStructuralDamage(t *testing.T) {
	f := buildCheckFixture(t, 7)
	check := func() *CheckReport {
		t.Helper()
		rep, err := Check(CheckOptions{FS: f.fs, Dir: "cl", SegmentSize: f.segSize})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	has := func(rep *CheckReport, seg int64, substr string) {
		t.Helper()
		for _, p := range rep.Problems {
			if p.Segment == SegmentName(seg) && strings.Contains(p.Reason, substr) {
				return
			}
		}
		t.Fatalf("no problem %q in %s: %v", substr, SegmentName(seg), rep.Problems)
	}

	// Garbage after the end of the log, in the active segment.
	lastBase := f.bases[len(f.bases)-1]
	endOff := f.starts[len(f.starts)-1] + int64(f.sizes[f.starts[len(f.starts)-1]]) - lastBase
	flipBit(t, f.fs, "cl/"+SegmentName(lastBase), endOff+100, 3)
	has(check(), lastBase, "non-zero bytes after the end of the log")
	flipBit(t, f.fs, "cl/"+SegmentName(lastBase), endOff+100, 3)
	if rep := check(); !rep.OK() {
		t.Fatalf("restored: %v", rep.Problems)
	}

	// A whole segment zeroed in the middle of the log, then one missing.
	mid := f.bases[2]
	fh, err := f.fs.Create("cl/"+SegmentName(mid), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	fh.Close()
	rep := check()
	has(rep, mid, "sealed segment is zero")
	if err := f.fs.Remove("cl/" + SegmentName(mid)); err != nil {
		t.Fatal(err)
	}
	rep = check()
	has(rep, f.bases[3], "segments missing")
	// The records after the gap are still verified.
	after := 0
	for _, s := range f.starts {
		if s >= f.bases[3] {
			after++
		}
	}
	before := 0
	for _, s := range f.starts {
		if s < mid {
			before++
		}
	}
	if rep.Records != int64(before+after) {
		t.Fatalf("records %d, want %d", rep.Records, before+after)
	}
}

func TestReaderReadsRecords(t *testing.T) {
	f := buildCheckFixture(t, 3)
	rd, err := OpenReader(f.fs, "cl", f.segSize)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for _, s := range f.starts {
		b := make([]byte, f.sizes[s])
		if err := rd.ReadAt(b, s); err != nil {
			t.Fatal(err)
		}
		if err := VerifyRecord(b, s); err != nil {
			t.Fatalf("record at %d: %v", s, err)
		}
	}
	if err := rd.ReadAt(make([]byte, 16), f.bases[1]-8); err == nil {
		t.Fatal("read across a segment boundary succeeded")
	}
	if err := rd.ReadAt(make([]byte, msg.BlankHeaderSize), -1); err == nil {
		t.Fatal("read at -1 succeeded")
	}
}

// TestCheckEveryHeaderAndCRCBit flips, one at a time, every bit of the
// fixed header and of the checksum property of the last record of a sealed
// segment, and every bit of the BLANK header after it: the fields where a
// flip could mislead the resynchronisation.
func TestCheckEveryHeaderAndCRCBit(t *testing.T) {
	f := buildCheckFixture(t, 11)
	base := f.bases[1]
	var rec int64 = -1
	for _, s := range f.starts {
		if s >= base && s < base+f.segSize {
			rec = s
		}
	}
	size := int64(f.sizes[rec])
	var offs []int64
	for o := rec; o < rec+64; o++ {
		offs = append(offs, o)
	}
	for o := rec + size - 22; o < rec+size; o++ {
		offs = append(offs, o)
	}
	blank := rec + size
	for o := blank; o < blank+msg.BlankHeaderSize; o++ {
		offs = append(offs, o)
	}
	path := "cl/" + SegmentName(base)
	for _, phys := range offs {
		for bit := uint(0); bit < 8; bit++ {
			flipBit(t, f.fs, path, phys-base, bit)
			rep, err := Check(CheckOptions{FS: f.fs, Dir: "cl"})
			flipBit(t, f.fs, path, phys-base, bit)
			if err != nil {
				t.Fatal(err)
			}
			unit, want := rec, int64(len(f.starts)-1)
			if phys >= blank {
				unit, want = blank, int64(len(f.starts))
			}
			if rep.OK() || rep.Problems[0].Offset != unit || rep.Problems[0].Segment != SegmentName(base) || rep.Records != want {
				t.Fatalf("bit %d at %d (record %d, blank %d): records %d (want %d), problems %v", bit, phys, rec, blank, rep.Records, want, rep.Problems)
			}
		}
	}
}
