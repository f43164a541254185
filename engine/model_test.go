package engine

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

var modelSeeds = flag.Int("model-seeds", 10, "seeds for TestModel (RELIABILITY T1/T7)")

// model is what the store must hold: per queue, the bodies in offset order.
type model struct {
	queues  map[queue.Ref][][]byte
	offsets map[queue.Ref]int64 // group g's committed offsets
}

func seedFor(t *testing.T, i int) uint64 {
	base := uint64(time.Now().UnixNano())
	if s := os.Getenv("WHARF_SEED"); s != "" {
		v, _ := strconv.ParseUint(s, 10, 64)
		base = v
	}
	return base + uint64(i)
}

// TestModel runs seeded random operations (puts, batches, gets, offset
// commits, clean restarts, crashes keeping 0/50/100 % of unsynced blocks)
// against the store and an in-memory model, under SYNC_FLUSH, and after
// every restart checks the store against the model and against a full
// rebuild from the CommitLog alone (RELIABILITY T1 at store level, and T7).
func TestModel(t *testing.T) {
	seeds := *modelSeeds
	if testing.Short() {
		seeds = 2
	}
	for i := 0; i < seeds; i++ {
		seed := seedFor(t, i)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 400) })
	}
}

func runModel(t *testing.T, seed uint64, ops int) {
	t.Logf("seed %d (rerun with WHARF_SEED=%d -model-seeds=1)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 99))
	fs := vfs.NewCrashableMem()
	opts := testOptions(fs, commitlog.SyncFlush)
	opts.SegmentSize = 32 << 10
	s := openStore(t, opts)
	m := &model{queues: map[queue.Ref][][]byte{}, offsets: map[queue.Ref]int64{}}
	var trace []string
	defer func() {
		if t.Failed() {
			t.Logf("ops: %v", trace)
		}
	}()
	topics := []string{"A", "B", "%RETRY%g"}
	for op := 0; op < ops; op++ {
		ref := queue.Ref{Topic: topics[r.IntN(len(topics))], QueueID: int32(r.IntN(4))}
		switch k := r.IntN(100); {
		case k < 55:
			n := 1
			if r.IntN(5) == 0 {
				n = 1 + r.IntN(6)
			}
			var batch []*msg.Message
			for j := 0; j < n; j++ {
				mm := newMsg(ref.Topic, ref.QueueID, op*10+j, []string{"", "x", "y"}[r.IntN(3)])
				mm.Body = append(mm.Body, bytes.Repeat([]byte{byte(op)}, r.IntN(3000))...)
				batch = append(batch, mm)
			}
			trace = append(trace, fmt.Sprintf("put %v x%d", ref, n))
			res, err := s.PutBatch(batch)
			if err != nil {
				t.Fatalf("op %d put: %v", op, err)
			}
			if res.QueueOffset != int64(len(m.queues[ref])) {
				t.Fatalf("op %d: queue offset %d, model has %d", op, res.QueueOffset, len(m.queues[ref]))
			}
			for _, mm := range batch {
				m.queues[ref] = append(m.queues[ref], mm.Body)
			}
		case k < 70:
			trace = append(trace, fmt.Sprintf("get %v", ref))
			s.WaitDispatched(5 * time.Second)
			checkQueue(t, s, m, ref, int64(r.IntN(len(m.queues[ref])+1)))
		case k < 80:
			off := int64(r.IntN(50))
			trace = append(trace, fmt.Sprintf("commit %v %d", ref, off))
			if err := s.CommitOffset("g", ref.Topic, ref.QueueID, off); err != nil {
				t.Fatal(err)
			}
			m.offsets[ref] = off
		case k < 88:
			trace = append(trace, "restart")
			if err := s.Close(); err != nil {
				t.Fatalf("op %d close: %v", op, err)
			}
			s = openStore(t, opts)
			checkAll(t, s, m)
		default:
			pct := []int{0, 50, 100}[r.IntN(3)]
			trace = append(trace, fmt.Sprintf("crash %d%%", pct))
			crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: rand.New(rand.NewPCG(r.Uint64(), 1))})
			s.Close() // the old process's files; the crashed copy is what survives
			fs = crashed
			opts.FS = fs
			s = openStore(t, opts)
			checkAll(t, s, m)
		}
	}
	checkAll(t, s, m)
	s.Close()
}

