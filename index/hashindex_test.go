package index

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

func TestAddQuery(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 16, 1000))
	defer x.Close()
	if h := mustQuery(t, x, "T#a", 10, minTime, maxTime); h != nil {
		t.Fatalf("empty index: %v", h)
	}
	mustAdd(t, x, "T#a", 100, 1000)
	if h := mustQuery(t, x, "T#a", 10, minTime, maxTime); !slices.Equal(h, []Hit{{100, 1000}}) {
		t.Fatalf("got %v", h)
	}
	if h := mustQuery(t, x, "T#b", 10, minTime, maxTime); h != nil {
		t.Fatalf("other key: %v", h)
	}

	var m model
	m.add("T#a", 100, 1000)
	for i := 1; i <= 500; i++ {
		k := fmt.Sprintf("T#key-%d", i%97)
		mustAdd(t, x, k, int64(100+i*10), int64(1000+i))
		m.add(k, int64(100+i*10), int64(1000+i))
	}
	checkAgainst(t, x, &m, math.MaxInt64, "many keys")
}

func TestNewestFirstMaxAndTimeRange(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 16, 30))
	defer x.Close()
	for i := 0; i < 100; i++ {
		mustAdd(t, x, "T#k", int64(i*100), int64(5000+i))
		mustAdd(t, x, fmt.Sprintf("T#other%d", i), int64(i*100), int64(5000+i))
	}
	h := mustQuery(t, x, "T#k", 10, minTime, maxTime)
	if len(h) != 10 {
		t.Fatalf("max 10: got %d hits", len(h))
	}
	for i, hit := range h {
		if want := int64((99 - i) * 100); hit.Phys != want {
			t.Fatalf("hit %d phys %d, want %d (newest first)", i, hit.Phys, want)
		}
	}
	if h := mustQuery(t, x, "T#k", 0, minTime, maxTime); len(h) != 0 {
		t.Fatalf("max 0: %v", h)
	}
	// Time range, inclusive at both ends, crossing file boundaries.
	h = mustQuery(t, x, "T#k", 1000, 5010, 5060)
	if len(h) != 51 || h[0].StoreTime != 5060 || h[50].StoreTime != 5010 {
		t.Fatalf("range: %d hits, first %v last %v", len(h), h[0], h[len(h)-1])
	}
	if h := mustQuery(t, x, "T#k", 1000, 6000, 7000); len(h) != 0 {
		t.Fatalf("range past the data: %v", h)
	}
	if h := mustQuery(t, x, "T#k", 1000, 5070, 5060); len(h) != 0 {
		t.Fatalf("empty range: %v", h)
	}
}

func TestCollisionsOneSlot(t *testing.T) {
	// One slot: every key shares a chain, and only the hash tells them apart.
	x := mustOpen(t, testOpts(vfs.NewMem(), 1, 64))
	defer x.Close()
	var m model
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("T#%d", i%13)
		mustAdd(t, x, k, int64(i), int64(i))
		m.add(k, int64(i), int64(i))
	}
	checkAgainst(t, x, &m, math.MaxInt64, "one slot")
}

func TestRollOverManyFiles(t *testing.T) {
	fs := vfs.NewMem()
	x := mustOpen(t, testOpts(fs, 4, 8))
	var m model
	phys := int64(0)
	for i := 0; i < 1000; i++ {
		// Several keys per message, as the engine adds them.
		for j := 0; j < 1+i%3; j++ {
			k := fmt.Sprintf("T#%d", (i+j)%50)
			mustAdd(t, x, k, phys, int64(i))
			m.add(k, phys, int64(i))
		}
		phys += 37
	}
	checkAgainst(t, x, &m, math.MaxInt64, "live")
	names, _ := fs.List("idx")
	if len(names) < 200 {
		t.Fatalf("only %d files for %d entries at 8 per file", len(names), len(m.entries))
	}
	if err := x.Sync(phys); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = mustOpen(t, testOpts(fs, 4, 8))
	defer x.Close()
	if x.Checkpoint() != phys {
		t.Fatalf("checkpoint %d, want %d", x.Checkpoint(), phys)
	}
	checkAgainst(t, x, &m, math.MaxInt64, "reopened")
}

