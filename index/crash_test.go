package index

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

var crashPercents = []int{0, 50, 100}

// TestCrashCloneAfterSync adds, syncs, keeps adding, crashes (keeping 0, 50
// or 100 % of the unsynced blocks), reopens and replays from the checkpoint,
// for several generations: everything below the last Sync survives, nothing
// at or past the checkpoint comes back.
func TestCrashCloneAfterSync(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	stats := &repairStats{}
	defer func() {
		t.Logf("slots repaired: %d by chain walk, %d by scan; %d files dropped at Open", stats.byChain, stats.byScan, stats.removedFiles)
	}()
	for _, shape := range [][2]int{{1, 500}, {7, 40}, {64, 300}} {
		for _, pct := range crashPercents {
			t.Run(fmt.Sprintf("slots=%d,entries=%d,unsynced=%d%%", shape[0], shape[1], pct), func(t *testing.T) {
				crashGenerations(t, rng, shape[0], shape[1], pct, slog.New(stats))
			})
		}
	}
}

func crashGenerations(t *testing.T, rng *rand.Rand, slots, per, pct int, logger *slog.Logger) {
	opts := func(fs vfs.FS) Options {
		o := testOpts(fs, slots, per)
		o.Logger = logger
		return o
	}
	fs := vfs.NewCrashableMem() // Open creates idx/ and syncs its parent
	var log []modelEntry        // the "CommitLog": every message ever written
	phys := int64(0)
	for gen := 0; gen < 8; gen++ {
		x := mustOpen(t, opts(fs))
		ck := x.Checkpoint()
		// Replay the log from the checkpoint, as the engine does.
		var m model
		for _, e := range log {
			if e.phys < ck {
				m.add(e.key, e.phys, e.ts)
			} else {
				mustAdd(t, x, e.key, e.phys, e.ts)
				m.add(e.key, e.phys, e.ts)
			}
		}
		checkAgainst(t, x, &m, math.MaxInt64, fmt.Sprintf("gen %d after replay", gen))
		synced := ck
		for i := 0; i < 150; i++ {
			k := fmt.Sprintf("T#%d", rng.IntN(25))
			e := modelEntry{k, phys, 1000 + int64(i)}
			log = append(log, e)
			mustAdd(t, x, e.key, e.phys, e.ts)
			m.add(e.key, e.phys, e.ts)
			if rng.IntN(3) > 0 {
				phys += int64(1 + rng.IntN(100))
			}
			if rng.IntN(20) == 0 {
				if err := x.Sync(phys); err != nil {
					t.Fatal(err)
				}
				synced = phys
			}
		}
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(rng.Uint64(), 2))})
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		fs = crashed
		y := mustOpen(t, opts(fs))
		if got := y.Checkpoint(); got != synced {
			t.Fatalf("gen %d: checkpoint %d after crash, last Sync was %d", gen, got, synced)
		}
		checkAgainst(t, y, &m, synced, fmt.Sprintf("gen %d after crash", gen))
		if err := y.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashHarness runs a fixed workload on an error-injecting view of a
// crashable FS, and takes a crash clone just before its k-th write-type
// operation (write, sync, create, remove, close, ...).
type crashHarness struct {
	seed    uint64
	mem     *vfs.MemFS
	fs      vfs.FS
	writes  int
	crashAt int
	pct     int
	clone   *vfs.MemFS
	snap    crashState
	cur     crashState
}

// crashState is what the harness knows at an instant: the entries added so
// far and what the checkpoint may be after a crash there.
type crashState struct {
	m        []modelEntry
	promised int64 // checkpoint of the last completed operation
	inFlight int64 // checkpoint if the running operation completes
	lowWater int64 // DeleteBefore may have removed entries below this
}

