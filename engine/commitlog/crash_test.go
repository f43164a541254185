package commitlog

import (
	"bytes"
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
)

var crashPoints = flag.Int("crashpoints", 2000, "crash points for TestCrashCloneSyncFlush (RELIABILITY T1)")

// testSeed returns WHARF_SEED if set, else a fresh seed, and logs it so a
// failure can be replayed.
func testSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WHARF_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("WHARF_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (rerun with WHARF_SEED=%d)", seed, seed)
	return seed
}

// randomSize favours small records but reaches 64 KiB.
func randomSize(r *rand.Rand) int {
	switch r.IntN(10) {
	case 0:
		return r.IntN(64 << 10)
	case 1, 2:
		return r.IntN(8 << 10)
	default:
		return r.IntN(512)
	}
}

// lineage tracks every record ever appended at each offset in one crash
// lineage, and which of them were acknowledged.
type lineage struct {
	mu       sync.Mutex
	appended map[int64][]byte
	acked    map[int64]bool
}

// verifyClone opens a copy of a crashed file system and checks RELIABILITY
// T1: every acknowledged record is present byte-identical, and every
// recovered record is one that was appended at that offset (a prefix: the
// iterator walks the log contiguously, so holes would fail it).
func verifyClone(t *testing.T, crashed *vfs.MemFS, l *lineage, ackedBefore map[int64]bool, segSize int64) map[int64][]byte {
	t.Helper()
	fs := crashed.CrashClone(vfs.CrashCloneCfg{})
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: segSize, FlushMode: SyncFlush, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	defer c.Close()
	got, _ := readAll(t, c)
	l.mu.Lock()
	defer l.mu.Unlock()
	for phys, rec := range got {
		if want, ok := l.appended[phys]; !ok || !bytes.Equal(want, rec) {
			t.Fatalf("recovered a record at %d that was never appended there", phys)
		}
	}
	for phys := range ackedBefore {
		if !bytes.Equal(got[phys], l.appended[phys]) {
			t.Fatalf("acknowledged record at %d lost or changed after crash (report %+v)", phys, c.Report())
		}
	}
	return got
}

// TestCrashCloneSyncFlush is RELIABILITY T1 for the CommitLog: concurrent
// SYNC_FLUSH appenders, crash clones at random moments keeping 0, 50 or 100 %
// of unsynced blocks, and a chain of restarts from crashed states (so a tail
// cut by one recovery must not come back after the next crash).
func TestCrashCloneSyncFlush(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	limit := *crashPoints
	if testing.Short() {
		limit = min(limit, 100) // the race detector makes each point ~20x dearer
	}
	const segSize = 256 << 10
	fs := vfs.NewCrashableMem()
	l := &lineage{appended: map[int64][]byte{}, acked: map[int64]bool{}}
	points := 0
	for points < limit {
		c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: segSize, FlushMode: SyncFlush, Prewrite: PrewriteMode(1 + r.IntN(2))})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		// Everything the previous crash kept counts as acknowledged now.
		l.mu.Lock()
		for phys := range l.appended {
			if phys >= c.End() {
				delete(l.appended, phys)
			}
		}
		l.acked = map[int64]bool{}
		for phys := range l.appended {
			l.acked[phys] = true
		}
		l.mu.Unlock()

		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(wr *rand.Rand) {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					select {
					case <-stop:
						return
					default:
					}
					rec := record(i, randomSize(wr))
					phys, _, err := c.Append(rec, func(phys int64, b []byte) {
						l.mu.Lock()
						l.appended[phys] = sealed(b)
						l.mu.Unlock()
					})
					if err != nil {
						return // closed under us
					}
					l.mu.Lock()
					l.acked[phys] = true
					l.mu.Unlock()
				}
			}(rand.New(rand.NewPCG(r.Uint64(), 2)))
		}
		var last *vfs.MemFS
		for k := 0; k < 5; k++ {
			time.Sleep(time.Duration(r.IntN(1500)) * time.Microsecond)
			l.mu.Lock()
			ackedBefore := make(map[int64]bool, len(l.acked))
			for p := range l.acked {
				ackedBefore[p] = true
			}
			l.mu.Unlock()
			pct := []int{0, 50, 100}[r.IntN(3)]
			last = fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(r.Uint64(), 3))})
			verifyClone(t, last, l, ackedBefore, segSize)
			points++
		}
		close(stop)
		wg.Wait()
		end := c.End()
		c.Close()
		fs = last // restart from the last crash
		if end > 2<<20 {
			// Keep clones cheap: start a new lineage.
			fs = vfs.NewCrashableMem()
			l.appended = map[int64][]byte{}
		}
	}
	t.Logf("%d crash points, 0 violations", points)
}

// TestCrashAfterRoll is RELIABILITY T4: crash right after each segment roll
// and right after the first acknowledged record in the new segment, keeping
// only synced data. A missing directory fsync loses the new segment.
func TestCrashAfterRoll(t *testing.T) {
	const segSize = 16 << 10
	fs := vfs.NewCrashableMem()
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: segSize, FlushMode: SyncFlush})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := &lineage{appended: map[int64][]byte{}, acked: map[int64]bool{}}
	rolls := 0
	lastSeg := int64(0)
	for i := 0; rolls < 200; i++ {
		rec := record(i, 1000+i%3000)
		phys, _, err := c.Append(rec, func(phys int64, b []byte) { l.appended[phys] = sealed(b) })
		if err != nil {
			t.Fatal(err)
		}
		l.acked[phys] = true
		if seg := phys / segSize; seg != lastSeg {
			lastSeg = seg
			rolls++
			verifyClone(t, fs.CrashClone(vfs.CrashCloneCfg{}), l, l.acked, segSize)
		}
	}
	t.Logf("%d roll crash points, 0 acknowledged records lost", rolls)
}

// sealed is rec as the log will hold it once its checksum is sealed (patch
// callbacks see it just before).
func sealed(rec []byte) []byte {
	b := bytes.Clone(rec)
	msg.SealCRC(b)
	return b
}