func checkAll(t *testing.T, s *Store, m *model) {
	t.Helper()
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for ref := range m.queues {
		checkQueue(t, s, m, ref, 0)
	}
	for ref, st := range s.Meta().Queues() {
		if int(st.Max) != len(m.queues[ref]) {
			t.Fatalf("queue %v holds %d entries, model %d", ref, st.Max, len(m.queues[ref]))
		}
	}
	for ref, want := range m.offsets {
		got, ok, err := s.Meta().ConsumerOffset("g", ref.Topic, ref.QueueID)
		if err != nil || !ok || got != want {
			t.Fatalf("consumer offset %v: %d %v %v, want %d", ref, got, ok, err, want)
		}
	}
	compareWithRebuild(t, s)
}

// checkQueue reads a queue from `from` to the end and compares it with the
// model, record by record.
func checkQueue(t *testing.T, s *Store, m *model, ref queue.Ref, from int64) {
	t.Helper()
	want := m.queues[ref]
	off := from
	for off < int64(len(want)) {
		res, err := s.Get(ref.Topic, ref.QueueID, off, 32, nil, nil)
		if err != nil || res.Status != Found {
			t.Fatalf("get %v@%d: %v %v", ref, off, res.Status, err)
		}
		for p := 0; p < len(res.Data); {
			r, err := msg.Decode(res.Data[p:])
			if err != nil {
				t.Fatal(err)
			}
			if r.QueueOffset != off || !bytes.Equal(r.Body, want[off]) || string(r.Topic) != ref.Topic {
				t.Fatalf("%v@%d: stored record differs from the model (offset field %d)", ref, off, r.QueueOffset)
			}
			p += len(r.Raw)
			off++
		}
	}
}

// compareWithRebuild copies the store's files, deletes every derived
// structure (meta/ and index/) from the copy, opens it (a full replay of the
// CommitLog) and compares queues, entries, blooms and key lookups with the
// live store (RELIABILITY T7).
func compareWithRebuild(t *testing.T, s *Store) {
	t.Helper()
	live := s.opts.FS.(*vfs.MemFS)
	copyFS := live.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rand.New(rand.NewPCG(1, 1))})
	for _, dir := range []string{"data/meta", "data/index"} {
		if err := copyFS.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	copyFS.Remove("data/lock")
	opts := s.opts
	opts.FS = copyFS
	opts.RecreateMeta = true // meta/ was deleted on purpose
	rebuilt := openStore(t, opts)
	defer rebuilt.Close()
	a, b := s.Meta().Queues(), rebuilt.Meta().Queues()
	if len(a) != len(b) {
		t.Fatalf("live store has %d queues, rebuild %d", len(a), len(b))
	}
	for ref, st := range a {
		if b[ref] != st {
			t.Fatalf("queue %v: live %+v, rebuild %+v", ref, st, b[ref])
		}
		var le, re []queue.Entry
		s.Meta().Scan(ref.Topic, ref.QueueID, st.Min, st.Max, func(_ int64, e queue.Entry) bool { le = append(le, e); return true })
		rebuilt.Meta().Scan(ref.Topic, ref.QueueID, st.Min, st.Max, func(_ int64, e queue.Entry) bool { re = append(re, e); return true })
		if len(le) != len(re) {
			t.Fatalf("queue %v: %d entries live, %d rebuilt", ref, len(le), len(re))
		}
		for i := range le {
			if le[i] != re[i] {
				t.Fatalf("queue %v entry %d: live %+v, rebuilt %+v", ref, i, le[i], re[i])
			}
		}
		for block := st.Min / queue.BlockSize; block < st.Max/queue.BlockSize; block++ {
			lb, _ := s.Meta().Bloom(ref.Topic, ref.QueueID, block)
			rb, _ := rebuilt.Meta().Bloom(ref.Topic, ref.QueueID, block)
			if (lb == nil) != (rb == nil) {
				t.Fatalf("queue %v block %d: bloom live %v, rebuilt %v", ref, block, lb != nil, rb != nil)
			}
			if lb != nil {
				x, _ := lb.MarshalBinary()
				y, _ := rb.MarshalBinary()
				if !bytes.Equal(x, y) {
					t.Fatalf("queue %v block %d: blooms differ", ref, block)
				}
			}
		}
		// Key lookups agree for every message of the queue.
		for i, e := range le {
			if i%7 != 0 {
				continue
			}
			rec, err := s.ReadRecord(e.Phys)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := msg.Decode(rec)
			uk, _ := msg.Property(r.Properties, msg.PropUniqKey)
			x, err1 := s.QueryByKey(ref.Topic, uk, 4, 0, 1<<62)
			y, err2 := rebuilt.QueryByKey(ref.Topic, uk, 4, 0, 1<<62)
			if err1 != nil || err2 != nil || len(x) == 0 || len(x) != len(y) {
				t.Fatalf("key %s: live %d (%v), rebuilt %d (%v)", uk, len(x), err1, len(y), err2)
			}
		}
	}
}