func TestManyKeysSamePhysSpanFiles(t *testing.T) {
	// A message with more keys than a file holds: several files start at
	// the same phys and must still get distinct, sorted names.
	fs := vfs.NewMem()
	x := mustOpen(t, testOpts(fs, 2, 3))
	var m model
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("T#%d", i)
		mustAdd(t, x, k, 500, 7)
		m.add(k, 500, 7)
	}
	mustAdd(t, x, "T#0", 501, 8)
	m.add("T#0", 501, 8)
	checkAgainst(t, x, &m, math.MaxInt64, "same phys")
	if err := x.Sync(502); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = mustOpen(t, testOpts(fs, 2, 3))
	defer x.Close()
	checkAgainst(t, x, &m, math.MaxInt64, "same phys reopened")
	if err := x.TruncateFrom(500); err != nil {
		t.Fatal(err)
	}
	m.truncate(500)
	checkAgainst(t, x, &m, math.MaxInt64, "same phys truncated")
	if names, _ := fs.List("idx"); len(names) != 1 { // only CHECKPOINT
		t.Fatalf("files left: %v", names)
	}
}

func TestTimeDeltaOverflowRolls(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 4, 100))
	defer x.Close()
	var m model
	times := []int64{0, 1 << 40, 5, -(1 << 40), 1<<31 - 1, 1 << 31, math.MaxInt64 / 2}
	for i, ts := range times {
		mustAdd(t, x, "T#k", int64(i), ts)
		m.add("T#k", int64(i), ts)
	}
	checkAgainst(t, x, &m, math.MaxInt64, "times")
	if h := mustQuery(t, x, "T#k", 10, 0, 1<<31); len(h) != 4 {
		t.Fatalf("range query: %v", h)
	}
}

func TestReopenKeepsEverythingSynced(t *testing.T) {
	fs := vfs.NewMem()
	x := mustOpen(t, testOpts(fs, 8, 20))
	var m model
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("T#%d", i%7)
		mustAdd(t, x, k, int64(i*10), int64(i))
		m.add(k, int64(i*10), int64(i))
	}
	if err := x.Sync(300); err != nil { // entries at phys 300.. are not covered
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = mustOpen(t, testOpts(fs, 8, 20))
	if x.Checkpoint() != 300 {
		t.Fatalf("checkpoint %d", x.Checkpoint())
	}
	checkAgainst(t, x, &m, 300, "reopen")
	m.truncate(300)
	// Re-add what the caller replays from the checkpoint.
	for i := 30; i < 60; i++ {
		k := fmt.Sprintf("T#%d", i%7)
		mustAdd(t, x, k, int64(i*10), int64(i))
		m.add(k, int64(i*10), int64(i))
	}
	if err := x.Sync(600); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = mustOpen(t, testOpts(fs, 8, 20))
	defer x.Close()
	checkAgainst(t, x, &m, math.MaxInt64, "replayed")
}

func TestAddRefusesGoingBack(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 8, 20))
	defer x.Close()
	mustAdd(t, x, "a", 10, 1)
	mustAdd(t, x, "b", 10, 1)
	if err := x.Add("c", 9, 1); err == nil {
		t.Fatal("Add with a smaller phys accepted")
	}
	mustAdd(t, x, "c", 11, 1) // not sticky
}

