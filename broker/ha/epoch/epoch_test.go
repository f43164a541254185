package epoch

import (
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

func entries(pairs ...int64) []Entry {
	var out []Entry
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Entry{Epoch: int32(pairs[i]), Start: pairs[i+1]})
	}
	return linkEnds(out)
}

func writeFile(t *testing.T, fs vfs.FS, path, content string) {
	t.Helper()
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func readFile(t *testing.T, fs vfs.FS, path string) string {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFormatMatchesRocketMQ: the CheckpointFile layout with RocketMQ's
// masked CRC32. The CRC of "7-7000\n8-8000\n" is what its CheckpointFile
// doc example shows (773307083).
func TestFormatMatchesRocketMQ(t *testing.T) {
	got := string(Format(entries(7, 7000, 8, 8000)))
	if want := "2\n773307083\n7-7000\n8-8000\n"; got != want {
		t.Fatalf("format:\n%q\nwant\n%q", got, want)
	}
	for _, c := range []struct {
		name, in string
		want     []Entry
		bad      bool
	}{
		{"theirs", "2\n773307083\n7-7000\n8-8000\n", entries(7, 7000, 8, 8000), false},
		{"crlf", "2\r\n773307083\r\n7-7000\r\n8-8000\r\n", entries(7, 7000, 8, 8000), false},
		{"no final newline", "2\n773307083\n7-7000\n8-8000", entries(7, 7000, 8, 8000), false},
		{"crc 0 not checked", "1\n0\n3-99\n", entries(3, 99), false},
		{"bad crc", "2\n773307084\n7-7000\n8-8000\n", nil, true},
		{"count short", "3\n773307083\n7-7000\n8-8000\n", nil, true},
		{"junk line skipped", "1\n0\n3-99\nhello\n", entries(3, 99), false},
		{"negative is no entry", "1\n0\n-1-5\n", nil, true},
		{"trailing dash like Java", "1\n0\n3-99-\n", entries(3, 99), false},
		{"no lines", "", nil, true},
		{"bad count", "x\n0\n", nil, true},
		{"empty list", "0\n0\n", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if (err != nil) != c.bad {
				t.Fatalf("err %v, want bad %v", err, c.bad)
			}
			for i := range got {
				got[i].End = 0
			}
			want := slices.Clone(c.want)
			for i := range want {
				want[i].End = 0
			}
			if !c.bad && !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

// FuzzParse: bad input never panics, and what parses formats back to an
// equivalent list.
func FuzzParse(f *testing.F) {
	f.Add([]byte("2\n773307083\n7-7000\n8-8000\n"))
	f.Add([]byte("1\n0\n3-99-\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := Parse(b)
		if err != nil {
			return
		}
		back, err := Parse(Format(es))
		if err != nil || len(back) != len(es) {
			t.Fatalf("reformatted list does not parse: %v", err)
		}
	})
}

// TestEpochFileCacheSamples ports RocketMQ's EpochFileCacheTest: the
// setup, init from file, truncate, find by offset, and the four
// consistent-point samples (our own log ends where the Java test leaves
// them open).
func TestEpochFileCacheSamples(t *testing.T) {
	fs := vfs.NewMem()
	f, err := Open(fs, FileName)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries(1, 100, 2, 300, 3, 500) {
		if err := f.Append(e.Epoch, e.Start); err != nil {
			t.Fatal(err)
		}
	}
	if e, ok := f.EntryFor(350); !ok || e != (Entry{2, 300, 500}) {
		t.Fatalf("entry for 350: %v %v", e, ok)
	}
	if e, ok := f.EntryFor(10_000); !ok || e.Epoch != 3 || e.End != NoEnd {
		t.Fatalf("entry for 10000: %v %v", e, ok)
	}
	if _, ok := f.EntryFor(99); ok {
		t.Fatal("entry for an offset below the first epoch")
	}
	// Init from file.
	g, err := Open(fs, FileName)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.Entries(), f.Entries()) || g.LastEpoch() != 3 {
		t.Fatalf("reread %v, wrote %v", g.Entries(), f.Entries())
	}
	local := f.Entries()
	for _, c := range []struct {
		name                string
		local               []Entry
		localMax            int64
		master              []Entry
		masterMax           int64
		want                int64
		whatTheJavaTestDoes string
	}{
		{"sample1", local, 600, entries(1, 100, 2, 300, 3, 450), 700, 450, "epoch 3 starts elsewhere; epoch 2 ends at 500 here, 450 there"},
		{"sample2", local, 700, entries(1, 100, 2, 300, 3, 500), 600, 600, "same epochs, the master ends first"},
		{"sample3", local, 700, entries(1, 200, 2, 500), 900, -1, "no epoch starts at the same offset"},
		{"sample4", entries(1, 100, 2, 300, 3, 500, 4, 800), 1000, local, 700, 700, "the local side has a newer epoch the other lacks"},
		{"empty master", local, 700, nil, 0, -1, ""},
		{"empty local", nil, 0, local, 700, -1, ""},
		{"identical", local, 700, local, 700, 700, ""},
		{"slave ahead in the same epoch", local, 900, local, 700, 700, "the returning old master's divergent tail"},
	} {
		if got := FindConsistentPoint(c.local, c.localMax, c.master, c.masterMax); got != c.want {
			t.Errorf("%s: consistent point %d, want %d (%s)", c.name, got, c.want, c.whatTheJavaTestDoes)
		}
	}
	if got := f.FindConsistentPoint(entries(1, 100, 2, 300, 3, 450), 700, 600); got != 450 {
		t.Fatalf("method: %d", got)
	}
	// Append's rules.
	if err := f.Append(3, 900); !errors.Is(err, ErrNotAfter) {
		t.Fatalf("same epoch: %v", err)
	}
	if err := f.Append(4, 500); !errors.Is(err, ErrNotAfter) {
		t.Fatalf("same start: %v", err)
	}
	// Truncate (the Java test: from 150 keeps epoch 1 only).
	if err := f.TruncateFrom(150); err != nil {
		t.Fatal(err)
	}
	if got := f.Entries(); !slices.Equal(got, []Entry{{1, 100, NoEnd}}) {
		t.Fatalf("after truncating from 150: %v", got)
	}
	if err := f.Append(5, 150); err != nil {
		t.Fatal(err)
	}
	g, err = Open(fs, FileName)
	if err != nil || !slices.Equal(g.Entries(), entries(1, 100, 5, 150)) {
		t.Fatalf("reread after truncate and append: %v %v", g.Entries(), err)
	}
	// Truncating everything leaves an empty list on reopen, not the .bak.
	if err := f.TruncateFrom(0); err != nil {
		t.Fatal(err)
	}
	if g, err = Open(fs, FileName); err != nil || len(g.Entries()) != 0 || g.LastEpoch() != -1 {
		t.Fatalf("after truncating all: %v %v", g.Entries(), err)
	}
}

// TestBakFallback: a damaged or missing file falls back to .bak, which
// holds the previous version, as RocketMQ's reader does; and we read a
// file RocketMQ wrote.
func TestBakFallback(t *testing.T) {
	fs := vfs.NewMem()
	f, _ := Open(fs, FileName)
	f.Append(1, 0)
	f.Append(2, 4096)
	if got := readFile(t, fs, FileName+".bak"); got != string(Format(entries(1, 0))) {
		t.Fatalf(".bak holds %q", got)
	}
	writeFile(t, fs, FileName, "2\n12345\n1-0\n2-40") // torn, bad CRC
	g, err := Open(fs, FileName)
	if err != nil || !slices.Equal(g.Entries(), entries(1, 0)) {
		t.Fatalf("fallback: %v %v", g.Entries(), err)
	}
	writeFile(t, fs, FileName+".bak", "garbage")
	if _, err := Open(fs, FileName); err == nil {
		t.Fatal("both damaged: no error")
	}
	writeFile(t, fs, FileName, "2\n773307083\n7-7000\n8-8000\n")
	if g, err = Open(fs, FileName); err != nil || g.LastEpoch() != 8 {
		t.Fatalf("RocketMQ's file: %v %v", g.Entries(), err)
	}
}

// injector takes a crash image before each write-side operation.
type injector struct {
	fs     *vfs.MemFS
	images []*vfs.MemFS
	r      *rand.Rand
}

func (in *injector) String() string { return "crash images" }
func (in *injector) MaybeError(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
		pct := []int{0, 50, 100}[in.r.IntN(3)]
		in.images = append(in.images, in.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(in.r.Uint64(), 1))}))
	}
	return nil
}

