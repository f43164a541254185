package commitlog

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/vfstest"
)

// ddSegSize is the segment size of the recovery scripts: the smallest
// Open takes, so a few records fill one.
const ddSegSize = MinSegmentSize

// ddLog is the state of one recovery script: a MemFS holding "cl", the
// open log if any, and every record appended, as stored, by offset.
type ddLog struct {
	fs     *vfs.MemFS
	c      *CommitLog
	ids    int
	stored map[int64][]byte
}

// TestRecoveryScripts runs testdata/recovery: each file appends records,
// damages the closed log's files and reopens it, printing what recovery
// reports, the records it kept and what Check says of the result.
//
//	open [mode=sync|async]   open (or reopen) the log; prints the recovery report
//	append size=N [count=1]  append count records of N body bytes, one Append each
//	records                  the open log's records: offset, size, and whether each
//	                         is byte for byte the record appended there
//	close                    close cleanly
//	checkpoint at=N|remove   (closed) an unclean checkpoint at N, or none
//	truncate at=N            (closed) cut the segment holding offset N there
//	zero from=N to=M         (closed) zero log bytes [N, M)
//	garbage from=N to=M      (closed) overwrite [N, M) with random bytes
//	flip at=N bit=B          (closed) flip one bit
//	remove base=N            (closed) remove the segment starting at N
//	ls                       segment files and their sizes
//	check                    (closed) Check's verdict
func TestRecoveryScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/recovery", func(t *testing.T, path string) {
		l := &ddLog{fs: vfs.NewMem(), stored: map[int64][]byte{}}
		defer func() {
			if l.c != nil {
				l.c.Close()
			}
		}()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return l.run(t, d)
		})
	})
}