func TestDeleteBefore(t *testing.T) {
	fs := vfs.NewMem()
	x := mustOpen(t, testOpts(fs, 4, 10))
	var m model
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("T#%d", i%5)
		mustAdd(t, x, k, int64(i*10), int64(i))
		m.add(k, int64(i*10), int64(i))
	}
	// Files hold phys [0,90], [100,190], ...: before=455 deletes four.
	if err := x.DeleteBefore(455); err != nil {
		t.Fatal(err)
	}
	m.truncateBelow(400)
	checkAgainst(t, x, &m, math.MaxInt64, "after DeleteBefore")
	if names, _ := fs.List("idx"); len(names) != 6 {
		t.Fatalf("files: %v", names)
	}
	// Everything, the active file included.
	if err := x.DeleteBefore(1 << 40); err != nil {
		t.Fatal(err)
	}
	m.truncateBelow(1 << 40)
	checkAgainst(t, x, &m, math.MaxInt64, "all deleted")
	mustAdd(t, x, "T#new", 5000, 1)
	m.add("T#new", 5000, 1)
	if err := x.Sync(5001); err != nil {
		t.Fatal(err)
	}
	x.Close()
	x = mustOpen(t, testOpts(fs, 4, 10))
	defer x.Close()
	checkAgainst(t, x, &m, math.MaxInt64, "reopened")
}

func (m *model) truncateBelow(before int64) {
	m.entries = slices.DeleteFunc(m.entries, func(e modelEntry) bool { return e.phys < before })
}

// TestTruncateModel runs seeded random Adds, Syncs, truncations and
// reopens against the model: after TruncateFrom and re-adding, queries must
// match an index that never had the dropped entries.
func TestTruncateModel(t *testing.T) {
	for run := 0; run < 6; run++ {
		seed := rand.Uint64()
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			runTruncateModel(t, seed, 1500)
		})
	}
}

func runTruncateModel(t *testing.T, seed uint64, ops int) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	fs := vfs.NewMem()
	slots := 1 + rng.IntN(20)
	per := 1 + rng.IntN(60)
	o := testOpts(fs, slots, per)
	x := mustOpen(t, o)
	defer func() { x.Close() }()
	var m model
	phys := int64(0)
	nkeys := 1 + rng.IntN(40)
	for op := 0; op < ops; op++ {
		switch r := rng.IntN(100); {
		case r < 80:
			for j := rng.IntN(3); j >= 0; j-- {
				k := fmt.Sprintf("T#%d", rng.IntN(nkeys))
				ts := 1000 + phys/10 + int64(rng.IntN(5))
				mustAdd(t, x, k, phys, ts)
				m.add(k, phys, ts)
			}
			phys += 1 + int64(rng.IntN(50))
		case r < 88:
			if err := x.Sync(phys); err != nil {
				t.Fatal(err)
			}
		case r < 96:
			from := int64(0)
			if phys > 0 {
				from = phys - int64(rng.IntN(int(min(phys, 2000))+1))
			}
			if err := x.TruncateFrom(from); err != nil {
				t.Fatalf("op %d TruncateFrom(%d): %v", op, from, err)
			}
			m.truncate(from)
			phys = from
			checkAgainst(t, x, &m, math.MaxInt64, fmt.Sprintf("op %d truncate(%d)", op, from))
		default:
			if err := x.Sync(phys); err != nil {
				t.Fatal(err)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			x = mustOpen(t, o)
			checkAgainst(t, x, &m, math.MaxInt64, fmt.Sprintf("op %d reopen", op))
		}
	}
	checkAgainst(t, x, &m, math.MaxInt64, "end")

	// The same surviving entries added to a fresh index give the same
	// answers, time-filtered and capped ones included.
	y := mustOpen(t, Options{FS: vfs.NewMem(), Dir: "fresh", SlotCount: slots, EntriesPerFile: per, Logger: quietLogger()})
	defer y.Close()
	for _, e := range m.entries {
		mustAdd(t, y, e.key, e.phys, e.ts)
	}
	for _, k := range m.keys() {
		for _, q := range [][3]int64{{3, minTime, maxTime}, {1 << 20, 1100, 1200}} {
			a := mustQuery(t, x, k, int(q[0]), q[1], q[2])
			b := mustQuery(t, y, k, int(q[0]), q[1], q[2])
			if !slices.Equal(a, b) {
				t.Fatalf("key %q query %v: truncated index %v, fresh index %v", k, q, a, b)
			}
		}
	}
}

