package durable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// testLayout has a 6-byte prefix and an 8-byte payload whose top bit must
// be clear (Valid), like the checkpoints that use slot files.
var testLayout = Layout{
	Prefix:      []byte("TEST\x00\x01"),
	PayloadSize: 8,
	Stride:      512,
	Valid:       func(p []byte) bool { return p[0]&0x80 == 0 },
}

func payload(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func value(t *testing.T, p []byte) uint64 {
	t.Helper()
	if p == nil {
		return 0
	}
	if len(p) != 8 {
		t.Fatalf("payload of %d bytes", len(p))
	}
	return binary.BigEndian.Uint64(p)
}

// writeValues opens path in fs and writes 1..n, then closes it.
func writeValues(t *testing.T, fs vfs.FS, path string, n int) {
	t.Helper()
	sf, _, _, err := OpenSlotFile(fs, path, &testLayout)
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= n; v++ {
		if err := sf.Write(payload(uint64(v))); err != nil {
			t.Fatal(err)
		}
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
}

// reopen opens path and returns the value read and whether the file exists.
func reopen(t *testing.T, fs vfs.FS, path string) (uint64, bool) {
	t.Helper()
	sf, p, ok, err := OpenSlotFile(fs, path, &testLayout)
	if err != nil {
		t.Fatal(err)
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
	// The read-only path must agree.
	p2, ok2, err := ReadSlotFile(fs, path, &testLayout)
	if err != nil || ok2 != ok || !bytes.Equal(p, p2) {
		t.Fatalf("ReadSlotFile = %x, %v, %v; OpenSlotFile read %x, %v", p2, ok2, err, p, ok)
	}
	return value(t, p), ok
}

func TestSlotFileRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	sf, p, ok, err := OpenSlotFile(fs, "f", &testLayout)
	if err != nil || p != nil || ok {
		t.Fatalf("missing file: %x, exists %v, err %v", p, ok, err)
	}
	if exists(fs, "f") {
		t.Fatal("OpenSlotFile created the file")
	}
	if err := sf.Close(); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 5; n++ {
		writeValues(t, fs, "f", 1)
		// Each reopen continues from the newest record: its slot is
		// kept, the other one is overwritten.
		sf, p, _, err := OpenSlotFile(fs, "f", &testLayout)
		if err != nil {
			t.Fatal(err)
		}
		if value(t, p) != 1 || sf.Seq() != uint64(n) {
			t.Fatalf("round %d: value %d seq %d", n, value(t, p), sf.Seq())
		}
		sf.Close()
	}
	writeValues(t, fs, "g", 7)
	if v, ok := reopen(t, fs, "g"); v != 7 || !ok {
		t.Fatalf("read %d, exists %v; want 7", v, ok)
	}
	b := vfstest.ReadFile(t, fs, "g")
	if len(b) != int(testLayout.Stride)+testLayout.SlotSize() {
		t.Fatalf("file of %d bytes", len(b))
	}
}

func TestSlotFileRejectsBadUse(t *testing.T) {
	fs := vfs.NewMem()
	bad := testLayout
	bad.Stride = int64(bad.SlotSize() - 1)
	if _, _, _, err := OpenSlotFile(fs, "f", &bad); err == nil {
		t.Fatal("a stride shorter than a slot accepted")
	}
	sf, _, _, err := OpenSlotFile(fs, "f", &testLayout)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	if err := sf.Write([]byte{1}); err == nil {
		t.Fatal("a short payload accepted")
	}
	if exists(fs, "f") {
		t.Fatal("a rejected write created the file")
	}
}

// TestSlotFileTornAndGarbage damages a file holding records 6 (slot 0)
// and 7 (slot 1) in every way a crash or a bad disk can, and checks that
// a read finds the newest record that is intact, never garbage.
func TestSlotFileTornAndGarbage(t *testing.T) {
	fs := vfs.NewMem()
	writeValues(t, fs, "f", 7)
	good := vfstest.ReadFile(t, fs, "f")
	size := testLayout.SlotSize()
	newest, older := int(testLayout.Stride), 0 // seq 7 in slot 1, seq 6 in slot 0

	check := func(what string, img []byte, want uint64) {
		t.Helper()
		vfstest.WriteFile(t, fs, "f", img)
		if got, ok := reopen(t, fs, "f"); got != want || !ok {
			t.Fatalf("%s: read %d (exists %v), want %d", what, got, ok, want)
		}
	}
	// Every single-byte change of either slot, bit flip or zero: CRC-32C
	// catches each, and the other slot wins.
	for _, at := range []struct {
		slot int
		want uint64
	}{{newest, 6}, {older, 7}} {
		for i := 0; i < size; i++ {
			for _, mut := range []func(byte) byte{
				func(b byte) byte { return b ^ 0x01 },
				func(b byte) byte { return b ^ 0x80 },
				func(byte) byte { return 0 },
				func(b byte) byte { return ^b },
			} {
				img := bytes.Clone(good)
				img[at.slot+i] = mut(img[at.slot+i])
				if img[at.slot+i] == good[at.slot+i] {
					continue
				}
				check(fmt.Sprintf("slot at %d, byte %d changed", at.slot, i), img, at.want)
			}
		}
	}
	// Torn writes: the file cut at every length. A cut inside the newest
	// slot leaves the older one; a cut inside the older slot (the file was
	// being created) leaves nothing.
	for n := 0; n <= len(good); n++ {
		want := uint64(7)
		switch {
		case n < size:
			want = 0
		case n < newest+size:
			want = 6
		}
		check(fmt.Sprintf("cut at %d", n), good[:n], want)
	}
	// A torn sector: the newest slot's tail replaced by what was there
	// before (the record of seq 5) or by garbage.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		img := bytes.Clone(good)
		from := newest + rng.IntN(size)
		for j := from; j < newest+size; j++ {
			img[j] = byte(rng.IntN(256))
		}
		if bytes.Equal(img, good) {
			continue
		}
		check(fmt.Sprintf("newest slot garbage from %d", from), img, 6)
	}
	// Both slots garbage: the file exists but holds no record.
	img := bytes.Clone(good)
	for i := range img {
		img[i] = byte(rng.IntN(256))
	}
	vfstest.WriteFile(t, fs, "f", img)
	if v, ok := reopen(t, fs, "f"); v != 0 || !ok {
		t.Fatalf("garbage file: read %d, exists %v", v, ok)
	}
	// A slot whose checksum is right but whose payload Valid rejects
	// counts as damaged.
	img = bytes.Clone(good)
	img[newest+len(testLayout.Prefix)+8] |= 0x80
	n := len(testLayout.Prefix) + 8 + testLayout.PayloadSize
	binary.BigEndian.PutUint32(img[newest+n:], crcOf(img[newest:newest+n]))
	check("invalid payload with a good checksum", img, 6)
	// A slot with another prefix (another file's magic or version).
	img = bytes.Clone(good)
	img[newest+5] = 2
	binary.BigEndian.PutUint32(img[newest+n:], crcOf(img[newest:newest+n]))
	check("other version", img, 6)
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// TestSlotFileWriteAfterDamage checks that writes after a damaged slot
// was read go on alternating and keep the intact record until replaced.
func TestSlotFileWriteAfterDamage(t *testing.T) {
	fs := vfs.NewMem()
	writeValues(t, fs, "f", 4) // seq 4 in slot 0, seq 3 in slot 1
	img := vfstest.ReadFile(t, fs, "f")
	img[3] ^= 0xFF // spoil seq 4
	vfstest.WriteFile(t, fs, "f", img)
	sf, p, _, err := OpenSlotFile(fs, "f", &testLayout)
	if err != nil || value(t, p) != 3 || sf.Seq() != 3 {
		t.Fatalf("read %d seq %d err %v; want 3, 3", value(t, p), sf.Seq(), err)
	}
	// The next write goes to slot 0 (seq 4), over the damaged copy, not
	// over the intact record 3.
	if err := sf.Write(payload(40)); err != nil {
		t.Fatal(err)
	}
	sf.Close()
	img = vfstest.ReadFile(t, fs, "f")
	if s, p, ok := testLayout.decode(img[testLayout.Stride:]); !ok || s != 3 || value(t, p) != 3 {
		t.Fatal("the write replaced the intact record")
	}
	if v, _ := reopen(t, fs, "f"); v != 40 {
		t.Fatalf("read %d, want 40", v)
	}
}

// failAt fails the write-side operation number at (0-based, counted over
// the run), once.
type failAt struct {
	at, n int
	hit   bool
}

func (f *failAt) String() string { return fmt.Sprintf("fail write op %d", f.at) }

func (f *failAt) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite || op.Kind == errorfs.OpFileClose {
		return nil
	}
	f.n++
	if f.n-1 == f.at {
		f.hit = true
		return errors.New("injected")
	}
	return nil
}

// TestSlotFileCrashSafety crashes at every write-side operation of a run
// of writes (the operation fails, then the machine loses what was not
// synced, or a random part of it) and checks the promise of Write: a read
// after the crash finds the last acknowledged record or the one being
// written, never an older one and never garbage. Then it checks that the
// writer, told of the failure, can go on.
func TestSlotFileCrashSafety(t *testing.T) {
	const writes = 5
	for at := 0; ; at++ {
		inj := &failAt{at: at}
		mem := vfs.NewCrashableMem()
		if err := MkdirAll(mem, "d"); err != nil {
			t.Fatal(err)
		}
		fs := errorfs.Wrap(mem, inj)
		sf, _, _, err := OpenSlotFile(fs, "d/f", &testLayout)
		if err != nil {
			t.Fatal(err)
		}
		var acked, tried uint64
		for v := uint64(1); v <= writes; v++ {
			tried = v
			if sf.Write(payload(v)) != nil {
				break
			}
			acked = v
		}
		if !inj.hit {
			sf.Close()
			if at < 4 {
				t.Fatalf("only %d write-side operations in %d writes", at, writes)
			}
			t.Logf("crashed at each of %d write-side operations", at)
			return
		}
		rng := rand.New(rand.NewPCG(uint64(at), 7))
		for _, pct := range []int{0, 50, 100} {
			for trial := 0; trial < 4; trial++ {
				after := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rng})
				got := uint64(0)
				if exists(after, "d/f") {
					got, _ = reopen(t, after, "d/f")
				}
				if got != acked && got != tried {
					t.Fatalf("op %d failed, crash with %d%% unsynced kept: read %d, acked %d, writing %d", at, pct, got, acked, tried)
				}
			}
		}
		// No crash: the writer goes on after the failure, and a crash
		// after its next acknowledged write keeps that one.
		if acked < writes {
			if err := sf.Write(payload(100)); err != nil {
				t.Fatalf("op %d: write after a failed one: %v", at, err)
			}
			after := mem.CrashClone(vfs.CrashCloneCfg{})
			if !exists(after, "d/f") {
				t.Fatalf("op %d: file lost after an acknowledged write", at)
			}
			if got, _ := reopen(t, after, "d/f"); got != 100 {
				t.Fatalf("op %d: read %d after the retry, want 100", at, got)
			}
			// The retry went to the slot being replaced when the
			// failure came: the last acknowledged record is still in
			// the other one, so a torn retry could not lose it.
			img := vfstest.ReadFile(t, mem, "d/f")
			kept := false
			for slot := int64(0); slot < 2 && acked > 0; slot++ {
				if int64(len(img)) < slot*testLayout.Stride {
					break
				}
				if _, p, ok := testLayout.decode(img[slot*testLayout.Stride:]); ok && value(t, p) == acked {
					kept = true
				}
			}
			if acked > 0 && !kept {
				t.Fatalf("op %d: the retry overwrote the last acknowledged record %d", at, acked)
			}
		}
		sf.Close()
	}
}