func (l *ddLog) run(t *testing.T, d *datadriven.TestData) string {
	switch d.Cmd {
	case "append", "records", "close":
		if l.c == nil {
			d.Fatalf(t, "%s needs the log open", d.Cmd)
		}
	case "open", "ls":
	default:
		if l.c != nil {
			d.Fatalf(t, "%s needs the log closed", d.Cmd)
		}
	}
	switch d.Cmd {
	case "open":
		mode := SyncFlush
		if d.HasArg("mode") {
			var s string
			d.ScanArgs(t, "mode", &s)
			if s == "async" {
				mode = AsyncFlush
			}
		}
		if l.c != nil {
			d.Fatalf(t, "already open")
		}
		c, err := Open(Options{FS: l.fs, Dir: "cl", SegmentSize: ddSegSize, FlushMode: mode, Prewrite: PrewriteOff})
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		l.c = c
		return ddReport(c.Report()) + l.kept(t, c.Report())
	case "append":
		var size int
		count := 1
		d.ScanArgs(t, "size", &size)
		d.MaybeScanArgs(t, "count", &count)
		var b strings.Builder
		for range count {
			rec := record(l.ids, size)
			l.ids++
			phys, end, err := l.c.Append(rec, nil)
			if err != nil {
				d.Fatalf(t, "append: %v", err)
			}
			l.stored[phys] = stored(rec, phys)
			fmt.Fprintf(&b, "%d..%d\n", phys, end)
		}
		return b.String()
	case "records":
		var b strings.Builder
		it := l.c.NewIterator(l.c.MinOffset())
		for {
			rec, phys, err := it.Next(l.c.Readable())
			if err == io.EOF {
				break
			}
			if err != nil {
				return b.String() + fmt.Sprintf("error: %v\n", err)
			}
			same := "as appended"
			if !bytes.Equal(rec, l.stored[phys]) {
				same = "CHANGED"
			}
			fmt.Fprintf(&b, "%d +%d %s\n", phys, len(rec), same)
		}
		return b.String()
	case "close":
		if err := l.c.Close(); err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		l.c = nil
		return ""
	case "checkpoint":
		if d.HasArg("remove") {
			if err := l.fs.Remove("cl/" + checkpointName); err != nil {
				d.Fatalf(t, "%v", err)
			}
			return ""
		}
		var at int64
		d.ScanArgs(t, "at", &at)
		cf, _, _, err := openCheckpoint(l.fs, "cl")
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		if err := cf.write(at, false); err != nil {
			d.Fatalf(t, "%v", err)
		}
		cf.close()
		return ""
	case "truncate":
		var at int64
		d.ScanArgs(t, "at", &at)
		// MemFS files cannot be truncated: write the kept head anew.
		f, err := l.fs.Open(ddSegPath(at))
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		head := make([]byte, at%ddSegSize)
		_, err = io.ReadFull(f, head)
		f.Close()
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		out, err := l.fs.Create(ddSegPath(at), vfs.WriteCategoryUnspecified)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		defer out.Close()
		if _, err := out.Write(head); err != nil {
			d.Fatalf(t, "%v", err)
		}
		return ""
	case "zero", "garbage":
		var from, to int64
		d.ScanArgs(t, "from", &from)
		d.ScanArgs(t, "to", &to)
		b := make([]byte, to-from)
		if d.Cmd == "garbage" {
			r := rand.New(rand.NewPCG(uint64(from), uint64(to)))
			for i := range b {
				b[i] = byte(r.Uint32() | 1) // never zero: all of it is damage
			}
		}
		l.writeAt(t, d, b, from)
		return ""
	case "flip":
		var at int64
		var bit int
		d.ScanArgs(t, "at", &at)
		d.ScanArgs(t, "bit", &bit)
		flipBit(t, l.fs, ddSegPath(at), at%ddSegSize, uint(bit))
		return ""
	case "remove":
		var base int64
		d.ScanArgs(t, "base", &base)
		if err := l.fs.Remove(ddSegPath(base)); err != nil {
			d.Fatalf(t, "%v", err)
		}
		return ""
	case "ls":
		names, err := l.fs.List("cl")
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			if _, ok := ParseSegmentName(n); !ok && !strings.HasPrefix(n, "cut-") {
				continue
			}
			fi, err := l.fs.Stat("cl/" + n)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			fmt.Fprintf(&b, "%s %d\n", n, fi.Size())
		}
		return b.String()
	case "check":
		rep, err := Check(CheckOptions{FS: l.fs, Dir: "cl", SegmentSize: ddSegSize})
		if err != nil {
			return fmt.Sprintf("error: %v\n", err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "end %d, %d records\n", rep.End, rep.Records)
		for _, p := range rep.Problems {
			fmt.Fprintln(&b, p)
		}
		if rep.OK() {
			b.WriteString("ok\n")
		}
		return b.String()
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

// writeAt writes b at log offset off, within one segment.
func (l *ddLog) writeAt(t *testing.T, d *datadriven.TestData, b []byte, off int64) {
	if off/ddSegSize != (off+int64(len(b))-1)/ddSegSize {
		d.Fatalf(t, "%d..%d spans two segments", off, off+int64(len(b)))
	}
	f, err := l.fs.OpenReadWrite(ddSegPath(off), vfs.WriteCategoryUnspecified)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off%ddSegSize); err != nil {
		d.Fatalf(t, "%v", err)
	}
}

// kept describes the file where recovery kept the bytes it cut after
// damage: its size, and how many of the records appended after the damaged
// one are in it byte for byte, where they were.
func (l *ddLog) kept(t *testing.T, r Report) string {
	if r.SavedTo == "" {
		return ""
	}
	b := vfstest.ReadFile(t, l.fs, r.SavedTo)
	intact := 0
	for phys, rec := range l.stored {
		at := phys - r.CutAt
		if at > 0 && at+int64(len(rec)) <= int64(len(b)) && bytes.Equal(b[at:at+int64(len(rec))], rec) {
			intact++
		}
	}
	return fmt.Sprintf("kept %d bytes in %s: %d intact records after the damaged one\n", len(b), r.SavedTo, intact)
}

func ddSegPath(off int64) string { return "cl/" + SegmentName(off-off%ddSegSize) }

// ddReport prints a recovery Report, without its duration.
func ddReport(r Report) string {
	var b strings.Builder
	switch {
	case r.New:
		b.WriteString("new log\n")
	case r.Clean:
		fmt.Fprintf(&b, "clean: end %d, nothing scanned\n", r.End)
	default:
		fmt.Fprintf(&b, "scanned %d..%d: %d records, %d bytes\n", r.From, r.End, r.Records, r.Bytes)
	}
	if r.CutAt >= 0 {
		fmt.Fprintf(&b, "cut at %d, %d bytes zeroed\nreason: %s\n", r.CutAt, r.CutBytes, r.Reason)
	}
	if len(r.RemovedSegments) > 0 {
		fmt.Fprintf(&b, "removed segments %v\n", r.RemovedSegments)
	}
	if len(r.KeptSegments) > 0 {
		fmt.Fprintf(&b, "segments kept aside %v\n", r.KeptSegments)
	}
	return b.String()
}
