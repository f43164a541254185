package fuzz

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
)

const fuzzSegSize = 64 << 10

// FuzzRecoverSegment writes arbitrary bytes as the only CommitLog segment on
// the in-memory FS and opens the log: recovery must not panic, must end on a
// record boundary it can iterate to, must keep the bytes before its end, and
// must leave only zeros after it.
func FuzzRecoverSegment(f *testing.F) {
	rec := seedRecord()
	// The seed record claims offset 4096; a valid log needs records at
	// their own offsets, which the fuzzer can find from these seeds.
	f.Add(rec)
	f.Add(append(bytes.Repeat([]byte{0}, 100), rec...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seg []byte) {
		if len(seg) > fuzzSegSize {
			seg = seg[:fuzzSegSize]
		}
		fs := vfs.NewMem()
		fs.MkdirAll("cl", 0o755)
		file, _ := fs.Create("cl/"+commitlog.SegmentName(0), vfs.WriteCategoryUnspecified)
		file.Write(bytes.Clone(seg)) // MemFS may scribble on the buffer under -race
		file.Close()
		c, err := commitlog.Open(commitlog.Options{
			FS: fs, Dir: "cl", SegmentSize: fuzzSegSize, Prewrite: commitlog.PrewriteOff,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			return // refusing to open is allowed (reported corruption)
		}
		end := c.End()
		it := c.NewIterator(0)
		for {
			_, _, err := it.Next(c.Readable())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("recovered log (end %d) does not iterate: %v", end, err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		f, _ := fs.Open("cl/" + commitlog.SegmentName(0))
		after, _ := io.ReadAll(f)
		f.Close()
		keep := min(int(end), len(seg))
		if !bytes.Equal(after[:keep], seg[:keep]) {
			t.Fatal("recovery changed bytes before the end")
		}
		for _, b := range after[end:] {
			if b != 0 {
				t.Fatal("non-zero bytes survive past the recovered end")
			}
		}
	})
}
