package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
)

// record encodes a test record with body size n, marked with id.
func record(id int, n int) []byte {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(id*7 + i)
	}
	m := &msg.Message{
		Topic:      "T",
		QueueID:    int32(id % 4),
		Body:       body,
		Properties: fmt.Sprintf("UNIQ_KEY\x01id-%d", id),
		StoreHost:  netip.MustParseAddrPort("127.0.0.1:10911"),
		BornHost:   netip.MustParseAddrPort("127.0.0.1:5000"),
	}
	m.EnableRecordCRC()
	return msg.AppendRecord(nil, m)
}

func open(t testing.TB, fs vfs.FS, mode FlushMode, segSize int64) *CommitLog {
	t.Helper()
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: segSize, FlushMode: mode, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return c
}

// readAll iterates the whole log and returns records by offset.
func readAll(t testing.TB, c *CommitLog) (map[int64][]byte, []int64) {
	t.Helper()
	out := map[int64][]byte{}
	var order []int64
	it := c.NewIterator(c.MinOffset())
	for {
		rec, phys, err := it.Next(c.Readable())
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			t.Fatalf("iterate: %v", err)
		}
		out[phys] = bytes.Clone(rec)
		order = append(order, phys)
	}
}

// stored is what the log holds for an appended record: the record with its
// physical offset patched in.
func stored(rec []byte, phys int64) []byte {
	b := bytes.Clone(rec)
	msg.SetOffsets(b, 0, phys)
	msg.SealCRC(b)
	return b
}

func TestAppendReadAcrossSegments(t *testing.T) {
	for _, mode := range []FlushMode{SyncFlush, AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := vfs.NewMem()
			c := open(t, fs, mode, 8192)
			want := map[int64][]byte{}
			for i := 0; i < 200; i++ {
				rec := record(i, i*37%3000)
				phys, end, err := c.Append(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				if end-phys != int64(len(rec)) || phys%8192+int64(len(rec)) > 8192 {
					t.Fatalf("record %d at %d..%d crosses a segment", i, phys, end)
				}
				want[phys] = stored(rec, phys)
			}
			if err := c.Wait(c.End()); err != nil {
				t.Fatal(err)
			}
			got, _ := readAll(t, c)
			if len(got) != len(want) {
				t.Fatalf("read %d records, appended %d", len(got), len(want))
			}
			for phys, w := range want {
				if !bytes.Equal(got[phys], w) {
					t.Fatalf("record at %d differs", phys)
				}
				buf := make([]byte, len(w))
				if err := c.ReadAt(buf, phys); err != nil || !bytes.Equal(buf, w) {
					t.Fatalf("ReadAt %d: %v", phys, err)
				}
			}
			end := c.End()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c = open(t, fs, mode, 8192)
			defer c.Close()
			if r := c.Report(); !r.Clean || r.End != end || r.CutAt != -1 {
				t.Fatalf("clean reopen report %+v, want end %d", r, end)
			}
			got, _ = readAll(t, c)
			if len(got) != len(want) {
				t.Fatalf("after reopen read %d records, want %d", len(got), len(want))
			}
		})
	}
}

