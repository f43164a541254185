package commitlog

import (
	"bytes"
	"flag"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
)

var tornFull = flag.Bool("torn-full", false, "TestTornTail at every byte of the whole last segment (RELIABILITY T2 nightly size)")

// tornFixture is one 256 KiB segment of varied records, single and batched.
type tornFixture struct {
	segment []byte
	ends    []int64 // end offset of every record, ascending
}

func buildTornFixture(t *testing.T) tornFixture {
	const segSize = 256 << 10
	fs := vfs.NewMem()
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: segSize, FlushMode: SyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 42))
	var ends []int64
	for i := 0; ; i++ {
		var recs []byte
		n := 1
		if i%5 == 0 {
			n = 1 + r.IntN(4) // a batch
		}
		for k := 0; k < n; k++ {
			size := 1 + r.IntN(16<<10)
			if r.IntN(4) > 0 {
				size = 1 + r.IntN(256)
			}
			recs = append(recs, record(i*10+k, size)...)
		}
		if c.End()+int64(len(recs))+msg.BlankHeaderSize > segSize {
			break
		}
		phys, _, err := c.Append(recs, nil)
		if err != nil {
			t.Fatal(err)
		}
		for p := int64(0); p < int64(len(recs)); {
			size := int64(beUint32(recs[p:]))
			p += size
			ends = append(ends, phys+p)
		}
	}
	c.Close()
	f, _ := fs.Open("cl/" + SegmentName(0))
	seg, _ := io.ReadAll(f)
	f.Close()
	return tornFixture{segment: seg, ends: ends}
}

// TestTornTail is RELIABILITY T2: the last segment cut at byte b, (a)
// truncated there, (b) zero-filled from there, (c) filled with garbage from
// there. Recovery must end at the last whole record at or before b, keep
// every record before it, report the bytes it cut, and never panic. By
// default b covers every byte of the last three records; -torn-full covers
// the whole segment.
func TestTornTail(t *testing.T) {
	fx := buildTornFixture(t)
	end := fx.ends[len(fx.ends)-1]
	from := fx.ends[len(fx.ends)-4]
	if *tornFull {
		from = 0
	}
	garbage := make([]byte, 256<<10)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range garbage {
		garbage[i] = byte(r.Uint32())
	}
	cases := 0
	if testing.Short() {
		from = fx.ends[len(fx.ends)-2]
	}
	ckpt := fx.ends[len(fx.ends)-6]
	for b := from; b <= end; b++ {
		// The durable checkpoint: the start of the record b falls in,
		// so the scan covers the torn record and what follows.
		want := int64(0)
		for _, e := range fx.ends {
			if e <= b {
				want = e
			}
		}
		ck := ckpt
		if ck > want {
			ck = 0
		}
		for variant := 0; variant < 3; variant++ {
			img := bytes.Clone(fx.segment[:b])
			switch variant {
			case 1:
				img = append(img, make([]byte, len(fx.segment)-int(b))...)
			case 2:
				img = append(img, garbage[b:len(fx.segment)]...)
			}
			checkTorn(t, img, ck, want, b, variant)
			cases++
		}
	}
	t.Logf("%d torn-tail cases, 0 failures", cases)
}

func checkTorn(t *testing.T, img []byte, ckpt, want, b int64, variant int) {
	fs := vfs.NewMem()
	fs.MkdirAll("cl", 0o755)
	f, _ := fs.Create("cl/"+SegmentName(0), vfs.WriteCategoryUnspecified)
	f.Write(bytes.Clone(img)) // MemFS may scribble on the buffer (pebble invariants under -race)
	f.Close()
	cf, _, _, _ := openCheckpoint(fs, "cl")
	cf.write(ckpt, false)
	cf.close()
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: 256 << 10, FlushMode: SyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatalf("b=%d variant %d: open: %v", b, variant, err)
	}
	rep := c.Report()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	f, _ = fs.Open("cl/" + SegmentName(0))
	after, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(after[:want], img[:want]) || lastNonZeroIndex(after[want:]) >= 0 {
		t.Fatalf("b=%d variant %d: records before the cut changed (%v) or bytes after it survive (%d, len %d, want %d, rep %+v)", b, variant, bytes.Equal(after[:want], img[:want]), lastNonZeroIndex(after[want:]), len(after), want, rep)
	}
	if rep.End != want {
		t.Fatalf("b=%d variant %d: recovered end %d, want %d (%+v)", b, variant, rep.End, want, rep)
	}
	last := int64(lastNonZeroIndex(img[want:])) + 1
	if rep.CutBytes != last {
		t.Fatalf("b=%d variant %d: reported %d bytes cut, want %d", b, variant, rep.CutBytes, last)
	}
	if last > 0 && rep.CutAt != want {
		t.Fatalf("b=%d variant %d: cut at %d, want %d", b, variant, rep.CutAt, want)
	}
}
