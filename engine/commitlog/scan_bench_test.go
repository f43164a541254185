package commitlog

import (
	"io"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// BenchmarkScan times the three walks over a log: a recovery that verifies
// every record (checkpoint removed), the Iterator over the whole log after a
// clean open (as a replay reads it), and Check. 64 MiB of ~1 KiB records in
// 16 MiB segments on the real disk (b.TempDir), page cache warm.
func BenchmarkScan(b *testing.B) {
	const segSize, total = 16 << 20, 64 << 20
	dir := b.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := Options{FS: vfs.Default, Dir: dir, SegmentSize: segSize, FlushMode: AsyncFlush, Prewrite: PrewriteOff, Logger: quiet}
	c, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	batch := make([]byte, 0, 64<<10)
	for i := 0; c.End() < total; i++ {
		batch = append(batch[:0], record(i, 900)...)
		for j := 1; j < 32; j++ {
			batch = append(batch, record(i*32+j, 900)...)
		}
		if _, _, err := c.Append(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	end := c.End()
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("recovery", func(b *testing.B) {
		b.SetBytes(end)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := vfs.Default.Remove(vfs.Default.PathJoin(dir, checkpointName)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c, err := Open(opts)
			if err != nil {
				b.Fatal(err)
			}
			if r := c.Report(); r.End != end || r.Bytes < end-segSize {
				b.Fatalf("recovery: %+v", r)
			}
			b.StopTimer()
			if err := c.Close(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("iterate", func(b *testing.B) {
		c, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(end)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			it := c.NewIterator(c.MinOffset())
			for {
				_, _, err := it.Next(c.Readable())
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		b.SetBytes(end)
		for i := 0; i < b.N; i++ {
			rep, err := Check(CheckOptions{FS: vfs.Default, Dir: dir, SegmentSize: segSize})
			if err != nil || !rep.OK() {
				b.Fatalf("check: %v %v", err, rep.Problems)
			}
		}
	})
}
