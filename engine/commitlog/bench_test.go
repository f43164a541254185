package commitlog

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Benchmarks run on the real disk (b.TempDir) with vfs.Default. Each has a
// raw baseline measured in the same run: see BENCHMARKS.md.

const benchSegSize = 64 << 20

func benchLogMmap(b *testing.B, mode FlushMode, prewrite, mmap bool) *CommitLog {
	mm := MmapOff
	if mmap {
		mm = MmapOn
	}
	pw := PrewriteOff
	if prewrite {
		pw = PrewriteOn
	}
	b.Helper()
	c, err := Open(Options{
		FS: vfs.Default, Dir: b.TempDir(), SegmentSize: benchSegSize, FlushMode: mode,
		Prewrite: pw, Mmap: mm, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// runWriters appends b.N copies of rec from w goroutines.
func runWriters(b *testing.B, c *CommitLog, rec []byte, w int) {
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / w
	for i := 0; i < w; i++ {
		n := per
		if i == 0 {
			n += b.N % w
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n; j++ {
				if _, _, err := c.Append(rec, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}

// BenchmarkAppendAsync: 1 KiB records, ASYNC_FLUSH, 1 and 16 writers,
// copying into the mapped segment (the default) and buffering for pwrite.
func BenchmarkAppendAsync(b *testing.B) {
	rec := record(1, 1024-91-len("UNIQ_KEY\x01id-1")-20)
	for _, mmap := range []bool{true, false} {
		for _, w := range []int{1, 16} {
			b.Run(fmt.Sprintf("mmap=%v/writers=%d", mmap, w), func(b *testing.B) {
				c := benchLogMmap(b, AsyncFlush, false, mmap)
				defer c.Close()
				runWriters(b, c, rec, w)
			})
		}
	}
}

// BenchmarkRawWrite is the baseline for BenchmarkAppendAsync: the same bytes
// written sequentially, one write call per 1 KiB record.
func BenchmarkRawWrite(b *testing.B) {
	buf := make([]byte, 1024)
	f, err := os.Create(filepath.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(1024)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendSync: 1 KiB records, SYNC_FLUSH, 1 and 64 writers, with and
// without pre-written segments, mapped and buffered. Reports messages per
// fsync.
func BenchmarkAppendSync(b *testing.B) {
	rec := record(1, 1024-91-len("UNIQ_KEY\x01id-1")-20)
	for _, mmap := range []bool{true, false} {
		for _, pre := range []bool{true, false} {
			for _, w := range []int{1, 64} {
				b.Run(fmt.Sprintf("mmap=%v/prewrite=%v/writers=%d", mmap, pre, w), func(b *testing.B) {
					c := benchLogMmap(b, SyncFlush, pre, mmap)
					defer c.Close()
					if pre {
						// Let the zero-fill of the first segment get ahead.
						time.Sleep(1500 * time.Millisecond)
					}
					s0 := c.Stats().Syncs
					runWriters(b, c, rec, w)
					b.ReportMetric(float64(b.N)/float64(c.Stats().Syncs-s0), "msgs/fsync")
				})
			}
		}
	}
}

// BenchmarkRawWriteFdatasync is the baseline for BenchmarkAppendSync: one
// writer, 1 KiB write + fdatasync per message, appending to a new file and
// into a file zero-filled beforehand.
func BenchmarkRawWriteFdatasync(b *testing.B) {
	for _, pre := range []bool{false, true} {
		b.Run(fmt.Sprintf("prewritten=%v", pre), func(b *testing.B) {
			f, err := vfs.Default.Create(filepath.Join(b.TempDir(), "raw"), vfs.WriteCategoryUnspecified)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			size := int64(b.N)*1024 + 1024
			if pre {
				if err := zeroFill(f, 0, size); err != nil {
					b.Fatal(err)
				}
				f.Sync()
			}
			buf := make([]byte, 1024)
			b.SetBytes(1024)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := f.WriteAt(buf, int64(i)*1024); err != nil {
					b.Fatal(err)
				}
				if err := f.SyncData(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
