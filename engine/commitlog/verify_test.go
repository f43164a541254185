package commitlog

import (
	"fmt"
	"io"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
)

// copyLog copies the CommitLog directory "cl" of src into a new MemFS.
func copyLog(t *testing.T, src vfs.FS) *vfs.MemFS {
	t.Helper()
	dst := vfs.NewMem()
	if err := dst.MkdirAll("cl", 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := src.List("cl")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		in, err := src.Open("cl/" + n)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(in)
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := dst.Create("cl/"+n, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := out.Write(b); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
	return dst
}

// TestRecoveryAgreesWithCheck (issue 9 §8): one record is damaged in a way
// each rule of VerifyRecord catches (the checksum property present with
// FlagRecordCRC clear among them, a rule recovery used to skip); with the
// checkpoint gone, recovery scans the whole log. It must end the log at the
// first record Check rejects, keep everything before it, and leave a log
// that Check finds no fault with; the iterator reads it to the end.
func TestRecoveryAgreesWithCheck(t *testing.T) {
	f := buildCheckFixture(t, 11)
	lastBase := f.bases[len(f.bases)-1]
	var inLast, inSealed []int64
	for _, s := range f.starts {
		if s >= lastBase {
			inLast = append(inLast, s)
		} else if s >= f.bases[1] && s < f.bases[2] {
			inSealed = append(inSealed, s)
		}
	}
	if len(inLast) < 3 || len(inSealed) < 3 {
		t.Fatalf("fixture: %d records in the last segment, %d in the second", len(inLast), len(inSealed))
	}
	const sysFlagLow16 = 37 // SYSFLAG is bytes 36-39, big-endian: bit 16 is bit 0 of byte 37
	damages := []struct {
		name string
		// at returns the record offset of the byte to flip, and the bit.
		at func(size int) (int64, uint)
	}{
		{"checksum property present, FlagRecordCRC clear", func(int) (int64, uint) { return sysFlagLow16, 0 }},
		{"property bit", func(size int) (int64, uint) { return int64(size) - 30, 2 }},
		{"size field", func(int) (int64, uint) { return 2, 0 }},
		{"checksum digit", func(size int) (int64, uint) { return int64(size) - 3, 0 }},
		{"physical offset field", func(int) (int64, uint) { return 30, 1 }},
		{"magic", func(int) (int64, uint) { return 5, 4 }},
	}
	for _, victims := range [][]int64{inLast, inSealed} {
		victim := victims[len(victims)/2]
		base := victim - victim%f.segSize
		for _, d := range damages {
			t.Run(fmt.Sprintf("%s at %d", d.name, victim), func(t *testing.T) {
				fs := copyLog(t, f.fs)
				if err := fs.Remove("cl/" + checkpointName); err != nil {
					t.Fatal(err)
				}
				off, bit := d.at(f.sizes[victim])
				flipBit(t, fs, "cl/"+SegmentName(base), victim-base+off, bit)

				rep, err := Check(CheckOptions{FS: fs, Dir: "cl", SegmentSize: f.segSize})
				if err != nil {
					t.Fatal(err)
				}
				first := int64(-1)
				for _, p := range rep.Problems {
					if p.Segment != "" {
						first = p.Offset
						break
					}
				}
				if first != victim {
					t.Fatalf("check: first damage at %d, want the victim %d: %v", first, victim, rep.Problems)
				}

				c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: f.segSize, FlushMode: AsyncFlush, Prewrite: PrewriteOff})
				if err != nil {
					t.Fatalf("recovery refused the log: %v", err)
				}
				rr := c.Report()
				if rr.End != victim || rr.CutAt != victim {
					c.Close()
					t.Fatalf("recovery ended the log at %d (cut at %d: %s); check rejects the record at %d", rr.End, rr.CutAt, rr.Reason, victim)
				}
				n := 0
				it := c.NewIterator(c.MinOffset())
				for {
					_, _, err := it.Next(c.Readable())
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("iterate the recovered log: %v", err)
					}
					n++
				}
				want := 0
				for _, s := range f.starts {
					if s < victim {
						want++
					}
				}
				if n != want {
					t.Fatalf("recovered log holds %d records, want the %d before the victim", n, want)
				}
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
				after, err := Check(CheckOptions{FS: fs, Dir: "cl", SegmentSize: f.segSize})
				if err != nil {
					t.Fatal(err)
				}
				if !after.OK() {
					t.Fatalf("check after recovery: %v", after.Problems)
				}
			})
		}
	}
}

// TestIteratorVerifiesUnverifiedRecords: a record below where recovery's
// scan started (after a clean close, recovery scans nothing) is held to
// VerifyRecord by the iterator, so a replay does not derive queues from a
// record Check rejects.
func TestIteratorVerifiesUnverifiedRecords(t *testing.T) {
	f := buildCheckFixture(t, 12)
	victim := f.starts[len(f.starts)/3]
	base := victim - victim%f.segSize
	flipBit(t, f.fs, "cl/"+SegmentName(base), victim-base+37, 0) // FlagRecordCRC off, checksum property kept
	if err := VerifyRecord(mustRead(t, f.fs, victim, f.sizes[victim], f.segSize), victim); err == nil {
		t.Fatal("damage not seen by VerifyRecord")
	}
	c, err := Open(Options{FS: f.fs, Dir: "cl", SegmentSize: f.segSize, FlushMode: AsyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Report().Clean {
		t.Fatalf("not a clean open: %+v", c.Report())
	}
	it := c.NewIterator(c.MinOffset())
	for {
		_, phys, err := it.Next(c.Readable())
		if err == io.EOF {
			t.Fatal("the iterator passed the damaged record")
		}
		if err != nil {
			if phys != victim {
				t.Fatalf("iterator stopped at %d, want %d: %v", phys, victim, err)
			}
			return
		}
	}
}

// mustRead reads one record of the log in fs.
func mustRead(t *testing.T, fs vfs.FS, phys int64, size int, segSize int64) []byte {
	t.Helper()
	r, err := OpenReader(fs, "cl", segSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b := make([]byte, size)
	if err := r.ReadAt(b, phys); err != nil {
		t.Fatal(err)
	}
	if _, kind, err := msg.PeekHeader(b); err != nil || kind != msg.KindRecord {
		t.Fatalf("no record at %d", phys)
	}
	return b
}