// TestSlotFileSyncsDirOfFoundFile: a file found at open may have been made
// by a run that crashed (the process, not the machine) before syncing its
// directory. The first Write after open must sync it, or a power loss
// after an acknowledged Write could lose the whole file.
func TestSlotFileSyncsDirOfFoundFile(t *testing.T) {
	mem := vfs.NewCrashableMem()
	if err := MkdirAll(mem, "d"); err != nil {
		t.Fatal(err)
	}
	// The earlier run: file written and fsynced, directory not synced.
	f, err := mem.Create("d/f", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	slot := make([]byte, testLayout.SlotSize())
	testLayout.encode(slot, 1, payload(1))
	if _, err := f.Write(slot); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sf, p, _, err := OpenSlotFile(mem, "d/f", &testLayout)
	if err != nil || value(t, p) != 1 {
		t.Fatalf("read %x, err %v", p, err)
	}
	if err := sf.Write(payload(2)); err != nil {
		t.Fatal(err)
	}
	after := mem.CrashClone(vfs.CrashCloneCfg{})
	if !exists(after, "d/f") {
		t.Fatal("an acknowledged record lost with its file: the directory was not synced")
	}
	if v, _ := reopen(t, after, "d/f"); v != 2 {
		t.Fatalf("read %d after the crash, want 2", v)
	}
	sf.Close()
}
