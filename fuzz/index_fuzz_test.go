package fuzz

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/index"
)

const (
	fuzzIndexDir   = "idx"
	fuzzIndexSlots = 3
	fuzzIndexPer   = 8
)

func fuzzIndexOpts(fs vfs.FS) index.Options {
	return index.Options{
		FS: fs, Dir: fuzzIndexDir, SlotCount: fuzzIndexSlots, EntriesPerFile: fuzzIndexPer,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// buildFuzzIndex writes a small valid index: 30 messages, 4 files, synced
// and closed. It returns the file system and the index files' names.
func buildFuzzIndex(tb testing.TB) (*vfs.MemFS, []string) {
	fs := vfs.NewMem()
	x, err := index.Open(fuzzIndexOpts(fs))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := x.Add(fmt.Sprintf("T#%d", i%7), int64(i*10), int64(1000+i)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := x.Sync(300); err != nil {
		tb.Fatal(err)
	}
	if err := x.Close(); err != nil {
		tb.Fatal(err)
	}
	names, err := fs.List(fuzzIndexDir)
	if err != nil {
		tb.Fatal(err)
	}
	var files []string
	for _, n := range names {
		if n != "CHECKPOINT" {
			files = append(files, n)
		}
	}
	return fs, files
}

func readFuzzFile(tb testing.TB, fs vfs.FS, name string) []byte {
	f, err := fs.Open(fs.PathJoin(fuzzIndexDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFuzzFile(tb testing.TB, fs vfs.FS, name string, b []byte) {
	f, err := fs.Create(fs.PathJoin(fuzzIndexDir, name), vfs.WriteCategoryUnspecified)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// FuzzIndexOpen feeds damaged index files to Open and then runs every
// operation. Errors are fine; panics and hangs are not. The first byte picks
// the mode:
//
//	0: the rest is the whole content of an index file named 0, next to a
//	   checkpoint that vouches for it;
//	1: the same without a checkpoint (the file is past it);
//	2+: the rest is (file, offset low, offset high, xor) patches applied to
//	   a valid index, so damage lands behind intact checksums.
func FuzzIndexOpen(f *testing.F) {
	base, files := buildFuzzIndex(f)
	first := readFuzzFile(f, base, files[0])
	f.Add([]byte{})
	f.Add(append([]byte{0}, first...))
	f.Add(append([]byte{1}, first...))
	f.Add(append([]byte{0}, first[:600]...))
	f.Add([]byte{0, 'W', 'H', 'I', 'X'})
	f.Add([]byte{2, 0, 0x10, 0x10, 0xff})                      // a slot of file 0
	f.Add([]byte{2, 3, 0x20, 0x10, 0x01, 3, 0x34, 0x10, 0x80}) // entries of the active file
	f.Add([]byte{2, 1, 0x00, 0x02, 0x05, 1, 20, 0, 0x01})      // header fields
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		fs := vfs.NewMem()
		mode, rest := data[0], data[1:]
		switch {
		case mode < 2:
			if err := fs.MkdirAll(fuzzIndexDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if mode == 0 {
				// An empty index synced to 1000 leaves only a checkpoint.
				x, err := index.Open(fuzzIndexOpts(fs))
				if err != nil {
					t.Fatal(err)
				}
				if err := x.Sync(1000); err != nil {
					t.Fatal(err)
				}
				if err := x.Close(); err != nil {
					t.Fatal(err)
				}
			}
			writeFuzzFile(t, fs, "00000000000000000000", rest)
		default:
			if err := fs.MkdirAll(fuzzIndexDir, 0o755); err != nil {
				t.Fatal(err)
			}
			contents := make([][]byte, len(files))
			for i, n := range files {
				contents[i] = readFuzzFile(t, base, n)
			}
			for ; len(rest) >= 4; rest = rest[4:] {
				c := contents[int(rest[0])%len(contents)]
				off := (int(rest[1]) | int(rest[2])<<8) % len(c)
				c[off] ^= rest[3]
			}
			for i, n := range files {
				writeFuzzFile(t, fs, n, contents[i])
			}
			ck := readFuzzFile(t, base, "CHECKPOINT")
			writeFuzzFile(t, fs, "CHECKPOINT", ck)
		}
		exerciseIndex(t, fs)
	})
}

func exerciseIndex(t *testing.T, fs vfs.FS) {
	x, err := index.Open(fuzzIndexOpts(fs))
	if err != nil {
		return
	}
	for i := 0; i < 8; i++ {
		_, _ = x.Query(fmt.Sprintf("T#%d", i), 50, 0, 1<<62)
	}
	_ = x.Add("T#1", 1<<30, 2000)
	_ = x.Sync(1<<30 + 1)
	_ = x.TruncateFrom(155)
	_, _ = x.Query("T#1", 50, 0, 1<<62)
	_ = x.DeleteBefore(40)
	_ = x.Close()
	// Whatever Open made of the damage, it must open again.
	y, err := index.Open(fuzzIndexOpts(fs))
	if err != nil {
		t.Fatalf("reopen after a successful open and close: %v", err)
	}
	_, _ = y.Query("T#2", 50, 0, 1<<62)
	_ = y.Close()
}

// FuzzTagBloomUnmarshal feeds arbitrary bytes to UnmarshalTagBloom. What it
// accepts must answer queries and marshal back to the same bytes.
func FuzzTagBloomUnmarshal(f *testing.F) {
	for _, n := range []uint{1, 10, index.DefaultBloomBlock} {
		b := index.NewTagBloom(n, index.DefaultBloomFPRate)
		for i := uint(0); i < n; i++ {
			b.Add(int64(i) * 7919)
		}
		p, err := b.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := index.UnmarshalTagBloom(data)
		if err != nil {
			return
		}
		b.MayContain(0)
		b.MayContainAny([]int64{-1, 1 << 40})
		b.Add(12345)
		if !b.MayContain(12345) {
			t.Fatal("false negative after Add")
		}
		c, err := index.UnmarshalTagBloom(data)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, data) {
			t.Fatalf("re-marshal differs:\n in  %x\n out %x", data, p)
		}
	})
}
