package queue

import (
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

// TestTrimBelowConcurrentWithDispatch: retention (TrimBelow, on the
// retention goroutine) runs while the dispatcher commits batches. TrimBelow
// reads every queue's state, searches Pebble for the new Min, and then
// publishes and persists {Min: new, Max: the Max it read}. A batch committed
// in between raised Max; TrimBelow must not put it back, or readers stop
// seeing the batch's entries, and after a restart the next Put reuses queue
// offsets that already hold other messages.
//
// The interleaving is forced: TrimBelow's first read of an sstable block
// parks until a batch has been committed.
func TestTrimBelowConcurrentWithDispatch(t *testing.T) {
	var armed atomic.Bool
	var fired atomic.Bool
	parked := make(chan struct{})
	release := make(chan struct{})
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		// Only TrimBelow's own reads park: Pebble's background work
		// (table stats, compactions) reads sstables too.
		if armed.Load() && op.Kind == errorfs.OpFileReadAt && strings.HasSuffix(op.Path, ".sst") && inTrimBelow() {
			if fired.CompareAndSwap(false, true) { // only the first read parks
				close(parked)
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
			}
		}
		return nil
	})
	mem := vfs.NewMem()
	fs := errorfs.Wrap(mem, inj)
	d, err := Open(Options{FS: fs, Dir: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	fill(t, d, "T", []int32{0}, 0, n, -1)
	// Move the entries into an sstable and reopen, so reads go to the file.
	if err := d.db.Flush(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err = Open(Options{FS: fs, Dir: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	if _, ok, err := d.EntryAt("T", 0, 0); !ok || err != nil { // open the table, warm block 0
		t.Fatalf("warm-up read: %v %v", ok, err)
	}
	armed.Store(true)

	trimmed := make(chan error, 1)
	go func() { trimmed <- d.TrimBelow(100 * 1000) }() // drops offsets 0..99
	select {
	case <-parked:
	case err := <-trimmed:
		t.Fatalf("TrimBelow finished (%v) without reading an sstable block: the interleaving was not forced", err)
	case <-time.After(10 * time.Second):
		t.Fatal("TrimBelow never read an sstable block")
	}
	// The dispatcher tries to commit 10 more entries while TrimBelow is
	// searching: the writer lock makes it wait for TrimBelow.
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		fill(t, d, "T", []int32{0}, n, n+10, -1)
	}()
	select {
	case <-filled:
		t.Fatal("a batch committed while TrimBelow was between reading and writing queue states")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-trimmed; err != nil {
		t.Fatal(err)
	}
	<-filled
	if st, _ := d.State("T", 0); st != (State{100, n + 10}) {
		t.Errorf("state after TrimBelow raced a batch: %+v, want {100 %d} (Max went back: the batch's entries are invisible)", st, n+10)
	}
	d.Flush()
	d.Close()
	d, err = Open(Options{FS: fs, Dir: "meta"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State("T", 0); st != (State{100, n + 10}) {
		t.Errorf("persisted state after reopen: %+v, want {100 %d} (the next Put would reuse offset %d)", st, n+10, st.Max)
	}
}

// inTrimBelow reports whether the calling goroutine is inside TrimBelow.
func inTrimBelow() bool {
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), ".TrimBelow(")
}

// TestTrimBelowDuringOpenBatch is the other order of the same race: the
// dispatcher's batch read the queue's state at its first Add, retention
// trims, and the batch commits the Min it read. Min goes back below entries
// that no longer exist, so reads at those offsets find holes.
func TestTrimBelowDuringOpenBatch(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	defer d.Close()
	fill(t, d, "T", []int32{0}, 0, 200, -1)
	b := d.NewBatch()
	defer b.Close()
	if err := b.Add("T", 0, 200, entryFor(0, 200)); err != nil {
		t.Fatal(err)
	}
	trimmed := make(chan error, 1)
	go func() { trimmed <- d.TrimBelow(100 * 1000) }() // retention goroutine
	select {
	case err := <-trimmed:
		t.Fatalf("TrimBelow ran (%v) while a batch held states it had read", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-trimmed; err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State("T", 0); st != (State{100, 201}) {
		t.Errorf("state %+v, want {100 201}: Min went back below the trimmed entries", st)
	}
}

// TestDeleteQueuesConcurrentWithDispatch: the broker deletes a topic's
// queues (admin DELETE_TOPIC) while the dispatcher keeps writing batches
// (messages still arriving for it, and for other topics). DeleteQueues deletes from the dispatcher-owned partial-block
// map under d.mu, but the dispatcher reads and writes that map without any
// lock: a data race (under -race this test fails; without it, Go may abort
// with "concurrent map read and map write").
func TestDeleteQueuesConcurrentWithDispatch(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	done := make(chan error, 1)
	var deletes atomic.Int64
	var dispatching atomic.Bool
	dispatching.Store(true)
	go func() { // the dispatcher, until the admin has deleted a while
		defer dispatching.Store(false)
		b := d.NewBatch()
		defer b.Close()
		for off := int64(0); off < 200_000 && (off < 3000 || deletes.Load() < 200); off++ {
			topic := []string{"A", "B"}[off%2]
			if err := b.Add(topic, int32(off%4), off/4, entryFor(0, off)); err != nil {
				done <- err
				return
			}
			if off%10 == 9 {
				if _, err := b.Commit(); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	// The admin deletes topic B, again and again, while dispatch runs.
	for i := 0; i < 100_000 && (i < 200 || dispatching.Load()); i++ {
		if err := d.DeleteQueues("B"); err != nil {
			t.Fatal(err)
		}
		deletes.Add(1)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
