package commitlog

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// oldCheckpoint is a checkpoint file as written before internal/durable
// existed (by its own code in this package), after write(4096, false) and
// write(1<<40+17, true): seq 2 in slot 0, seq 1 in slot 4096.
func oldCheckpoint(t *testing.T, slot0, slot1 string) []byte {
	t.Helper()
	b := make([]byte, checkpointSlotStride+25)
	for i, h := range []string{slot0, slot1} {
		s, err := hex.DecodeString(h)
		if err != nil || len(s) != 25 {
			t.Fatalf("bad fixture %q", h)
		}
		copy(b[i*checkpointSlotStride:], s)
	}
	return b
}

// TestCheckpointOldFormat: files of stores written before the checkpoint
// moved to durable.SlotFile read unchanged, and the new code writes the
// same bytes (so an older binary reads what it writes).
func TestCheckpointOldFormat(t *testing.T) {
	old := oldCheckpoint(t,
		"5748435000000000000000020000010000000011012a0ca006",
		"574843500000000000000001000000000000100000b4b7e1af")
	fs := vfs.NewMem()
	fs.MkdirAll("cl", 0o755)
	vfstest.WriteFile(t, fs, "cl/"+checkpointName, old)
	cf, cp, found, err := openCheckpoint(fs, "cl")
	if err != nil {
		t.Fatal(err)
	}
	cf.close()
	if want := (checkpoint{seq: 2, offset: 1<<40 + 17, clean: true}); !found || cp != want {
		t.Fatalf("old file read as %+v (found %v), want %+v", cp, found, want)
	}
	if cp, found, exists, err := readCheckpoint(fs, "cl"); err != nil || !exists || !found || cp.offset != 1<<40+17 || !cp.clean {
		t.Fatalf("read-only: %+v found %v exists %v err %v", cp, found, exists, err)
	}

	fresh := vfs.NewMem()
	cf, _, _, err = openCheckpoint(fresh, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.write(4096, false); err != nil {
		t.Fatal(err)
	}
	if err := cf.write(1<<40+17, true); err != nil {
		t.Fatal(err)
	}
	cf.close()
	if got := vfstest.ReadFile(t, fresh, checkpointName); !bytes.Equal(got, old) {
		i := 0
		for i < min(len(got), len(old)) && got[i] == old[i] {
			i++
		}
		t.Fatalf("new code writes %d bytes, old code wrote %d; first difference at byte %d", len(got), len(old), i)
	}
}

// TestOpenOldStore opens a CommitLog whose checkpoint the code before
// internal/durable wrote at a clean close after one 226-byte record: the
// clean checkpoint must be trusted (no scan), as it was then. The segment
// (whose format did not change) is written by today's code.
func TestOpenOldStore(t *testing.T) {
	fs := vfs.NewMem()
	opts := Options{FS: fs, Dir: "cl", SegmentSize: 64 << 10, FlushMode: SyncFlush, Prewrite: PrewriteOff}
	c, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Append(record(1, 100), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	want := vfstest.ReadFile(t, fs, "cl/"+SegmentName(0))
	vfstest.WriteFile(t, fs, "cl/checkpoint", oldCheckpoint(t,
		"57484350000000000000000200000000000000e20132720a29",
		"574843500000000000000001000000000000000000c4159c25"))
	if c, err = Open(opts); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rep := c.Report(); !rep.Clean || rep.From != 226 || rep.End != 226 || rep.Records != 0 {
		t.Fatalf("report %+v: want a clean open at 226 with nothing scanned", rep)
	}
	got, order := readAll(t, c)
	if len(order) != 1 || !bytes.Equal(got[0], want[:226]) {
		t.Fatalf("records at %v; the first one changed: %v", order, !bytes.Equal(got[0], want[:226]))
	}
}
