package commitlog

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

var errorPoints = flag.Int("errorpoints", 0, "T5: fail every write-side op index up to this many (0 = all ops of one run)")

// opFailer fails the write-side file system operation with index at (counted
// from when it is armed), once, with err, and remembers which one it was.
type opFailer struct {
	armed  atomic.Bool
	n      atomic.Int64
	at     int64
	random *rand.Rand // when set: fail each op with probability 1 %
	randMu sync.Mutex
	err    error
	hit    atomic.Pointer[errorfs.Op]
}

func (f *opFailer) MaybeError(op errorfs.Op) error {
	if !f.armed.Load() || op.Kind.ReadOrWrite() != errorfs.OpIsWrite || op.Kind == errorfs.OpFileClose {
		return nil
	}
	i := f.n.Add(1) - 1
	fail := i == f.at
	if f.random != nil {
		f.randMu.Lock()
		fail = f.random.IntN(100) == 0
		f.randMu.Unlock()
	}
	if !fail {
		return nil
	}
	f.hit.CompareAndSwap(nil, &op)
	return f.err
}

func (f *opFailer) String() string { return fmt.Sprintf("fail write op %d with %v", f.at, f.err) }

// errorRun is one T5 run: open, append from several goroutines across
// segment rolls, with the injector armed from the start; then crash and
// reopen on the healthy file system and check every acknowledged record.
type errorRun struct {
	acked    map[int64][]byte // phys -> stored record, acknowledged
	sticky   bool             // the log ended read-only
	resumed  bool             // an append succeeded after a non-sticky failure
	openFail bool
	ops      int64
}

const errorRunSegSize = 16 << 10

// quiet drops the logs of runs that fail on purpose.
var quiet = slog.New(slog.DiscardHandler)

func runWithErrors(t *testing.T, inj *opFailer, mode FlushMode, prewrite PrewriteMode) errorRun {
	t.Helper()
	mem := vfs.NewCrashableMem()
	fs := errorfs.Wrap(mem, inj)
	run := errorRun{acked: map[int64][]byte{}}
	inj.armed.Store(true)
	c, err := Open(Options{FS: fs, Dir: "cl", SegmentSize: errorRunSegSize, FlushMode: mode, Prewrite: prewrite, Logger: quiet})
	if err != nil {
		run.openFail = true
	} else {
		var mu sync.Mutex
		var wg sync.WaitGroup
		failedAt := atomic.Int64{}
		failedAt.Store(-1)
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 40 {
					id := w*1000 + i
					rec := record(id, 100+(id*37)%1500)
					phys, _, err := c.Append(rec, nil)
					if err != nil {
						failedAt.CompareAndSwap(-1, int64(id))
						continue
					}
					mu.Lock()
					run.acked[phys] = stored(rec, phys)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		run.sticky = c.Err() != nil
		if run.sticky {
			// Read-only: later appends fail, reads go on.
			if _, _, err := c.Append(record(9999, 10), nil); err == nil {
				t.Fatalf("%v: append accepted after the log failed with %v", inj, c.Err())
			}
		} else if failedAt.Load() >= 0 {
			// A failure that left the log writable (a segment that
			// could not be created) must not stop later appends.
			rec := record(9998, 10)
			phys, _, err := c.Append(rec, nil)
			switch {
			case err == nil:
				run.acked[phys] = stored(rec, phys)
				run.resumed = true
			case c.Err() == nil:
				t.Fatalf("%v: log not read-only (Err nil) but append fails: %v", inj, err)
			default:
				// AsyncFlush writes in the background: the flusher's
				// write failed after the check above, and the log is
				// read-only now.
				run.sticky = true
			}
		}
		for phys, want := range run.acked {
			got := make([]byte, len(want))
			if err := c.ReadAt(got, phys); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v: acknowledged record at %d unreadable on the live log (err %v)", inj, phys, err)
			}
		}
		cerr := c.Close()
		if run.sticky && cerr == nil {
			t.Fatalf("%v: Close hid the write error", inj)
		}
	}
	inj.armed.Store(false)
	run.ops = inj.n.Load()

	// Power loss, then a restart on a healthy disk.
	healthy := mem.CrashClone(vfs.CrashCloneCfg{})
	c2, err := Open(Options{FS: healthy, Dir: "cl", SegmentSize: errorRunSegSize, FlushMode: mode, Prewrite: PrewriteOff})
	if err != nil {
		t.Fatalf("%v: reopen on a healthy disk: %v", inj, err)
	}
	defer c2.Close()
	got, _ := readAll(t, c2)
	if mode == SyncFlush {
		for phys, want := range run.acked {
			if !bytes.Equal(got[phys], want) {
				t.Fatalf("%v: record acknowledged at %d lost after the failure and a crash (hit %+v)", inj, phys, inj.hit.Load())
			}
		}
	}
	if _, _, err := c2.Append(record(1, 10), nil); err != nil {
		t.Fatalf("%v: healthy reopen cannot append: %v", inj, err)
	}
	return run
}

