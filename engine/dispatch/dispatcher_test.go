package dispatch

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	goleak.VerifyTestMain(m)
}

// writer appends records to a CommitLog the way the engine does: queue
// offsets assigned per queue in log order (transactional prepared and
// rolled-back records get none, as in RocketMQ), store times
// non-decreasing.
type writer struct {
	cl   *commitlog.CommitLog
	next map[queue.Ref]int64
	now  int64
	// want is what the consume queues must hold, per queue, in order.
	want map[queue.Ref][]queue.Entry
	// keys maps each indexed key (topic#key) to its records.
	keys map[string][]index.Hit
	// unindexed are keys of rolled-back records, which must not be indexed.
	unindexed []string
	buf       []byte
}

func newWriter(cl *commitlog.CommitLog) *writer {
	return &writer{cl: cl, next: map[queue.Ref]int64{}, now: 1_700_000_000_000,
		want: map[queue.Ref][]queue.Entry{}, keys: map[string][]index.Hit{}}
}

// message i of topic/queue; tag "" means none; tran is a msg.FlagTransaction* value or 0.
func testMessage(topic string, q int32, i int, tag string, tran int32, bodySize int) *msg.Message {
	props := fmt.Sprintf("UNIQ_KEY\x01U%s%d\x02KEYS\x01k%d shared", topic, i, i)
	if tag != "" {
		props += "\x02TAGS\x01" + tag
	}
	body := bytes.Repeat([]byte{byte(i)}, bodySize)
	return &msg.Message{
		Topic: topic, QueueID: q, Body: body, Properties: props, SysFlag: tran,
		BornTimestamp: 1, BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
		StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

// append stores ms (one append, one queue) and records what dispatch must produce.
func (w *writer) append(t testing.TB, ms ...*msg.Message) int64 {
	t.Helper()
	w.buf = w.buf[:0]
	for _, m := range ms {
		w.buf = msg.AppendRecord(w.buf, m)
	}
	type placed struct {
		phys, qoff, ts int64
		size           int
	}
	var got []placed
	_, end, err := w.cl.Append(w.buf, func(phys int64, rec []byte) {
		r, _ := msg.Decode(rec)
		ref := queue.Ref{Topic: string(r.Topic), QueueID: r.QueueID}
		tran := r.SysFlag & msg.FlagTransactionMask
		var qoff int64
		if tran != msg.FlagTransactionPrep && tran != msg.FlagTransactionRoll {
			qoff = w.next[ref]
			w.next[ref]++
		}
		w.now += int64(len(got) % 2) // some equal store times
		msg.SetOffsets(rec, qoff, phys)
		msg.SetStoreTimestamp(rec, w.now)
		got = append(got, placed{phys, qoff, w.now, len(rec)})
	})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	for i, m := range ms {
		p := got[i]
		tran := m.SysFlag & msg.FlagTransactionMask
		tag, _ := msg.Property(m.Properties, msg.PropTags)
		ref := queue.Ref{Topic: m.Topic, QueueID: m.QueueID}
		if tran != msg.FlagTransactionPrep && tran != msg.FlagTransactionRoll {
			w.want[ref] = append(w.want[ref], queue.Entry{Phys: p.phys, Size: int32(p.size), TagsCode: msg.TagsCode(tag), StoreTime: p.ts})
		}
		uk, _ := msg.Property(m.Properties, msg.PropUniqKey)
		if tran == msg.FlagTransactionRoll {
			w.unindexed = append(w.unindexed, m.Topic+"#"+uk)
			continue
		}
		w.keys[m.Topic+"#"+uk] = append(w.keys[m.Topic+"#"+uk], index.Hit{Phys: p.phys, StoreTime: p.ts})
	}
	return end
}

// mixed appends n messages over topics T and T1 (a prefix of it), 3
// queues, with tags, some batches, and some prepared and rolled-back
// transactional records.
func (w *writer) mixed(t testing.TB, from, n int) int64 {
	t.Helper()
	var end int64
	for i := from; i < from+n; {
		topic := []string{"T", "T1"}[i%2]
		q := int32(i % 3)
		tag := []string{"", "A", "B"}[i%3]
		var tran int32
		switch i % 17 {
		case 5:
			tran = msg.FlagTransactionPrep
		case 11:
			tran = msg.FlagTransactionRoll
		case 13:
			tran = msg.FlagTransactionCommit
		}
		if i%7 == 0 && tran == 0 { // a batch of 3 to one queue
			end = w.append(t, testMessage(topic, q, i, tag, 0, 100), testMessage(topic, q, i+1, tag, 0, 10), testMessage(topic, q, i+2, "C", 0, 0))
			i += 3
			continue
		}
		end = w.append(t, testMessage(topic, q, i, tag, tran, i%300))
		i++
	}
	return end
}

func openLog(t testing.TB, fs vfs.FS, mode commitlog.FlushMode) *commitlog.CommitLog {
	t.Helper()
	cl, err := commitlog.Open(commitlog.Options{FS: fs, Dir: "cl", SegmentSize: 64 << 10, FlushMode: mode, FlushInterval: 2 * time.Millisecond})
	if err != nil {
		t.Fatalf("open commitlog: %v", err)
	}
	return cl
}

// openDerived opens queue DB and index under dir.
func openDerived(t testing.TB, fs vfs.FS, dir string) (*queue.DB, *index.Index) {
	t.Helper()
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	qdb, err := queue.Open(queue.Options{FS: fs, Dir: fs.PathJoin(dir, "meta")})
	if err != nil {
		t.Fatalf("open queues: %v", err)
	}
	idx, err := index.Open(index.Options{FS: fs, Dir: fs.PathJoin(dir, "index"), SlotCount: 128, EntriesPerFile: 500})
	if err != nil {
		t.Fatalf("open index: %v", err)
	}
	return qdb, idx
}

func newDispatcher(t testing.TB, cl *commitlog.CommitLog, qdb *queue.DB, idx *index.Index, batch int, onDispatch func(map[queue.Ref]queue.State)) *Dispatcher {
	t.Helper()
	d, err := New(Options{Log: cl, Queues: qdb, Index: idx, BatchRecords: batch, OnDispatch: onDispatch, IndexSyncEvery: time.Hour})
	if err != nil {
		t.Fatalf("new dispatcher: %v", err)
	}
	return d
}

// checkAgainst asserts qdb and idx hold exactly what w wrote.
func checkAgainst(t testing.TB, w *writer, qdb *queue.DB, idx *index.Index) {
	t.Helper()
	if got, want := len(qdb.Queues()), len(w.want); got != want {
		t.Fatalf("%d queues, want %d", got, want)
	}
	for ref, want := range w.want {
		st, ok := qdb.State(ref.Topic, ref.QueueID)
		if !ok || st.Min != 0 || st.Max != int64(len(want)) {
			t.Fatalf("%v: state %+v %v, want [0,%d)", ref, st, ok, len(want))
		}
		i := 0
		err := qdb.Scan(ref.Topic, ref.QueueID, 0, st.Max, func(off int64, e queue.Entry) bool {
			if off != int64(i) || e != want[i] {
				t.Fatalf("%v@%d: %+v, want %+v", ref, off, e, want[i])
			}
			i++
			return true
		})
		if err != nil || i != len(want) {
			t.Fatalf("%v: scanned %d of %d: %v", ref, i, len(want), err)
		}
	}
	for key, want := range w.keys {
		hits, err := idx.Query(key, 100, 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range want {
			found := false
			for _, h := range hits {
				found = found || h == p
			}
			if !found {
				t.Fatalf("key %q: %+v not in index hits %v", key, p, hits)
			}
		}
	}
	for _, key := range w.unindexed {
		if hits, _ := idx.Query(key, 10, 0, 1<<62); len(hits) != 0 {
			t.Fatalf("rolled-back key %q indexed: %v", key, hits)
		}
	}
}

func TestCatchUpMatchesRecords(t *testing.T) {
	fs := vfs.NewMem()
	cl := openLog(t, fs, commitlog.SyncFlush)
	defer cl.Close()
	w := newWriter(cl)
	end := w.mixed(t, 0, 1500)
	qdb, idx := openDerived(t, fs, "d")
	defer qdb.Close()
	defer idx.Close()
	var calls int
	var last map[queue.Ref]queue.State = map[queue.Ref]queue.State{}
	d := newDispatcher(t, cl, qdb, idx, 100, func(m map[queue.Ref]queue.State) {
		calls++
		for r, s := range m {
			last[r] = s
		}
	})
	if d.Pos() != 0 {
		t.Fatalf("fresh dispatcher at %d", d.Pos())
	}
	if err := d.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if d.Pos() != end || cl.Readable() != end {
		t.Fatalf("at %d after CatchUp, end %d", d.Pos(), end)
	}
	if cp, _ := qdb.Checkpoint(); cp != end {
		t.Fatalf("checkpoint %d, want %d", cp, end)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if idx.Checkpoint() != end {
		t.Fatalf("index checkpoint %d after Close, want %d", idx.Checkpoint(), end)
	}
	checkAgainst(t, w, qdb, idx)
	if calls < 10 {
		t.Fatalf("OnDispatch called %d times for ~1,500 records in batches of 100", calls)
	}
	for ref, want := range w.want {
		if last[ref].Max != int64(len(want)) {
			t.Fatalf("OnDispatch last reported %v at %+v, want Max %d", ref, last[ref], len(want))
		}
	}
	// The segments rolled: records span several files.
	if n := len(cl.Segments()); n < 3 {
		t.Fatalf("only %d segments; the test wants records across segment ends", n)
	}
}

func TestTagsCodeHook(t *testing.T) {
	fs := vfs.NewMem()
	cl := openLog(t, fs, commitlog.SyncFlush)
	defer cl.Close()
	w := newWriter(cl)
	w.append(t, testMessage("SCHEDULE", 2, 0, "A", 0, 10))
	w.append(t, testMessage("T", 2, 1, "A", 0, 10))
	qdb, idx := openDerived(t, fs, "d")
	defer qdb.Close()
	defer idx.Close()
	d, err := New(Options{Log: cl, Queues: qdb, Index: idx, TagsCode: func(topic string, q int32, ts int64) (int64, bool) {
		if topic == "SCHEDULE" {
			return ts + 1000*int64(q), true
		}
		return 0, false
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CatchUp(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	e, _, _ := qdb.EntryAt("SCHEDULE", 2, 0)
	if e.TagsCode != e.StoreTime+2000 {
		t.Fatalf("hooked tags code %d, store time %d", e.TagsCode, e.StoreTime)
	}
	e, _, _ = qdb.EntryAt("T", 2, 0)
	if e.TagsCode != msg.TagsCode("A") {
		t.Fatalf("unhooked tags code %d", e.TagsCode)
	}
}

func TestStartNotifyWaitFor(t *testing.T) {
	for _, mode := range []commitlog.FlushMode{commitlog.SyncFlush, commitlog.AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := vfs.NewMem()
			cl := openLog(t, fs, mode)
			defer cl.Close()
			w := newWriter(cl)
			w.mixed(t, 0, 100)
			qdb, idx := openDerived(t, fs, "d")
			defer qdb.Close()
			defer idx.Close()
			var mu sync.Mutex
			maxSeen := map[queue.Ref]int64{}
			d := newDispatcher(t, cl, qdb, idx, 0, func(m map[queue.Ref]queue.State) {
				mu.Lock()
				defer mu.Unlock()
				for r, s := range m {
					maxSeen[r] = s.Max
				}
			})
			if err := d.CatchUp(); err != nil {
				t.Fatal(err)
			}
			cl.SetAppendHook(func(int64) { d.Notify() }) // ASYNC: rings on append
			d.Start()
			for round := 0; round < 5; round++ {
				end := w.mixed(t, 100+round*200, 200)
				if mode == commitlog.SyncFlush {
					d.Notify() // the engine rings after a synced append
				}
				if err := cl.Wait(end); err != nil {
					t.Fatal(err)
				}
				if err := d.WaitFor(end, 5*time.Second); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if d.Pos() < end {
					t.Fatalf("WaitFor returned at %d < %d", d.Pos(), end)
				}
			}
			// WaitFor past the end times out with an error, promptly.
			began := time.Now()
			if err := d.WaitFor(cl.End()+1, 50*time.Millisecond); err == nil {
				t.Fatal("WaitFor past the end succeeded")
			}
			if el := time.Since(began); el > 2*time.Second {
				t.Fatalf("WaitFor took %v for a 50 ms timeout", el)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			if st := d.Stalled(); st != nil {
				t.Fatal(st.Err)
			}
			d.Notify() // harmless after Close
			checkAgainst(t, w, qdb, idx)
			mu.Lock()
			defer mu.Unlock()
			for ref, want := range w.want {
				if maxSeen[ref] != int64(len(want)) {
					t.Fatalf("OnDispatch reported %v at %d, want %d", ref, maxSeen[ref], len(want))
				}
			}
		})
	}
}

// TestCloseDispatchesTail: records appended after the last Notify are
// dispatched by Close.
func TestCloseDispatchesTail(t *testing.T) {
	fs := vfs.NewMem()
	cl := openLog(t, fs, commitlog.SyncFlush)
	defer cl.Close()
	w := newWriter(cl)
	qdb, idx := openDerived(t, fs, "d")
	defer qdb.Close()
	defer idx.Close()
	d := newDispatcher(t, cl, qdb, idx, 0, nil)
	d.Start()
	end := w.mixed(t, 0, 50) // no Notify
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Pos() != end {
		t.Fatalf("at %d after Close, end %d", d.Pos(), end)
	}
	checkAgainst(t, w, qdb, idx)
}

// snapshot is everything a dispatcher derives, for comparing two runs.
func snapshot(t testing.TB, qdb *queue.DB) map[queue.Ref][]queue.Entry {
	t.Helper()
	out := map[queue.Ref][]queue.Entry{}
	for ref, st := range qdb.Queues() {
		var es []queue.Entry
		qdb.Scan(ref.Topic, ref.QueueID, st.Min, st.Max, func(_ int64, e queue.Entry) bool {
			es = append(es, e)
			return true
		})
		out[ref] = es
	}
	return out
}

func sameBlooms(t testing.TB, a, b *queue.DB, codes []int64) {
	t.Helper()
	for ref, st := range a.Queues() {
		for block := int64(0); block <= st.Max/queue.BlockSize; block++ {
			ba, err1 := a.Bloom(ref.Topic, ref.QueueID, block)
			bb, err2 := b.Bloom(ref.Topic, ref.QueueID, block)
			if err1 != nil || err2 != nil || (ba == nil) != (bb == nil) {
				t.Fatalf("%v block %d: bloom presence differs (%v, %v) %v %v", ref, block, ba != nil, bb != nil, err1, err2)
			}
			if ba == nil {
				continue
			}
			x, _ := ba.MarshalBinary()
			y, _ := bb.MarshalBinary()
			if !bytes.Equal(x, y) {
				t.Fatalf("%v block %d: blooms differ", ref, block)
			}
		}
	}
}

// TestRestartEqualsUninterrupted: a dispatcher stopped (cleanly, or by a
// crash that loses the unsynced derived data) and restarted from its
// checkpoints produces the same queues, blooms and index as one run over the
// whole log.
func TestRestartEqualsUninterrupted(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			cl := openLog(t, mem, commitlog.SyncFlush)
			w := newWriter(cl)
			// Enough records in one queue to complete blooms (1,024 entries).
			for i := 0; i < 2500; i++ {
				w.append(t, testMessage("B", 0, i, []string{"A", "B", "C", ""}[i%4], 0, 0))
			}
			w.mixed(t, 0, 300)
			qdb, idx := openDerived(t, mem, "interrupted")
			d := newDispatcher(t, cl, qdb, idx, 333, nil)
			if err := d.CatchUp(); err != nil {
				t.Fatal(err)
			}
			fs := vfs.FS(mem)
			if crash {
				// Sync the index at the halfway point, then dispatch more;
				// the crash keeps the synced (older) index checkpoint and
				// whatever Pebble synced, so the restart replays.
				if err := idx.Sync(d.Pos()); err != nil {
					t.Fatal(err)
				}
				w.mixed(t, 300, 400)
				for i := 2500; i < 3000; i++ {
					w.append(t, testMessage("B", 0, i, "A", 0, 0))
				}
				if err := d.CatchUp(); err != nil {
					t.Fatal(err)
				}
				crashed := mem.CrashClone(vfs.CrashCloneCfg{})
				d.Close()
				qdb.Close()
				idx.Close()
				cl.Close()
				fs = crashed
				cl = openLog(t, fs, commitlog.SyncFlush)
				w.cl = cl
				qdb, idx = openDerived(t, fs, "interrupted")
				if cp, _ := qdb.Checkpoint(); cp >= cl.End() {
					t.Logf("queue checkpoint %d survived the crash at end %d", cp, cl.End())
				}
				if idx.Checkpoint() >= cl.End() {
					t.Fatalf("index checkpoint %d, end %d: the crash should lose the unsynced part", idx.Checkpoint(), cl.End())
				}
			} else {
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
				qdb.Flush()
				qdb.Close()
				idx.Close()
				qdb, idx = openDerived(t, fs, "interrupted")
				w.mixed(t, 300, 400)
				for i := 2500; i < 3000; i++ {
					w.append(t, testMessage("B", 0, i, "A", 0, 0))
				}
			}
			defer cl.Close()
			w.mixed(t, 700, 300)
			d = newDispatcher(t, cl, qdb, idx, 100, nil)
			if err := d.CatchUp(); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			defer qdb.Close()
			defer idx.Close()
			checkAgainst(t, w, qdb, idx)

			// One uninterrupted run over the same log.
			qa, ia := openDerived(t, fs, "uninterrupted")
			defer qa.Close()
			defer ia.Close()
			da := newDispatcher(t, cl, qa, ia, 4096, nil)
			if err := da.CatchUp(); err != nil {
				t.Fatal(err)
			}
			if err := da.Close(); err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, w, qa, ia)
			sa, sb := snapshot(t, qa), snapshot(t, qdb)
			if len(sa) != len(sb) {
				t.Fatalf("%d queues against %d", len(sa), len(sb))
			}
			for ref, ea := range sa {
				eb := sb[ref]
				if len(ea) != len(eb) {
					t.Fatalf("%v: %d entries against %d", ref, len(ea), len(eb))
				}
				for i := range ea {
					if ea[i] != eb[i] {
						t.Fatalf("%v@%d: %+v against %+v", ref, i, ea[i], eb[i])
					}
				}
			}
			sameBlooms(t, qa, qdb, nil)
			if b, _ := qdb.Bloom("B", 0, 1); b == nil {
				t.Fatal("queue B/0 has no bloom for block 1")
			}
			for key := range w.keys {
				ha, _ := ia.Query(key, 100, 0, 1<<62)
				hb, _ := idx.Query(key, 100, 0, 1<<62)
				if fmt.Sprint(ha) != fmt.Sprint(hb) {
					t.Fatalf("key %q: %v against %v", key, ha, hb)
				}
			}
		})
	}
}

// TestMinInterval: a round starts at once after a quiet spell, but never
// sooner than MinInterval after the previous one began; appends meanwhile
// wait for the next round and go together.
func TestMinInterval(t *testing.T) {
	const interval = time.Second
	fs := vfs.NewMem()
	cl := openLog(t, fs, commitlog.AsyncFlush)
	defer cl.Close()
	w := newWriter(cl)
	qdb, idx := openDerived(t, fs, "d")
	defer qdb.Close()
	defer idx.Close()
	var mu sync.Mutex
	var rounds []time.Time
	hooked := make(chan struct{}, 100) // one per OnDispatch call
	d, err := New(Options{Log: cl, Queues: qdb, Index: idx, IndexSyncEvery: time.Hour, MinInterval: interval,
		OnDispatch: func(map[queue.Ref]queue.State) {
			mu.Lock()
			rounds = append(rounds, time.Now())
			mu.Unlock()
			hooked <- struct{}{}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cl.SetAppendHook(func(int64) { d.Notify() })
	d.Start()

	began := time.Now()
	end := w.mixed(t, 0, 1)
	if err := d.WaitFor(end, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// The first round after a quiet start does not wait for the interval
	// (a generous bound: only a starved machine takes this long).
	if el := time.Since(began); el >= interval {
		t.Fatalf("first round after %v, not at once", el)
	}
	first := time.Now()
	for i := 1; i < 60; i += 10 {
		end = w.mixed(t, i, 10)
	}
	if err := d.WaitFor(end, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// WaitFor returns once the batch is committed; its OnDispatch call
	// comes just after: wait for the second one.
	for range 2 {
		select {
		case <-hooked:
		case <-time.After(5 * time.Second):
			t.Fatal("OnDispatch not called")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(rounds) < 2 {
		t.Fatalf("%d rounds", len(rounds))
	}
	for i := 1; i < len(rounds); i++ {
		if gap := rounds[i].Sub(rounds[i-1]); gap < interval-50*time.Millisecond {
			t.Fatalf("round %d began %v after the previous (interval %v)", i, gap, interval)
		}
	}
	if time.Since(first) < interval-100*time.Millisecond {
		t.Fatal("appends right after a round were dispatched before the interval passed")
	}
	checkAgainst(t, w, qdb, idx)
}