func TestConcurrentAppendersGroupCommit(t *testing.T) {
	fs := vfs.NewMem()
	c := open(t, fs, SyncFlush, 64<<10)
	defer c.Close()
	const writers, each = 16, 100
	var mu sync.Mutex
	want := map[int64][]byte{}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				rec := record(w*each+i, 100+i)
				phys, end, err := c.Append(rec, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if c.Synced() < end {
					t.Errorf("acknowledged before synced: %d < %d", c.Synced(), end)
				}
				mu.Lock()
				want[phys] = stored(rec, phys)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	got, _ := readAll(t, c)
	if len(got) != writers*each {
		t.Fatalf("read %d, want %d", len(got), writers*each)
	}
	for phys, w := range want {
		if !bytes.Equal(got[phys], w) {
			t.Fatalf("record at %d differs", phys)
		}
	}
}

func TestPatchRunsInLogOrder(t *testing.T) {
	c := open(t, vfs.NewMem(), AsyncFlush, 16<<10)
	defer c.Close()
	var seq int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				_, _, err := c.Append(record(i, 50), func(phys int64, rec []byte) {
					msg.SetOffsets(rec, seq, phys)
					seq++
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	_, order := readAll(t, c)
	it := c.NewIterator(0)
	for i := range order {
		rec, _, err := it.Next(c.Readable())
		if err != nil {
			t.Fatal(err)
		}
		r, _ := msg.Decode(rec)
		if r.QueueOffset != int64(i) {
			t.Fatalf("record %d carries queue offset %d", i, r.QueueOffset)
		}
	}
}

func TestBatchStaysInOneSegment(t *testing.T) {
	c := open(t, vfs.NewMem(), SyncFlush, 8192)
	defer c.Close()
	var batch []byte
	for i := 0; i < 10; i++ {
		batch = append(batch, record(i, 200)...)
	}
	for k := 0; k < 10; k++ {
		phys, end, err := c.Append(batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if phys/8192 != (end-1)/8192 {
			t.Fatalf("batch %d..%d crosses a segment", phys, end)
		}
	}
	got, _ := readAll(t, c)
	if len(got) != 100 {
		t.Fatalf("read %d records, want 100", len(got))
	}
	if _, _, err := c.Append(make([]byte, 9000), nil); err == nil {
		t.Fatal("over-large append accepted")
	}
	if _, _, err := c.Append([]byte("garbage-not-a-record"), nil); err == nil {
		t.Fatal("garbage append accepted")
	}
}

func TestSegmentNames(t *testing.T) {
	for _, base := range []int64{0, 1 << 30, 1<<62 + 5} {
		name := SegmentName(base)
		if len(name) != 20 {
			t.Fatalf("%q is not 20 digits", name)
		}
		got, ok := ParseSegmentName(name)
		if !ok || got != base {
			t.Fatalf("round trip %d -> %q -> %d", base, name, got)
		}
	}
	if SegmentName(1073741824) != "00000000001073741824" {
		t.Fatal("second 1 GiB segment misnamed")
	}
	for _, bad := range []string{"", "checkpoint", "0000000000000000000x", "000000000000000000001"} {
		if _, ok := ParseSegmentName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestCheckpointSlots(t *testing.T) {
	fs := vfs.NewMem()
	cf, _, found, err := openCheckpoint(fs, "")
	if err != nil || found {
		t.Fatalf("fresh checkpoint: found=%v err=%v", found, err)
	}
	for i := int64(1); i <= 5; i++ {
		if err := cf.write(i*100, i == 5); err != nil {
			t.Fatal(err)
		}
	}
	cf.close()
	_, cp, found, err := openCheckpoint(fs, "")
	if err != nil || !found || cp.offset != 500 || !cp.clean {
		t.Fatalf("got %+v found=%v err=%v", cp, found, err)
	}
	// Damage the newest slot: the older one must win.
	f, _ := fs.OpenReadWrite("checkpoint", vfs.WriteCategoryUnspecified)
	f.WriteAt([]byte{0xFF}, int64(cp.seq%2)*checkpointSlotStride+13)
	f.Close()
	cf, cp, found, _ = openCheckpoint(fs, "")
	cf.close()
	if !found || cp.offset != 400 || cp.clean {
		t.Fatalf("after damage got %+v", cp)
	}
}

func TestWriteErrorIsSticky(t *testing.T) {
	fs := &failingFS{FS: vfs.NewMem()}
	c := open(t, fs, SyncFlush, 64<<10)
	if _, _, err := c.Append(record(1, 10), nil); err != nil {
		t.Fatal(err)
	}
	fs.failSync.Store(true)
	if _, _, err := c.Append(record(2, 10), nil); err == nil {
		t.Fatal("append acknowledged after a failed fsync")
	}
	fs.failSync.Store(false)
	if _, _, err := c.Append(record(3, 10), nil); err == nil {
		t.Fatal("append accepted after a failed fsync: the error must be sticky")
	}
	if c.Err() == nil {
		t.Fatal("Err() is nil after a failed fsync")
	}
	// Reads still work.
	got, _ := readAll(t, c)
	if len(got) != 1 {
		t.Fatalf("read %d records, want 1", len(got))
	}
	if err := c.Close(); err == nil {
		t.Fatal("Close hid the write error")
	}
}

func TestReadAtBounds(t *testing.T) {
	c := open(t, vfs.NewMem(), SyncFlush, 8192)
	defer c.Close()
	rec := record(1, 10)
	phys, _, _ := c.Append(rec, nil)
	buf := make([]byte, len(rec)+1)
	if err := c.ReadAt(buf, phys); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
	if err := c.ReadAt(buf[:4], -1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("negative offset: %v", err)
	}
}

// TestReadAtFailsOnAShortFile: a segment file cut short under an open log
// makes ReadAt fail, where it used to fill the missing bytes with zeros
// and Get served them as a FOUND record (and replication shipped them).
func TestReadAtFailsOnAShortFile(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{FS: vfs.Default, Dir: dir, SegmentSize: 8192, FlushMode: SyncFlush,
		Prewrite: PrewriteOff, Mmap: MmapOff})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rec := record(1, 300)
	phys, _, err := c.Append(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(rec))
	if err := c.ReadAt(buf, phys); err != nil || !bytes.Equal(buf, stored(rec, phys)) {
		t.Fatalf("read before the cut: %v", err)
	}
	if err := os.Truncate(filepath.Join(dir, SegmentName(0)), 100); err != nil {
		t.Fatal(err)
	}
	err = c.ReadAt(buf, phys)
	if !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), "the file ends at 100") {
		t.Fatalf("read of a record cut short: err %v, want ErrCorruption naming where the file ends", err)
	}
}