func TestTruncateRepairsChains(t *testing.T) {
	// One slot: the chain runs through every entry, so dropping the newest
	// must rewind the slot to the newest survivor.
	x := mustOpen(t, testOpts(vfs.NewMem(), 1, 100))
	defer x.Close()
	for i := 0; i < 20; i++ {
		mustAdd(t, x, fmt.Sprintf("k%d", i%3), int64(i), int64(i))
	}
	if err := x.Sync(20); err != nil {
		t.Fatal(err)
	}
	if err := x.TruncateFrom(12); err != nil {
		t.Fatal(err)
	}
	if x.Checkpoint() != 12 {
		t.Fatalf("checkpoint %d, want 12", x.Checkpoint())
	}
	h := mustQuery(t, x, "k0", 100, minTime, maxTime)
	want := []Hit{{9, 9}, {6, 6}, {3, 3}, {0, 0}}
	if !slices.Equal(h, want) {
		t.Fatalf("got %v want %v", h, want)
	}
	// A truncation above everything changes nothing but the checkpoint.
	if err := x.TruncateFrom(1000); err != nil {
		t.Fatal(err)
	}
	if x.Checkpoint() != 12 {
		t.Fatalf("checkpoint %d after a higher truncation", x.Checkpoint())
	}
}

func TestConcurrentQueries(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 16, 64))
	defer x.Close()
	const n = 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				hits, err := x.Query(fmt.Sprintf("T#%d", i%20), 5, minTime, maxTime)
				if err != nil {
					t.Error(err)
					return
				}
				for j := 1; j < len(hits); j++ {
					if hits[j].Phys > hits[j-1].Phys {
						t.Errorf("not newest first: %v", hits)
						return
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		mustAdd(t, x, fmt.Sprintf("T#%d", i%20), int64(i), int64(i))
		switch {
		case i%1000 == 999:
			if err := x.DeleteBefore(int64(i - 500)); err != nil {
				t.Error(err)
			}
		case i%500 == 499:
			if err := x.TruncateFrom(int64(i - 100)); err != nil {
				t.Error(err)
			}
		case i%100 == 0:
			if err := x.Sync(int64(i)); err != nil {
				t.Error(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}

func TestStickyWriteError(t *testing.T) {
	var fail atomic.Bool
	efs := errorfs.Wrap(vfs.NewMem(), errorfs.InjectorFunc(func(op errorfs.Op) error {
		if op.Kind == errorfs.OpFileSync && fail.Load() {
			return errors.New("injected fsync error")
		}
		return nil
	}))
	x := mustOpen(t, testOpts(efs, 8, 100))
	mustAdd(t, x, "a", 1, 1)
	fail.Store(true)
	if err := x.Sync(2); err == nil {
		t.Fatal("Sync succeeded on a failing fsync")
	}
	fail.Store(false)
	if err := x.Add("b", 3, 1); err == nil {
		t.Fatal("Add accepted after a failed fsync")
	}
	if err := x.Sync(4); err == nil {
		t.Fatal("Sync accepted after a failed fsync")
	}
	if h := mustQuery(t, x, "a", 10, minTime, maxTime); len(h) != 1 {
		t.Fatalf("query after write error: %v", h)
	}
	if err := x.Close(); err == nil {
		t.Fatal("Close hid the write error")
	}
	x = mustOpen(t, testOpts(efs, 8, 100))
	defer x.Close()
	mustAdd(t, x, "b", 3, 1)
}

func TestClosed(t *testing.T) {
	x := mustOpen(t, testOpts(vfs.NewMem(), 8, 100))
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{x.Add("a", 1, 1), x.Sync(1), x.TruncateFrom(0), x.DeleteBefore(1), x.Close()} {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
	if _, err := x.Query("a", 1, 0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Query after Close: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	fs := vfs.NewMem()
	for _, o := range []Options{
		{FS: fs},
		{FS: fs, Dir: "d", SlotCount: -1},
		{FS: fs, Dir: "d", SlotCount: maxSlotCount + 1},
		{FS: fs, Dir: "d", EntriesPerFile: -5},
	} {
		if _, err := Open(o); err == nil {
			t.Errorf("Open(%+v) accepted", o)
		}
	}
}