// TestCrashSafeWrites: a crash at any write of an Append or TruncateFrom
// reads back the list before or after it, never something else.
func TestCrashSafeWrites(t *testing.T) {
	mem := vfs.NewCrashableMem()
	in := &injector{fs: mem, r: rand.New(rand.NewPCG(1, 2))}
	fs := errorfs.Wrap(mem, in)
	f, err := Open(fs, FileName)
	if err != nil {
		t.Fatal(err)
	}
	steps := []func() error{
		func() error { return f.Append(1, 0) },
		func() error { return f.Append(2, 1000) },
		func() error { return f.Append(3, 2000) },
		func() error { return f.TruncateFrom(1500) },
		func() error { return f.Append(4, 1500) },
		func() error { return f.TruncateFrom(0) },
		func() error { return f.Append(5, 3000) },
	}
	checked := 0
	for i, step := range steps {
		before := f.Entries()
		in.images = nil
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		after := f.Entries()
		for k, img := range append(in.images, mem.CrashClone(vfs.CrashCloneCfg{})) {
			g, err := Open(img, FileName)
			if err != nil {
				t.Fatalf("step %d image %d: %v", i, k, err)
			}
			got := g.Entries()
			if !slices.Equal(got, before) && !slices.Equal(got, after) {
				t.Fatalf("step %d image %d: read %v, want %v or %v", i, k, got, before, after)
			}
			checked++
		}
		// The final image holds the step.
		if g, _ := Open(mem.CrashClone(vfs.CrashCloneCfg{}), FileName); !slices.Equal(g.Entries(), after) {
			t.Fatalf("step %d not durable: %v", i, g.Entries())
		}
	}
	t.Logf("%d crash images", checked)
}