// TestErrorMatrix is RELIABILITY T5 for the CommitLog: fail each write-side
// file system operation of a run in turn (write, sync, create, preallocate,
// remove, directory sync), with EIO and with ENOSPC. No append may be
// acknowledged whose bytes a crash then loses, a failed write or fsync
// makes the log read-only while reads go on, a segment that cannot be
// created fails only the appends that need it, and a restart on a healthy
// disk recovers every acknowledged record.
func TestErrorMatrix(t *testing.T) {
	// A clean run tells how many write-side ops there are.
	for _, mode := range []FlushMode{SyncFlush, AsyncFlush} {
		for _, pw := range []PrewriteMode{PrewriteOn, PrewriteOff} {
			name := fmt.Sprintf("%v/prewrite=%v", mode, pw == PrewriteOn)
			t.Run(name, func(t *testing.T) {
				probe := &opFailer{at: -1}
				total := runWithErrors(t, probe, mode, pw).ops
				limit := total
				if *errorPoints > 0 {
					limit = min(limit, int64(*errorPoints))
				}
				step := int64(1)
				if testing.Short() {
					step = max(1, limit/40)
				}
				var sticky, resumed, absorbed, openFail, runs int
				for at := int64(0); at < limit; at += step {
					for _, e := range []error{errorfs.ErrInjected, syscall.ENOSPC} {
						r := runWithErrors(t, &opFailer{at: at, err: e}, mode, pw)
						runs++
						switch {
						case r.openFail:
							openFail++
						case r.sticky:
							sticky++
						case r.resumed:
							resumed++
						default:
							// No append failed: a pre-write that
							// failed was redone by the writer.
							absorbed++
						}
					}
				}
				t.Logf("%d write-side ops per run, %d runs: %d failed Open, %d read-only, %d resumed after failed appends, %d absorbed",
					total, runs, openFail, sticky, resumed, absorbed)
				if sticky == 0 || resumed+absorbed == 0 || openFail == 0 {
					t.Fatalf("the matrix missed a class of outcome")
				}
			})
		}
	}
}

// TestErrorsRandomly fails 1 % of write-side ops at random.
func TestErrorsRandomly(t *testing.T) {
	seed := testSeed(t)
	runs := 60
	if testing.Short() {
		runs = 15
	}
	for i := range runs {
		mode := []FlushMode{SyncFlush, AsyncFlush}[i%2]
		inj := &opFailer{at: -1, err: errorfs.ErrInjected, random: rand.New(rand.NewPCG(seed, uint64(i)))}
		runWithErrors(t, inj, mode, PrewriteMode(1+i%3%2))
	}
}

// TestDiskFullAtRoll: a segment that cannot be created for lack of space
// fails the appends that need it with ErrDiskFull, leaves the log
// writable, and appends resume as soon as space is back.
func TestDiskFullAtRoll(t *testing.T) {
	for _, pw := range []PrewriteMode{PrewriteOn, PrewriteOff} {
		// Every segment but the first finds the disk full.
		full := &atomic.Bool{}
		full.Store(true)
		first := "cl/" + SegmentName(0)
		inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
			if full.Load() && op.Path != first && strings.HasPrefix(op.Path, "cl/0") && (op.Kind == errorfs.OpCreate || op.Kind == errorfs.OpFilePreallocate || op.Kind == errorfs.OpFileWriteAt) {
				return syscall.ENOSPC
			}
			return nil
		})
		mem := vfs.NewMem()
		c, err := Open(Options{FS: errorfs.Wrap(mem, inj), Dir: "cl", SegmentSize: 16 << 10, FlushMode: SyncFlush, Prewrite: pw, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		var acked int
		var diskFullErr error
		for i := 0; i < 100 && diskFullErr == nil; i++ {
			if _, _, err := c.Append(record(i, 1000), nil); err != nil {
				diskFullErr = err
			} else {
				acked++
			}
		}
		if !errors.Is(diskFullErr, ErrDiskFull) {
			t.Fatalf("prewrite %v: want ErrDiskFull once the first segment is full, got %v", pw, diskFullErr)
		}
		if c.Err() != nil {
			t.Fatalf("prewrite %v: a full disk at roll made the log read-only: %v", pw, c.Err())
		}
		if _, _, err := c.Append(record(500, 1000), nil); !errors.Is(err, ErrDiskFull) {
			t.Fatalf("prewrite %v: second append while full: %v", pw, err)
		}
		if names, _ := mem.List("cl"); len(names) != 2 { // the segment and the checkpoint
			t.Fatalf("prewrite %v: a failed segment was left behind: %v", pw, names)
		}
		full.Store(false)
		if _, _, err := c.Append(record(501, 1000), nil); err != nil {
			t.Fatalf("prewrite %v: append after space came back: %v", pw, err)
		}
		got, _ := readAll(t, c)
		if len(got) != acked+1 {
			t.Fatalf("prewrite %v: read %d records, want %d", pw, len(got), acked+1)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
