package commitlog

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The mapped write path needs real files: these tests run on the OS file
// system in a temporary directory.

func openOS(t testing.TB, dir string, mode FlushMode, mm MmapMode, segSize int64) *CommitLog {
	t.Helper()
	c, err := Open(Options{FS: vfs.Default, Dir: dir, SegmentSize: segSize, FlushMode: mode, Mmap: mm,
		FlushInterval: 5 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return c
}

// mappedSize gives record id a body size that varies, so records straddle
// pages and segment ends differently.
func mappedSize(id int) int { return 50 + (id*7919)%3000 }

func TestMappedAppendReadRestart(t *testing.T) {
	for _, mode := range []FlushMode{SyncFlush, AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			c := openOS(t, dir, mode, MmapOn, 64<<10)
			if !c.mapped {
				t.Fatal("the OS file system should take the mapped path")
			}
			want := map[int64][]byte{}
			var mu sync.Mutex
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 150 {
						id := w*1000 + i
						rec := record(id, mappedSize(id))
						phys, _, err := c.Append(rec, nil)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						want[phys] = stored(rec, phys)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			check := func(c *CommitLog, what string) { expectRecords(t, c, want, what) }
			check(c, "live")
			if len(c.Segments()) < 10 {
				t.Fatalf("only %d segments: the test should cross many", len(c.Segments()))
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			// Reopen mapped and buffered: both read the same log, and the
			// next append lands right after the last record.
			for _, mm := range []MmapMode{MmapOn, MmapOff} {
				c = openOS(t, dir, mode, mm, 64<<10)
				check(c, fmt.Sprintf("reopened mmap=%v", mm == MmapOn))
				rec := record(99999+int(mm), 100)
				phys, _, err := c.Append(rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				want[phys] = stored(rec, phys)
				check(c, "after one more append")
				if err := c.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestMappedKill is RELIABILITY T8/T9 for the CommitLog's mapped path: a
// child process appends (ASYNC_FLUSH and SYNC_FLUSH) and reports each
// acknowledged append; it is killed with SIGKILL at a random moment; every
// acknowledged record must read back byte-identical after reopen, across a
// chain of kills on the same directory.
func TestMappedKill(t *testing.T) {
	kills := 8
	if testing.Short() {
		kills = 4
	}
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	acked := map[int64]int{} // phys -> id
	next := 0
	for k := range kills {
		mode := []FlushMode{AsyncFlush, SyncFlush}[k%2]
		cmd := exec.Command(os.Args[0], "-test.run=^TestMappedKillChild$")
		cmd.Env = append(os.Environ(), "WHARF_KILL_CHILD_DIR="+dir, fmt.Sprintf("WHARF_KILL_CHILD_MODE=%d", mode),
			fmt.Sprintf("WHARF_KILL_CHILD_FIRST=%d", next))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait until the child appends, then kill it at a random moment.
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("kill %d: the child died before appending", k)
		}
		time.Sleep(time.Duration(20+r.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for _, line := range append([]string{first}, drain(lines)...) {
			var phys int64
			var id int
			if _, err := fmt.Sscanf(line, "%d %d", &phys, &id); err != nil {
				continue // a line cut by the kill was never acknowledged
			}
			acked[phys] = id
			next = max(next, id+1)
		}
		cmd.Wait()

		c := openOS(t, dir, SyncFlush, MmapOn, 256<<10)
		got, _ := readAll(t, c)
		for phys, id := range acked {
			if want := stored(record(id, mappedSize(id)), phys); !bytes.Equal(got[phys], want) {
				t.Fatalf("kill %d (%v): acknowledged record %d at %d lost or changed (report %+v)", k, mode, id, phys, c.Report())
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d acknowledged records all intact", kills, len(acked))
}

// drain returns what is left in lines once the writer closed it.
func drain(lines <-chan string) []string {
	var out []string
	for l := range lines {
		out = append(out, l)
	}
	return out
}

// TestMappedKillChild is the child of TestMappedKill; it does nothing in a
// normal run.
func TestMappedKillChild(t *testing.T) {
	dir := os.Getenv("WHARF_KILL_CHILD_DIR")
	if dir == "" {
		t.Skip("helper process for TestMappedKill")
	}
	mode, _ := strconv.Atoi(os.Getenv("WHARF_KILL_CHILD_MODE"))
	id, _ := strconv.Atoi(os.Getenv("WHARF_KILL_CHILD_FIRST"))
	c := openOS(t, dir, FlushMode(mode), MmapOn, 256<<10)
	var sb strings.Builder
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); id++ {
		phys, _, err := c.Append(record(id, mappedSize(id)), nil)
		if err != nil {
			t.Fatal(err)
		}
		// One write per acknowledgement: what the parent reads was
		// acknowledged.
		sb.Reset()
		fmt.Fprintf(&sb, "%d %d\n", phys, id)
		os.Stdout.WriteString(sb.String())
	}
	t.Fatal("the child was not killed within 10 s")
}

// TestPrefaultPopulatesAhead: the pages past the writer of a mapped
// segment come into the page cache before any append reaches them.
func TestPrefaultPopulatesAhead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MADV_POPULATE_READ is Linux only")
	}
	c := openOS(t, t.TempDir(), AsyncFlush, MmapOn, 64<<20)
	defer c.Close()
	if _, _, err := c.Append(record(1, 1000), nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	mem := c.mu.active.mem
	c.mu.Unlock()
	from := int64(8 << 10) // past the record's pages
	span := mem[from : from+16<<20]
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := resident(t, span)
		if n == len(span)/4096 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pages ahead of the writer resident after 10 s", n, len(span)/4096)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestZeroNonZeroOnReservedFile: on a real file with reserved (fallocated)
// blocks, the tail check finds bytes written anywhere past the start, in
// the page cache only or synced, while skipping the unwritten rest.
func TestZeroNonZeroOnReservedFile(t *testing.T) {
	for _, sync := range []bool{false, true} {
		path := t.TempDir() + "/seg"
		f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
		if err != nil {
			t.Fatal(err)
		}
		const size = 64 << 20
		if err := f.Preallocate(0, size); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, size); err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{100, 5<<20 + 7, 40 << 20} {
			if _, err := f.WriteAt([]byte{1, 2, 3}, off); err != nil {
				t.Fatal(err)
			}
		}
		if sync {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		span, err := zeroNonZero(f, 1<<20, size)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(40<<20+3) - 1<<20; span != want {
			t.Fatalf("synced %v: span %d, want %d", sync, span, want)
		}
		buf := make([]byte, 4)
		for _, off := range []int64{5<<20 + 7, 40 << 20} {
			if _, err := f.ReadAt(buf, off); err != nil || !bytes.Equal(buf, make([]byte, 4)) {
				t.Fatalf("synced %v: %v at %d after zeroing (%v)", sync, buf, off, err)
			}
		}
		if _, err := f.ReadAt(buf[:3], 100); err != nil || !bytes.Equal(buf[:3], []byte{1, 2, 3}) {
			t.Fatalf("synced %v: bytes before the start changed: %v", sync, buf[:3])
		}
		f.Close()
	}
}

// resident counts the pages of b in the page cache.
func resident(t *testing.T, b []byte) int {
	t.Helper()
	vec := make([]byte, len(b)/4096)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestReplicaIntoMapping: a mapped log fed by AppendReplica (which writes
// the bytes instead of storing them into the mapping) reads back every
// record through the mapping and after a reopen; the prefaulter rests
// while the log is fed so, and works again after a local append.
func TestReplicaIntoMapping(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("MADV_POPULATE_READ is Linux only")
	}
	const segSize = 64 << 20
	src := openOS(t, t.TempDir(), AsyncFlush, MmapOff, segSize)
	defer src.Close()
	want := map[int64][]byte{}
	for id := 0; src.End() < 16<<20; id++ {
		rec := record(id, 1000+id%3000)
		phys, _, err := src.Append(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		want[phys] = stored(rec, phys)
	}
	if err := src.Wait(src.End()); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, src.End())
	if err := src.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	c := openOS(t, dir, AsyncFlush, MmapOn, segSize)
	// Cut the bytes at record ends into frames of about 32 KiB, as a
	// master sends them (a frame may end inside a record; the slave keeps
	// the cut part for the next one, so whole records only here).
	for p := 0; p < len(data); {
		q := p
		for q < len(data) && q-p < 32<<10 {
			q += int(beUint32(data[q:]))
		}
		if _, err := c.AppendReplica(int64(p), data[p:q]); err != nil {
			t.Fatalf("replica append at %d: %v", p, err)
		}
		p = q
	}
	expectRecords(t, c, want, "live")

	// At open the prefaulter went up to 32 MiB ahead of 0; fed by the
	// replica it went no further, so the pages from 48 MiB stay out.
	c.mu.Lock()
	mem := c.mu.active.mem
	c.mu.Unlock()
	far := mem[48<<20 : 56<<20]
	time.Sleep(300 * time.Millisecond)
	if n := resident(t, far); n != 0 {
		t.Fatalf("%d pages 32 MiB past the replica's end populated: the prefaulter did not rest", n)
	}
	// A local append (a promoted slave) wakes it.
	local := record(999999, 500)
	phys, _, err := c.Append(local, nil)
	if err != nil {
		t.Fatal(err)
	}
	want[phys] = stored(local, phys)
	deadline := time.Now().Add(10 * time.Second)
	for resident(t, far) < len(far)/4096 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if resident(t, far) < len(far)/4096 {
		t.Fatalf("%d of %d pages ahead populated 10 s after a local append", resident(t, far), len(far)/4096)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = openOS(t, dir, AsyncFlush, MmapOn, segSize)
	defer c.Close()
	expectRecords(t, c, want, "reopened")
}

// expectRecords fails unless c holds exactly the records of want, by
// offset, byte for byte.
func expectRecords(t *testing.T, c *CommitLog, want map[int64][]byte, what string) {
	t.Helper()
	got, _ := readAll(t, c)
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for phys, rec := range want {
		if !bytes.Equal(got[phys], rec) {
			t.Fatalf("%s: record at %d differs", what, phys)
		}
	}
}