// TestFromBakSaysWhy: Open reports when it took the .bak and why it
// refused the file, so the broker can warn; a replica that never had an
// epoch (no file, no .bak) took nothing from a backup.
func TestFromBakSaysWhy(t *testing.T) {
	fs := vfs.NewMem()
	f, err := Open(fs, FileName)
	if bak, why := f.FromBak(); err != nil || bak || why != nil {
		t.Fatalf("fresh: %v %v %v", bak, why, err)
	}
	f.Append(1, 0)
	f.Append(2, 4096)
	f, _ = Open(fs, FileName)
	if bak, _ := f.FromBak(); bak {
		t.Fatal("whole file: read from .bak")
	}
	writeFile(t, fs, FileName, "2\n12345\n1-0\n2-40")
	f, err = Open(fs, FileName)
	if bak, why := f.FromBak(); err != nil || !bak || why == nil || !strings.Contains(why.Error(), "CRC") {
		t.Fatalf("garbled: %v %v %v", bak, why, err)
	}
	if err := fs.Remove(FileName); err != nil {
		t.Fatal(err)
	}
	f, err = Open(fs, FileName)
	if bak, why := f.FromBak(); err != nil || !bak || why == nil || !slices.Equal(f.Entries(), entries(1, 0)) {
		t.Fatalf("missing file, .bak with entries: %v %v %v", bak, why, err)
	}
}
