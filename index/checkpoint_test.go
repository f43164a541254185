package index

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// oldCheckpointFile is a CHECKPOINT as written before internal/durable
// existed (by this package's own code), after writes of 123456, 1<<33+5
// and 987654321: seq 2 in copy 0, seq 3 in copy 1 (at headerStride).
func oldCheckpointFile(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, headerStride+28)
	for i, h := range []string{
		"5748434b000100000000000000000002000000020000000506c9c689",
		"5748434b000100000000000000000003000000003ade68b148b06be2",
	} {
		s, err := hex.DecodeString(h)
		if err != nil || len(s) != 28 {
			t.Fatalf("bad fixture %q", h)
		}
		copy(b[i*headerStride:], s)
	}
	return b
}

// TestCheckpointOldFormat: an index whose CHECKPOINT the old code wrote
// opens with that checkpoint, and the new code writes the same bytes (so
// an older binary reads what it writes).
func TestCheckpointOldFormat(t *testing.T) {
	old := oldCheckpointFile(t)
	fs := vfs.NewMem()
	fs.MkdirAll("idx", 0o755)
	writeAll(t, fs, "idx/"+checkpointName, bytes.Clone(old)) // MemFS may scribble on what it is given (-race)
	x := mustOpen(t, testOpts(fs, 16, 100))
	if got := x.Checkpoint(); got != 987654321 {
		t.Fatalf("old CHECKPOINT read as %d, want 987654321", got)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	fresh := vfs.NewMem()
	fresh.MkdirAll("idx", 0o755)
	cf := checkpointFile{}
	for _, v := range []int64{123456, 1<<33 + 5, 987654321} {
		if err := cf.write(fresh, "idx", v); err != nil {
			t.Fatal(err)
		}
	}
	_ = cf.close()
	if got := vfstest.ReadFile(t, fresh, "idx/"+checkpointName); !bytes.Equal(got, old) {
		i := 0
		for i < min(len(got), len(old)) && got[i] == old[i] {
			i++
		}
		t.Fatalf("new code writes %d bytes, old code wrote %d; first difference at byte %d", len(got), len(old), i)
	}
}

// TestRemoveAll: the index is gone, and a crash after RemoveAll cannot
// bring back a checkpoint without its files.
func TestRemoveAll(t *testing.T) {
	mem := vfs.NewCrashableMem()
	x := mustOpen(t, testOpts(mem, 16, 100))
	mustAdd(t, x, "k", 10, 1000)
	if err := x.Sync(11); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := RemoveAll(mem, "idx"); err != nil {
		t.Fatal(err)
	}
	after := mem.CrashClone(vfs.CrashCloneCfg{})
	for _, fs := range []vfs.FS{mem, after} {
		if _, err := fs.Stat("idx"); err == nil {
			t.Fatal("the index directory survived RemoveAll")
		}
	}
	if err := RemoveAll(mem, "idx"); err != nil {
		t.Fatalf("RemoveAll of a missing index: %v", err)
	}
}