func (h *crashHarness) inject(op errorfs.Op) error {
	if op.Kind.ReadOrWrite() != errorfs.OpIsWrite {
		return nil
	}
	h.writes++
	if h.writes == h.crashAt {
		h.clone = h.mem.CrashClone(vfs.CrashCloneCfg{
			UnsyncedDataPercent: h.pct,
			RNG:                 rand.New(rand.NewPCG(uint64(h.crashAt), 3)),
		})
		h.snap = h.cur
		h.snap.m = slices.Clone(h.cur.m)
	}
	return nil
}

const crashSlots, crashPer = 3, 8

// run is the workload. It must be deterministic.
func (h *crashHarness) run(t *testing.T) {
	rng := rand.New(rand.NewPCG(h.seed, 42))
	o := testOpts(h.fs, crashSlots, crashPer)
	x := mustOpen(t, o)
	phys := int64(0)
	add := func(n int) {
		for i := 0; i < n; i++ {
			k := fmt.Sprintf("T#%d", rng.IntN(5))
			ts := 100 + phys
			mustAdd(t, x, k, phys, ts)
			h.cur.m = append(h.cur.m, modelEntry{k, phys, ts})
			phys += int64(rng.IntN(3)) * 10
		}
	}
	sync := func() {
		h.cur.inFlight = phys
		if err := x.Sync(phys); err != nil {
			t.Fatal(err)
		}
		h.cur.promised = phys
	}
	for round := 0; round < 7; round++ {
		add(5 + rng.IntN(10))
		sync()
		add(rng.IntN(6))
		switch round {
		case 2, 5:
			from := max(phys-60, 0)
			h.cur.inFlight = min(h.cur.promised, from)
			if err := x.TruncateFrom(from); err != nil {
				t.Fatal(err)
			}
			h.cur.promised = h.cur.inFlight
			h.cur.m = slices.DeleteFunc(h.cur.m, func(e modelEntry) bool { return e.phys >= from })
			phys = from
		case 3:
			h.cur.lowWater = phys / 3
			if err := x.DeleteBefore(h.cur.lowWater); err != nil {
				t.Fatal(err)
			}
		case 4:
			sync()
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			x = mustOpen(t, o)
			replay(t, x, h.cur.m)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashAtEveryWrite crashes the workload before each of its write-type
// operations in turn, with 0, 50 and 100 % of unsynced blocks kept, and
// checks what Open recovers.
func TestCrashAtEveryWrite(t *testing.T) {
	stats := &repairStats{}
	logger := slog.New(stats)
	points, violations := 0, 0
	for seed := uint64(1); seed <= 4; seed++ {
		total := func() int {
			h := &crashHarness{seed: seed, mem: vfs.NewCrashableMem(), crashAt: -1}
			h.fs = errorfs.Wrap(h.mem, errorfs.InjectorFunc(h.inject))
			h.run(t)
			return h.writes
		}()
		for k := 1; k <= total; k++ {
			for _, pct := range crashPercents {
				h := &crashHarness{seed: seed, mem: vfs.NewCrashableMem(), crashAt: k, pct: pct}
				h.fs = errorfs.Wrap(h.mem, errorfs.InjectorFunc(h.inject))
				h.run(t)
				ctx := fmt.Sprintf("workload %d, crash before write %d/%d, %d%% unsynced kept", seed, k, total, pct)
				if !verifyCrash(t, h.clone, h.snap, ctx, logger) {
					violations++
				}
				points++
			}
		}
	}
	t.Logf("%d crash points, %d violations; slots repaired: %d by chain walk, %d by scan; %d files dropped at Open",
		points, violations, stats.byChain, stats.byScan, stats.removedFiles)
}

func verifyCrash(t *testing.T, fs *vfs.MemFS, s crashState, ctx string, logger *slog.Logger) bool {
	t.Helper()
	o := testOpts(fs, crashSlots, crashPer)
	o.Logger = logger
	m := model{entries: s.m}
	var ck int64
	compare := func(x *Index, when string) {
		for _, k := range append(m.keys(), "none") {
			got := mustQuery(t, x, k, 1<<20, minTime, maxTime)
			want := m.query(k, 1<<20, minTime, maxTime, ck)
			above := func(h Hit) bool { return h.Phys < s.lowWater }
			for _, g := range got {
				if g.Phys < s.lowWater && !slices.Contains(want, g) {
					t.Fatalf("%s (%s): key %q: unexpected hit %v", ctx, when, k, g)
				}
			}
			got, want = slices.DeleteFunc(got, above), slices.DeleteFunc(want, above)
			if !slices.Equal(got, want) {
				t.Fatalf("%s (%s): key %q, checkpoint %d:\n got  %v\n want %v", ctx, when, k, ck, got, want)
			}
		}
		x.mu.RLock()
		defer x.mu.RUnlock()
		if a := x.mu.active; a != nil {
			if err := a.checkChains(); err != nil {
				t.Fatalf("%s (%s): %v", ctx, when, err)
			}
		}
	}
	// First read-only (Check's open): the same view, recovered in
	// memory, and not a byte written.
	ro := o
	ro.ReadOnly = true
	before := fileBytes(t, fs, "idx")
	x, err := Open(ro)
	if err != nil {
		t.Fatalf("%s: read-only Open: %v", ctx, err)
	}
	ck = x.Checkpoint()
	compare(x, "recovered read-only")
	if err := x.Add("k", math.MaxInt64/2, 0); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("%s: Add to a read-only index: %v", ctx, err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("%s: close read-only: %v", ctx, err)
	}
	if after := fileBytes(t, fs, "idx"); !maps.EqualFunc(before, after, bytes.Equal) {
		t.Fatalf("%s: a read-only Open changed the index files", ctx)
	}
	x, err = Open(o)
	if err != nil {
		t.Fatalf("%s: Open: %v", ctx, err)
	}
	if ck2 := x.Checkpoint(); ck2 != ck {
		t.Fatalf("%s: checkpoint %d, read-only open said %d", ctx, ck2, ck)
	}
	if ck != s.promised && ck != s.inFlight {
		t.Fatalf("%s: checkpoint %d, want %d or %d", ctx, ck, s.promised, s.inFlight)
	}
	compare(x, "recovered")
	// Replay past the checkpoint and go on: the recovered index must keep
	// working and survive a clean restart.
	end := ck
	for _, e := range s.m {
		if e.phys >= ck {
			if err := x.Add(e.key, e.phys, e.ts); err != nil {
				t.Fatalf("%s: replay: %v", ctx, err)
			}
			end = e.phys + 1
		}
	}
	if err := x.Sync(end); err != nil {
		t.Fatalf("%s: %v", ctx, err)
	}
	if err := x.Close(); err != nil {
		t.Fatalf("%s: %v", ctx, err)
	}
	if x, err = Open(o); err != nil {
		t.Fatalf("%s: reopen: %v", ctx, err)
	}
	ck = end
	compare(x, "replayed")
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	return !t.Failed()
}

// TestCrashRandomized chains crashes: random operations run on a crashable
// FS until a random write-type operation, where the FS is crash-cloned; the
// clone is opened, checked against the log, replayed, and the next
// generation goes on from there, so recovery itself gets crashed into.
func TestCrashRandomized(t *testing.T) {
	seed := rand.Uint64()
	// INDEX_SEED replays a run's operations (crash clones also depend on
	// map order, so a failure may take a few runs to come back).
	if s := os.Getenv("INDEX_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	stats := &repairStats{}
	logger := slog.New(stats)
	// The last shape spreads the slot table over two 4 KiB blocks, apart
	// from the entries, so a crash can keep one and lose the other.
	for _, shape := range [][2]int{{1, 6}, {3, 8}, {5, 40}, {1500, 300}} {
		mem := vfs.NewCrashableMem()
		var log []modelEntry // the CommitLog; truncations cut it
		st := crashState{}
		phys := int64(0)
		for gen := 0; gen < 150; gen++ {
			h := &crashHarness{mem: mem, pct: crashPercents[rng.IntN(3)]}
			h.crashAt = 1 + rng.IntN(120)
			h.fs = errorfs.Wrap(mem, errorfs.InjectorFunc(h.inject))
			o := testOpts(h.fs, shape[0], shape[1])
			o.Logger = logger
			ctx := fmt.Sprintf("shape %v generation %d", shape, gen)

			st.inFlight = st.promised
			h.cur = st
			h.cur.m = log
			x, err := Open(o)
			if err != nil {
				t.Fatalf("%s: Open: %v", ctx, err)
			}
			if h.clone == nil {
				ck := x.Checkpoint()
				if ck != st.promised {
					t.Fatalf("%s: checkpoint %d, want %d", ctx, ck, st.promised)
				}
				m := model{entries: log}
				compareLow(t, x, &m, ck, st.lowWater, ctx)
				replay(t, x, log)
			}
			for h.clone == nil {
				switch r := rng.IntN(100); {
				case r < 75:
					for j := rng.IntN(3); j >= 0; j-- {
						e := modelEntry{fmt.Sprintf("T#%d", rng.IntN(12)), phys, 500 + phys/7}
						log = append(log, e)
						h.cur.m = log
						if err := x.Add(e.key, e.phys, e.ts); err != nil {
							t.Fatalf("%s: %v", ctx, err)
						}
					}
					phys += int64(rng.IntN(4)) * 10
				case r < 90:
					h.cur.inFlight = phys
					if err := x.Sync(phys); err != nil {
						t.Fatalf("%s: %v", ctx, err)
					}
					h.cur.promised = phys
				case r < 95:
					from := max(phys-int64(rng.IntN(100)), 0)
					h.cur.inFlight = min(h.cur.promised, from)
					if err := x.TruncateFrom(from); err != nil {
						t.Fatalf("%s: %v", ctx, err)
					}
					h.cur.promised = h.cur.inFlight
					log = slices.DeleteFunc(log, func(e modelEntry) bool { return e.phys >= from })
					h.cur.m = log
					phys = from
				case r < 97:
					h.cur.lowWater = max(h.cur.lowWater, phys/4)
					if err := x.DeleteBefore(h.cur.lowWater); err != nil {
						t.Fatalf("%s: %v", ctx, err)
					}
				default:
					if err := x.Close(); err != nil {
						t.Fatalf("%s: %v", ctx, err)
					}
					if x, err = Open(o); err != nil {
						t.Fatalf("%s: reopen: %v", ctx, err)
					}
					replay(t, x, log)
				}
			}
			_ = x.Close() // writes to the abandoned FS; the clone is taken
			// The clone reflects the state when it was taken: the log up
			// to then, and the checkpoint of that instant.
			mem, st = h.clone, h.snap
			log = slices.Clone(st.m)
			// Open the clone once without injection, to check it before the
			// next generation wraps it.
			y, err := Open(Options{FS: mem, Dir: "idx", SlotCount: shape[0], EntriesPerFile: shape[1], Logger: logger})
			if err != nil {
				t.Fatalf("%s: open after crash: %v", ctx, err)
			}
			ck := y.Checkpoint()
			if ck != st.promised && ck != st.inFlight {
				t.Fatalf("%s: checkpoint %d after crash, want %d or %d", ctx, ck, st.promised, st.inFlight)
			}
			m := model{entries: log}
			compareLow(t, y, &m, ck, st.lowWater, ctx+" after crash")
			// Keep the crash state for the next generation: closing y
			// would seal files and hide the damage from it.
			// Entries past the checkpoint stay in the log: the next
			// generation replays them.
			st.promised, st.inFlight = ck, ck
			// New messages go after everything in the log and the
			// checkpoint, as in a CommitLog.
			phys = max(phys, ck)
			if n := len(log); n > 0 {
				phys = max(phys, log[n-1].phys+1)
			}
			for _, f := range y.mu.files {
				_ = f.close()
			}
			_ = y.ckpt.close()
		}
	}
	t.Logf("slots repaired: %d by chain walk, %d by scan; %d files dropped at Open", stats.byChain, stats.byScan, stats.removedFiles)
}

// compareLow checks x against m below ck, allowing entries below lowWater
// to be missing (DeleteBefore removes whole files only).
func compareLow(t *testing.T, x *Index, m *model, ck, lowWater int64, ctx string) {
	t.Helper()
	low := func(h Hit) bool { return h.Phys < lowWater }
	for _, k := range append(m.keys(), "none") {
		got := mustQuery(t, x, k, 1<<20, minTime, maxTime)
		want := m.query(k, 1<<20, minTime, maxTime, ck)
		for _, g := range got {
			if g.Phys < lowWater && !slices.Contains(want, g) {
				t.Fatalf("%s: key %q: unexpected hit %v", ctx, k, g)
			}
		}
		got, want = slices.DeleteFunc(got, low), slices.DeleteFunc(want, low)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: key %q, checkpoint %d:\n got  %v\n want %v", ctx, k, ck, got, want)
		}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if a := x.mu.active; a != nil {
		if err := a.checkChains(); err != nil {
			t.Fatalf("%s: %v", ctx, err)
		}
	}
}

// replay re-adds the log from x's checkpoint, as the engine's dispatcher
// does after Open.
func replay(t *testing.T, x *Index, log []modelEntry) {
	t.Helper()
	ck := x.Checkpoint()
	for _, e := range log {
		if e.phys >= ck {
			if err := x.Add(e.key, e.phys, e.ts); err != nil {
				t.Fatalf("replay from %d: %v", ck, err)
			}
		}
	}
}

// TestRepairIgnoresEntriesOfOtherSlots builds the state where a slot
// repaired by one Open was not rewritten before the next crash, while a new
// entry of another slot took the position the stale slot points at. Following
// that entry's prev would give the stale slot a foreign chain.
func TestRepairIgnoresEntriesOfOtherSlots(t *testing.T) {
	fs := vfs.NewCrashableMem()
	o := testOpts(fs, 1500, 300)
	x := mustOpen(t, o)
	kA, kB := "T#a", "T#b"
	if hashKey(kA)%1500 == hashKey(kB)%1500 {
		t.Fatal("pick keys in different slots")
	}
	mustAdd(t, x, kA, 0, 10) // entry 1
	a := x.mu.active
	if err := x.Sync(1); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, x, kA, 1, 11) // entry 2: written with its slot, never vouched for
	if err := a.flushPending(); err != nil {
		t.Fatal(err)
	}
	if err := a.flushSlots(); err != nil {
		t.Fatal(err)
	}
	fs1 := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))})
	x.Close()

	// Open 1 repairs kA's slot in memory only; then entry 2 is reused by kB
	// and reaches the disk, kA's slot page does not.
	x = mustOpen(t, testOpts(fs1, 1500, 300))
	mustAdd(t, x, kB, 1, 11)
	if err := x.mu.active.flushPending(); err != nil {
		t.Fatal(err)
	}
	fs2 := fs1.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(2, 2))})
	x.Close()

	x = mustOpen(t, testOpts(fs2, 1500, 300))
	defer x.Close()
	if h := mustQuery(t, x, kA, 10, minTime, maxTime); !slices.Equal(h, []Hit{{0, 10}}) {
		t.Fatalf("kA: %v, want its synced entry", h)
	}
}

// fileBytes returns the contents of every file in dir, by name.
func fileBytes(t *testing.T, fs vfs.FS, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	names, err := fs.List(dir)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		f, err := fs.Open(fs.PathJoin(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}
