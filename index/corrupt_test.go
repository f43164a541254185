package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
	"github.com/wharfmq/wharf/internal/testkit/loglines"
	"github.com/wharfmq/wharf/internal/vfstest"
)

// buildIndex writes a small synced and closed index with several files.
func buildIndex(t testing.TB, fs vfs.FS, slots, per, n int) (model, int64) {
	t.Helper()
	x := mustOpen(t, testOpts(fs, slots, per))
	var m model
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("T#%d", i%9)
		mustAdd(t, x, k, int64(i*10), int64(i))
		m.add(k, int64(i*10), int64(i))
	}
	end := int64(n * 10)
	if err := x.Sync(end); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return m, end
}

func writeAll(t testing.TB, fs vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// exercise runs every operation on an index opened over damaged files. It
// must not panic; errors are fine.
func exercise(fs vfs.FS, slots, per int) {
	o := testOpts(fs, slots, per)
	x, err := Open(o)
	if err != nil {
		return
	}
	for i := 0; i < 10; i++ {
		_, _ = x.Query(fmt.Sprintf("T#%d", i), 100, minTime, maxTime)
	}
	_ = x.Add("T#1", 1<<40, 5)
	_ = x.Sync(1<<40 + 1)
	_ = x.TruncateFrom(55)
	_, _ = x.Query("T#1", 100, minTime, maxTime)
	_ = x.DeleteBefore(30)
	_ = x.Close()
}

func TestGarbageFilePastCheckpointRemoved(t *testing.T) {
	fs := vfs.NewMem()
	if err := fs.MkdirAll("idx", 0o755); err != nil {
		t.Fatal(err)
	}
	writeAll(t, fs, "idx/00000000000000000000", []byte("this is not an index file"))
	var logs loglines.Lines
	o := testOpts(fs, 4, 8)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	x := mustOpen(t, o)
	defer x.Close()
	if !strings.Contains(logs.String(), "index file removed") {
		t.Fatalf("no log line: %q", logs.String())
	}
	if _, err := fs.Stat("idx/00000000000000000000"); err == nil {
		t.Fatal("garbage file still there")
	}
	mustAdd(t, x, "a", 0, 0)
}

func TestBadHeaderBelowCheckpointIsCorruption(t *testing.T) {
	fs := vfs.NewMem()
	buildIndex(t, fs, 4, 8, 40)
	name := "idx/" + durable.Name(0)
	b := vfstest.ReadFile(t, fs, name)
	for i := 0; i < 2*headerStride; i++ {
		b[i] = 0xAB
	}
	writeAll(t, fs, name, b)
	_, err := Open(testOpts(fs, 4, 8))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	t.Logf("error: %v", err)
}

func TestOneTornHeaderCopySurvives(t *testing.T) {
	// A torn header write spoils the copy being replaced, which is the
	// older one; the newer copy still vouches for everything.
	fs := vfs.NewMem()
	m, end := buildIndex(t, fs, 4, 8, 40)
	names, _ := fs.List("idx")
	spoiled := 0
	for _, name := range names {
		if _, ok := durable.ParseName(name); !ok {
			continue
		}
		b := vfstest.ReadFile(t, fs, "idx/"+name)
		older := 0
		h0, err0 := decodeHeader(b[0:])
		h1, err1 := decodeHeader(b[headerStride:])
		if err1 != nil || (err0 == nil && h1.seq < h0.seq) {
			older = 1
		}
		for i := 0; i < headerSize; i++ {
			b[older*headerStride+i] = byte(i * 7)
		}
		writeAll(t, fs, "idx/"+name, b)
		spoiled++
	}
	x := mustOpen(t, testOpts(fs, 4, 8))
	defer x.Close()
	checkAgainst(t, x, &m, end, fmt.Sprintf("older header copy of %d files torn", spoiled))
}

func TestCheckpointGarbage(t *testing.T) {
	fs := vfs.NewMem()
	buildIndex(t, fs, 4, 8, 40)
	writeAll(t, fs, "idx/"+checkpointName, []byte("garbage garbage garbage garbage"))
	var logs loglines.Lines
	o := testOpts(fs, 4, 8)
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	x := mustOpen(t, o)
	defer x.Close()
	if x.Checkpoint() != 0 {
		t.Fatalf("checkpoint %d", x.Checkpoint())
	}
	if h := mustQuery(t, x, "T#1", 100, minTime, maxTime); len(h) != 0 {
		t.Fatalf("entries survived an unreadable checkpoint: %v", h)
	}
	if !strings.Contains(logs.String(), "checkpoint unreadable") {
		t.Fatalf("no log line: %q", logs.String())
	}
}

func TestShortFile(t *testing.T) {
	fs := vfs.NewMem()
	buildIndex(t, fs, 4, 8, 40)
	name := "idx/" + durable.Name(0)
	b := vfstest.ReadFile(t, fs, name)
	writeAll(t, fs, name, b[:len(b)-1])
	if _, err := Open(testOpts(fs, 4, 8)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
}

// TestRandomDamage flips bytes anywhere in a valid index (headers, slots,
// entries, checkpoint) and runs every operation: errors are fine, panics
// and hangs are not.
func TestRandomDamage(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	base := vfs.NewMem()
	buildIndex(t, base, 4, 8, 40)
	names, _ := base.List("idx")
	files := map[string][]byte{}
	for _, n := range names {
		files[n] = vfstest.ReadFile(t, base, "idx/"+n)
	}
	opened := 0
	for trial := 0; trial < 300; trial++ {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("idx", 0o755); err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			b = append([]byte(nil), b...)
			if rng.IntN(3) == 0 {
				for j := rng.IntN(8); j >= 0; j-- {
					b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
				}
			}
			writeAll(t, fs, "idx/"+n, b)
		}
		if x, err := Open(testOpts(fs, 4, 8)); err == nil {
			opened++
			x.Close()
		}
		exercise(fs, 4, 8)
	}
	t.Logf("300 damaged indexes, %d opened", opened)
}

// TestForgedHeaders writes headers with valid CRCs and random field values,
// so damage gets past the checksum, and random slot and entry bytes.
func TestForgedHeaders(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 8))
	for trial := 0; trial < 400; trial++ {
		fs := vfs.NewMem()
		if err := fs.MkdirAll("idx", 0o755); err != nil {
			t.Fatal(err)
		}
		small := func() uint32 { return uint32(rng.IntN(10)) }
		h := header{
			flags:     uint16(rng.IntN(2)),
			seq:       rng.Uint64(),
			slotCount: small(),
			entryCap:  small(),
			count:     small(),
			gen:       small(),
			baseTime:  int64(rng.Uint64()),
			beginPhys: int64(rng.IntN(100)),
			endPhys:   int64(rng.IntN(200)),
			minTime:   int64(rng.Uint64()),
			maxTime:   int64(rng.Uint64()),
		}
		size := 4096 + 64*4 + 64*entrySize
		if rng.IntN(4) == 0 {
			size = rng.IntN(size)
		}
		b := make([]byte, max(size, 2*headerStride))
		for i := 2 * headerStride; i < len(b); i++ {
			if rng.IntN(3) == 0 {
				b[i] = byte(rng.IntN(256))
			} else if rng.IntN(2) == 0 {
				b[i] = byte(rng.IntN(4)) // small numbers make plausible slots and prevs
			}
		}
		h.encode(b[(trial%2)*headerStride:])
		b = b[:max(size, headerSize)]
		writeAll(t, fs, "idx/"+durable.Name(int64(rng.IntN(50))), b)
		cf := checkpointFile{}
		if err := cf.write(fs, "idx", int64(rng.IntN(300))); err != nil {
			t.Fatal(err)
		}
		_ = cf.close()
		exercise(fs, 1+rng.IntN(5), 1+rng.IntN(10))
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := header{slotCount: 4, entryCap: 9, count: 3, gen: 1, beginPhys: 5, endPhys: 9}
	var b [headerSize]byte
	good.encode(b[:])
	if _, err := decodeHeader(b[:]); err != nil {
		t.Fatalf("good header: %v", err)
	}
	for name, mut := range map[string]func(*header){
		"flags":      func(h *header) { h.flags = 2 },
		"no slots":   func(h *header) { h.slotCount = 0 },
		"huge slots": func(h *header) { h.slotCount = maxSlotCount + 1 },
		"cap 1":      func(h *header) { h.entryCap = 1 },
		"count 0":    func(h *header) { h.count = 0 },
		"count>cap":  func(h *header) { h.count = 10 },
		"phys":       func(h *header) { h.endPhys = 4 },
		"neg phys":   func(h *header) { h.beginPhys = -1 },
	} {
		h := good
		mut(&h)
		h.encode(b[:])
		if _, err := decodeHeader(b[:]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	good.encode(b[:])
	binary.BigEndian.PutUint16(b[4:], 2) // version, with a stale CRC
	if _, err := decodeHeader(b[:]); err == nil {
		t.Error("bad crc accepted")
	}
	if _, err := decodeHeader(b[:10]); err == nil {
		t.Error("short header accepted")
	}
}

func TestCorruptChainIsAnErrorNotALoop(t *testing.T) {
	fs := vfs.NewMem()
	buildIndex(t, fs, 1, 100, 20) // one file, one slot, a chain through all
	name := "idx/" + durable.Name(0)
	b := vfstest.ReadFile(t, fs, name)
	h, err := decodeHeader(b[headerStride:])
	if err != nil {
		h, _ = decodeHeader(b[:])
	}
	// Entry 5's prev points at itself.
	off := entriesOffset(h.slotCount) + 5*entrySize
	binary.BigEndian.PutUint32(b[off+20:], 5)
	writeAll(t, fs, name, b)
	x := mustOpen(t, testOpts(fs, 1, 100))
	defer x.Close()
	var sawErr bool
	for i := 0; i < 9; i++ {
		if _, err := x.Query(fmt.Sprintf("T#%d", i), 100, minTime, maxTime); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v, want ErrCorrupt", err)
			}
			sawErr = true
		}
	}
	if !sawErr {
		t.Fatal("a self-loop in a chain went unnoticed")
	}
}
