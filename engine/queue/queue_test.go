package queue

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	goleak.VerifyTestMain(m)
}

// quiet drops the logs of tests that provoke errors on purpose.
var quiet = slog.New(slog.NewTextHandler(discard{}, nil))

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func openDB(t testing.TB, fs vfs.FS) *DB {
	t.Helper()
	d, err := Open(Options{FS: fs, Dir: "meta"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return d
}

// entryFor is the entry the tests write at queue offset off: phys grows
// with off so truncation and trimming by phys have a clear cut.
func entryFor(q int32, off int64) Entry {
	return Entry{Phys: off*1000 + int64(q), Size: 100 + int32(off%7), TagsCode: off % 5, StoreTime: 1_000_000 + off*10}
}

// fill adds entries [from, to) of each queue in one batch and commits it.
func fill(t testing.TB, d *DB, topic string, queues []int32, from, to int64, cp int64) {
	t.Helper()
	b := d.NewBatch()
	defer b.Close()
	for off := from; off < to; off++ {
		for _, q := range queues {
			if err := b.Add(topic, q, off, entryFor(q, off)); err != nil {
				t.Fatalf("add %s/%d@%d: %v", topic, q, off, err)
			}
		}
	}
	if cp >= 0 {
		if err := b.SetCheckpoint(cp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

type scanned struct {
	off int64
	e   Entry
}

func scanAll(t testing.TB, d *DB, topic string, q int32, from, to int64) []scanned {
	t.Helper()
	var out []scanned
	if err := d.Scan(topic, q, from, to, func(off int64, e Entry) bool {
		out = append(out, scanned{off, e})
		return true
	}); err != nil {
		t.Fatalf("scan %s/%d [%d,%d): %v", topic, q, from, to, err)
	}
	return out
}

// checkQueue asserts the queue holds exactly entryFor(q, off) for off in
// [min, max) and its state says so.
func checkQueue(t testing.TB, d *DB, topic string, q int32, min, max int64) {
	t.Helper()
	st, ok := d.State(topic, q)
	if !ok || st.Min != min || st.Max != max {
		t.Fatalf("%s/%d state %+v %v, want [%d,%d)", topic, q, st, ok, min, max)
	}
	got := scanAll(t, d, topic, q, 0, 1<<62)
	if int64(len(got)) != max-min {
		t.Fatalf("%s/%d holds %d entries, want %d", topic, q, len(got), max-min)
	}
	for i, s := range got {
		off := min + int64(i)
		if s.off != off || s.e != entryFor(q, off) {
			t.Fatalf("%s/%d entry %d: %+v, want offset %d %+v", topic, q, i, s, off, entryFor(q, off))
		}
	}
}

func TestKeyOrder(t *testing.T) {
	// Offsets sort numerically (big-endian), queue ids and topics never
	// interleave, and a topic that is a prefix of another stays apart.
	var keys [][]byte
	type id struct {
		topic string
		q     int32
		off   int64
	}
	var want []id
	for _, topic := range []string{"T", "T\x01", "T1", "TT", "U"} { // byte order
		for _, q := range []int32{0, 1, 255, 256, 1 << 20} {
			for _, off := range []int64{0, 1, 255, 256, 65535, 1 << 32, 1<<62 + 5} {
				want = append(want, id{topic, q, off})
			}
		}
	}
	for i := len(want) - 1; i >= 0; i-- { // reverse, so sorting has work to do
		w := want[i]
		keys = append(keys, entryKey(nil, w.topic, w.q, w.off))
	}
	slices.SortFunc(keys, bytes.Compare)
	for i, k := range keys {
		topic, q, rest, err := parseQueueKey(k)
		if err != nil || len(rest) != 8 {
			t.Fatalf("key %q: %v", k, err)
		}
		got := id{topic, q, int64(be.Uint64(rest))}
		if got != want[i] {
			t.Fatalf("key %d sorts as %+v, want %+v", i, got, want[i])
		}
	}
	// Every key of a queue lies in [queuePrefix, prefixEnd(queuePrefix)).
	p := queuePrefix(nil, prefixEntry, "T", 1)
	end := prefixEnd(p)
	for _, k := range keys {
		topic, q, _, _ := parseQueueKey(k)
		in := bytes.Compare(k, p) >= 0 && bytes.Compare(k, end) < 0
		if in != (topic == "T" && q == 1) {
			t.Fatalf("key of %s/%d: inside T/1's range = %v", topic, q, in)
		}
	}
	if prefixEnd([]byte{0xff, 0xff}) != nil {
		t.Fatal("prefixEnd of all 0xff must be nil (no upper bound)")
	}
	if _, _, _, err := parseQueueKey([]byte("qT")); err == nil {
		t.Fatal("a key without separator parsed")
	}
	if _, _, _, err := parseQueueKey([]byte("qT\x00\x01")); err == nil {
		t.Fatal("a key with a short queue id parsed")
	}
}

func TestEntryCodec(t *testing.T) {
	e := Entry{Phys: 1<<40 + 3, Size: 1 << 30, TagsCode: -12345, StoreTime: 1_700_000_000_000}
	v := e.encode(nil)
	if len(v) != entrySize {
		t.Fatalf("encoded %d bytes", len(v))
	}
	got, err := decodeEntry(v)
	if err != nil || got != e {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, n := range []int{0, entrySize - 1, entrySize + 1} {
		if _, err := decodeEntry(make([]byte, n)); err == nil {
			t.Fatalf("decoded a %d-byte value", n)
		}
	}
}

func TestBatchCommitReopen(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	// Topics that are prefixes of each other, several queues each.
	fill(t, d, "T", []int32{0, 1, 2}, 0, 300, 12345)
	fill(t, d, "T1", []int32{0, 1}, 0, 50, -1)
	fill(t, d, "T", []int32{0, 1, 2}, 300, 310, 23456)
	check := func(d *DB) {
		t.Helper()
		for q := int32(0); q < 3; q++ {
			checkQueue(t, d, "T", q, 0, 310)
		}
		for q := int32(0); q < 2; q++ {
			checkQueue(t, d, "T1", q, 0, 50)
		}
		if _, ok := d.State("T", 3); ok {
			t.Fatal("state of a queue never written")
		}
		if _, ok := d.State("T1", 2); ok {
			t.Fatal("state of a queue never written")
		}
		if cp, err := d.Checkpoint(); err != nil || cp != 23456 {
			t.Fatalf("checkpoint %d %v", cp, err)
		}
		qs := d.Queues()
		refs := SortedRefs(qs)
		want := []Ref{{"T", 0}, {"T", 1}, {"T", 2}, {"T1", 0}, {"T1", 1}}
		if !slices.Equal(refs, want) {
			t.Fatalf("queues %v", refs)
		}
		e, ok, err := d.EntryAt("T", 2, 299)
		if err != nil || !ok || e != entryFor(2, 299) {
			t.Fatalf("EntryAt: %+v %v %v", e, ok, err)
		}
		if _, ok, err := d.EntryAt("T", 2, 310); ok || err != nil {
			t.Fatalf("EntryAt past the end: %v %v", ok, err)
		}
	}
	check(d)
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDB(t, fs)
	defer d.Close()
	check(d)
}

func TestBatchCommitReturnsTouched(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	b := d.NewBatch()
	defer b.Close()
	for off := int64(0); off < 3; off++ {
		if err := b.Add("A", 7, off, entryFor(7, off)); err != nil {
			t.Fatal(err)
		}
	}
	// Not visible before the commit.
	if _, ok := d.State("A", 7); ok {
		t.Fatal("state visible before commit")
	}
	if got := scanAll(t, d, "A", 7, 0, 10); len(got) != 0 {
		t.Fatalf("entries visible before commit: %v", got)
	}
	touched, err := b.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if len(touched) != 1 || touched[Ref{"A", 7}] != (State{0, 3}) {
		t.Fatalf("touched %v", touched)
	}
	if b.Len() != 0 {
		t.Fatalf("batch holds %d writes after commit", b.Len())
	}
	// Reuse: a checkpoint-only batch touches nothing.
	if err := b.SetCheckpoint(99); err != nil {
		t.Fatal(err)
	}
	touched, err = b.Commit()
	if err != nil || len(touched) != 0 {
		t.Fatalf("checkpoint-only commit: %v %v", touched, err)
	}
	if cp, _ := d.Checkpoint(); cp != 99 {
		t.Fatalf("checkpoint %d", cp)
	}
}

func TestAddReplayAndStartMidway(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	fill(t, d, "T", []int32{0}, 0, 20, -1)
	// Replaying entries already stored (after a crash) changes nothing.
	fill(t, d, "T", []int32{0}, 10, 20, -1)
	checkQueue(t, d, "T", 0, 0, 20)
	// A queue whose first entry is past 0 starts there.
	fill(t, d, "T", []int32{1}, 500, 510, -1)
	checkQueue(t, d, "T", 1, 500, 510)
	// A negative offset is refused.
	b := d.NewBatch()
	defer b.Close()
	if err := b.Add("T", 0, -1, Entry{}); err == nil {
		t.Fatal("negative offset accepted")
	}
}

func TestScanBounds(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	fill(t, d, "T", []int32{0, 1}, 0, 100, -1)
	fill(t, d, "T1", []int32{0}, 0, 100, -1)
	cases := []struct {
		from, to int64
		first, n int64
	}{
		{0, 100, 0, 100}, {10, 20, 10, 10}, {99, 100, 99, 1}, {100, 200, 0, 0},
		{50, 50, 0, 0}, {60, 50, 0, 0}, {95, 1 << 62, 95, 5},
	}
	for _, c := range cases {
		got := scanAll(t, d, "T", 1, c.from, c.to)
		if int64(len(got)) != c.n {
			t.Fatalf("scan [%d,%d): %d entries, want %d", c.from, c.to, len(got), c.n)
		}
		for i, s := range got {
			if s.off != c.first+int64(i) || s.e != entryFor(1, s.off) {
				t.Fatalf("scan [%d,%d) entry %d: %+v", c.from, c.to, i, s)
			}
		}
	}
	// fn returning false stops the scan.
	n := 0
	d.Scan("T", 0, 0, 100, func(int64, Entry) bool { n++; return n < 7 })
	if n != 7 {
		t.Fatalf("scan went on after false: %d calls", n)
	}
	if got := scanAll(t, d, "T", 2, 0, 100); len(got) != 0 {
		t.Fatalf("scan of a missing queue: %v", got)
	}
}

// bloomOf fetches block's bloom, failing when absent.
func bloomOf(t testing.TB, d *DB, topic string, q int32, block int64) bool {
	t.Helper()
	b, err := d.Bloom(topic, q, block)
	if err != nil {
		t.Fatal(err)
	}
	return b != nil
}

func TestBlooms(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	// Tag code per offset: block 0 uses codes 1000..1015 in sub-block
	// order, block 1 codes 2000..2015, the partial block 2 codes 3000...
	code := func(off int64) int64 { return (off/BlockSize+1)*1000 + (off%BlockSize)/SubBlockSize%16 }
	add := func(d *DB, from, to int64, per int) {
		for off := from; off < to; {
			b := d.NewBatch()
			for i := 0; i < per && off < to; i, off = i+1, off+1 {
				if err := b.Add("T", 0, off, Entry{Phys: off * 100, Size: 100, TagsCode: code(off), StoreTime: off}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			b.Close()
		}
	}
	// Odd batch sizes so blocks complete in the middle of a batch, and a
	// reopen in the middle of block 1 so its codes are rebuilt from Pebble.
	add(d, 0, 1500, 333)
	if bloomOf(t, d, "T", 0, 1) {
		t.Fatal("bloom for an incomplete block")
	}
	d.Flush()
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	add(d, 1500, 2*BlockSize+10, 97)
	for block := int64(0); block < 2; block++ {
		b, err := d.Bloom("T", 0, block)
		if err != nil || b == nil {
			t.Fatalf("block %d: bloom %v %v", block, b, err)
		}
		for off := block * BlockSize; off < (block+1)*BlockSize; off++ {
			c := code(off)
			sub := int((off % BlockSize) / SubBlockSize)
			if !b.MayContain(c) || !b.MayContain(SubBlockKey(c, sub)) {
				t.Fatalf("block %d misses code %d or (code, sub-block %d) of offset %d", block, c, sub, off)
			}
		}
		// Absent codes and (code, sub-block) pairs never added: mostly
		// ruled out. Code base+k is only in sub-blocks s with s%16 == k.
		fp, n := 0, 0
		for i := int64(0); i < 1000; i++ {
			n++
			if b.MayContain(50_000 + i) {
				fp++
			}
		}
		base := (block + 1) * 1000
		for s := 0; s < BlockSize/SubBlockSize; s++ {
			for k := int64(0); k < 16; k++ {
				if int64(s%16) == k {
					continue
				}
				n++
				if b.MayContain(SubBlockKey(base+k, s)) {
					fp++
				}
			}
		}
		if fp*20 > n {
			t.Fatalf("block %d: %d of %d absent keys pass the bloom", block, fp, n)
		}
		t.Logf("block %d: %d of %d absent keys pass the bloom", block, fp, n)
	}
	if bloomOf(t, d, "T", 0, 2) {
		t.Fatal("bloom for the incomplete block 2")
	}
}

func TestBloomSkipsBlockWithHole(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	// A queue starting mid-block (retention) must not get a bloom for that
	// block: the bloom would miss the codes of entries never seen.
	fill(t, d, "T", []int32{0}, BlockSize/2, 2*BlockSize+1, -1)
	if bloomOf(t, d, "T", 0, 0) {
		t.Fatal("bloom for a block the queue only half holds")
	}
	if !bloomOf(t, d, "T", 0, 1) {
		t.Fatal("no bloom for the complete block 1")
	}
}

func TestTruncateFrom(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0, 1}, 0, 2*BlockSize+100, (2*BlockSize+100)*1000)
	fill(t, d, "U", []int32{0}, 0, 10, -1)
	// Cut at the entry of offset 1500 of queue 0 (phys 1_500_000): both
	// queues keep 0..1499 (queue 1's entry 1500 is at phys 1_500_001).
	cut := int64(1500 * 1000)
	n, err := d.TruncateFrom(cut)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (2*BlockSize + 100 - 1500); n != want {
		t.Fatalf("dropped %d, want %d", n, want)
	}
	check := func(d *DB) {
		t.Helper()
		checkQueue(t, d, "T", 0, 0, 1500)
		checkQueue(t, d, "T", 1, 0, 1500)
		checkQueue(t, d, "U", 0, 0, 10)
		if cp, _ := d.Checkpoint(); cp != cut {
			t.Fatalf("checkpoint %d, want moved back to %d", cp, cut)
		}
		if !bloomOf(t, d, "T", 0, 0) || bloomOf(t, d, "T", 0, 1) || bloomOf(t, d, "T", 0, 2) {
			t.Fatal("blooms after truncate: want block 0 only")
		}
	}
	check(d)
	// Entirely past the end: nothing to do; the checkpoint does not move up.
	if n, err := d.TruncateFrom(1 << 50); n != 0 || err != nil {
		t.Fatalf("truncate past everything: %d %v", n, err)
	}
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	check(d)
	// Dispatch continues densely; block 1 completes again with the new
	// codes (all 4 here) and its bloom holds them.
	b := d.NewBatch()
	for off := int64(1500); off < 2*BlockSize; off++ {
		if err := b.Add("T", 0, off, Entry{Phys: cut + off, Size: 1, TagsCode: 4, StoreTime: off}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	bl, err := d.Bloom("T", 0, 1)
	if err != nil || bl == nil {
		t.Fatalf("block 1 bloom after re-dispatch: %v", err)
	}
	for off := int64(BlockSize); off < 2*BlockSize; off++ {
		c := off % 5
		if off >= 1500 {
			c = 4
		}
		if !bl.MayContain(SubBlockKey(c, int(off%BlockSize/SubBlockSize))) {
			t.Fatalf("re-dispatched block 1 bloom misses offset %d", off)
		}
	}
	// Truncating everything leaves empty queues at 0.
	if _, err := d.TruncateFrom(0); err != nil {
		t.Fatal(err)
	}
	if st, _ := d.State("T", 0); st != (State{}) {
		t.Fatalf("state after truncating everything: %+v", st)
	}
}

func TestTrimBelow(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0, 1}, 0, 3*BlockSize, -1)
	fill(t, d, "U", []int32{0}, 0, 10, -1)
	// Remove everything below phys 2_100_000: queue 0 keeps 2100.., queue
	// 1 (phys off*1000+1) keeps 2100.. too; U (phys < 10_000) is emptied.
	if err := d.TrimBelow(2100 * 1000); err != nil {
		t.Fatal(err)
	}
	check := func(d *DB) {
		t.Helper()
		checkQueue(t, d, "T", 0, 2100, 3*BlockSize)
		checkQueue(t, d, "T", 1, 2100, 3*BlockSize)
		checkQueue(t, d, "U", 0, 10, 10)
		// Blooms wholly below the new Min are gone; block 2 (holding Min)
		// keeps its bloom, a superset of what remains.
		if bloomOf(t, d, "T", 0, 0) || bloomOf(t, d, "T", 0, 1) || !bloomOf(t, d, "T", 0, 2) {
			t.Fatal("blooms after trim: want block 2 only")
		}
	}
	check(d)
	if err := d.TrimBelow(0); err != nil { // nothing below 0
		t.Fatal(err)
	}
	check(d)
	d.Flush()
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	check(d)
	// The emptied queue continues from its Max.
	fill(t, d, "U", []int32{0}, 10, 12, -1)
	checkQueue(t, d, "U", 0, 10, 12)
}

func TestDeleteQueues(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0, 1}, 0, BlockSize+5, -1)
	fill(t, d, "T1", []int32{0}, 0, BlockSize+5, -1)
	fill(t, d, "S", []int32{0}, 0, 5, -1)
	// Offsets on T go with it (those of T1, a name T prefixes, stay).
	for _, o := range []struct {
		group, topic string
		q            int32
	}{{"G", "T", 0}, {"G", "T", 1}, {"wharf:sync:G", "T", 0}, {"G", "T1", 0}, {"H", "S", 0}} {
		if err := d.CommitOffset(o.group, o.topic, o.q, 3); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.DeleteQueues("T"); err != nil {
		t.Fatal(err)
	}
	check := func(d *DB) {
		t.Helper()
		all, err := d.ConsumerOffsets()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[Ref]int64{"G": {{"T1", 0}: 3}, "H": {{"S", 0}: 3}}
		if !reflect.DeepEqual(all, want) {
			t.Fatalf("offsets after deleting T: %v, want %v", all, want)
		}
		for _, q := range []int32{0, 1} {
			if _, ok := d.State("T", q); ok {
				t.Fatalf("T/%d state survives", q)
			}
			if got := scanAll(t, d, "T", q, 0, 1<<62); len(got) != 0 {
				t.Fatalf("T/%d keeps %d entries", q, len(got))
			}
			if bloomOf(t, d, "T", q, 0) {
				t.Fatalf("T/%d keeps its bloom", q)
			}
		}
		checkQueue(t, d, "T1", 0, 0, BlockSize+5)
		checkQueue(t, d, "S", 0, 0, 5)
		if !bloomOf(t, d, "T1", 0, 0) {
			t.Fatal("T1 lost its bloom")
		}
	}
	check(d)
	if err := d.DeleteQueues("nope"); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	check(d)
}

func TestSearchByTime(t *testing.T) {
	d := openDB(t, vfs.NewMem())
	defer d.Close()
	// Store times 100, 110, 110, 110, 120, ... (non-decreasing, with a run
	// of equal times) at offsets 0..99.
	times := make([]int64, 100)
	b := d.NewBatch()
	for i := range times {
		times[i] = 100 + int64(i)*10
		if i >= 1 && i <= 3 {
			times[i] = 110
		}
		if err := b.Add("T", 0, int64(i), Entry{Phys: int64(i), Size: 1, StoreTime: times[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	want := func(ts int64) int64 {
		for i, st := range times {
			if st >= ts {
				return int64(i)
			}
		}
		return int64(len(times))
	}
	for _, ts := range []int64{-1, 0, 99, 100, 101, 109, 110, 111, 119, 120, 500, 1090, 1091, 5000} {
		got, err := d.SearchByTime("T", 0, ts)
		if err != nil || got != want(ts) {
			t.Fatalf("SearchByTime(%d) = %d %v, want %d", ts, got, err, want(ts))
		}
	}
	if got, err := d.SearchByTime("nope", 0, 100); got != 0 || err != nil {
		t.Fatalf("unknown queue: %d %v", got, err)
	}
	// After trimming, the answer is never below Min.
	if err := d.TrimBelow(50); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.SearchByTime("T", 0, 0); got != 50 {
		t.Fatalf("after trim: %d, want Min 50", got)
	}
}

func TestConsumerOffsetsDurable(t *testing.T) {
	mem := vfs.NewCrashableMem()
	d := openDB(t, mem)
	fill(t, d, "T", []int32{0}, 0, 100, 5000)
	// Derived data is written without fsync: a crash now keeps only what
	// was synced, and whatever survives must be self-consistent.
	crashed := mem.CrashClone(vfs.CrashCloneCfg{})
	if err := d.CommitOffset("g", "T", 0, 42); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitOffset("g", "T1", 3, -1); err != nil { // "no offset"
		t.Fatal(err)
	}
	if err := d.CommitOffset("h", "T", 0, 7); err != nil {
		t.Fatal(err)
	}
	if err := d.CommitOffset("g", "T", 0, 43); err != nil { // overwrite
		t.Fatal(err)
	}
	afterOffsets := mem.CrashClone(vfs.CrashCloneCfg{})
	d.Close()

	d1 := openDB(t, crashed)
	st, _ := d1.State("T", 0)
	if got := scanAll(t, d1, "T", 0, 0, 1<<62); int64(len(got)) != st.Max-st.Min {
		t.Fatalf("after crash: state %+v but %d entries", st, len(got))
	}
	if _, ok, _ := d1.ConsumerOffset("g", "T", 0); ok {
		t.Fatal("offset present before it was committed")
	}
	d1.Close()

	d2 := openDB(t, afterOffsets)
	defer d2.Close()
	if off, ok, err := d2.ConsumerOffset("g", "T", 0); err != nil || !ok || off != 43 {
		t.Fatalf("offset after crash: %d %v %v", off, ok, err)
	}
	if off, ok, err := d2.ConsumerOffset("h", "T", 0); err != nil || !ok || off != 7 {
		t.Fatalf("offset of h after crash: %d %v %v", off, ok, err)
	}
	if _, ok, err := d2.ConsumerOffset("g", "T1", 3); ok || err != nil {
		t.Fatalf("negative offset reads as present: %v %v", ok, err)
	}
	if _, ok, err := d2.ConsumerOffset("g", "T", 1); ok || err != nil {
		t.Fatalf("uncommitted queue: %v %v", ok, err)
	}
	all, err := d2.ConsumerOffsets()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["g"][Ref{"T", 0}] != 43 || all["g"][Ref{"T1", 3}] != -1 || all["h"][Ref{"T", 0}] != 7 {
		t.Fatalf("ConsumerOffsets: %v", all)
	}
	// The synced offset commit made the earlier batch durable too (one WAL).
	checkQueue(t, d2, "T", 0, 0, 100)
	if err := d2.CommitOffset("", "T", 0, 1); !errors.Is(err, ErrBadName) {
		t.Fatalf("empty group: %v", err)
	}
	if err := d2.CommitOffset("g", "a\x00b", 0, 1); !errors.Is(err, ErrBadName) {
		t.Fatalf("topic with 0x00: %v", err)
	}
}

func TestConfigs(t *testing.T) {
	mem := vfs.NewCrashableMem()
	d := openDB(t, mem)
	for _, name := range []string{"T", "T1", "TT"} {
		if err := d.PutTopic(name, []byte(`{"topic":"`+name+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.PutGroup("T", []byte(`{"group":"T"}`)); err != nil { // same name as a topic
		t.Fatal(err)
	}
	if err := d.PutTopic("T1", []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteTopic("TT"); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteGroup("absent"); err != nil {
		t.Fatal(err)
	}
	if err := d.PutTopic("", nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("empty topic name: %v", err)
	}
	if err := d.PutGroup("a\x00", nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("group with 0x00: %v", err)
	}
	// Entries and a checkpoint must not show up among configs.
	fill(t, d, "T", []int32{0}, 0, 3, 77)
	crashed := mem.CrashClone(vfs.CrashCloneCfg{}) // configs are synced
	d.Close()
	d = openDB(t, crashed)
	defer d.Close()
	topics, err := d.Topics()
	if err != nil {
		t.Fatal(err)
	}
	if len(topics) != 2 || string(topics["T"]) != `{"topic":"T"}` || string(topics["T1"]) != `{"v":2}` {
		t.Fatalf("topics %q", topics)
	}
	groups, err := d.Groups()
	if err != nil || len(groups) != 1 || string(groups["T"]) != `{"group":"T"}` {
		t.Fatalf("groups %q %v", groups, err)
	}
	if err := d.DeleteGroup("T"); err != nil {
		t.Fatal(err)
	}
	if groups, _ := d.Groups(); len(groups) != 0 {
		t.Fatalf("groups after delete: %q", groups)
	}
}

func TestCheckpoint(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	if cp, err := d.Checkpoint(); cp != 0 || err != nil {
		t.Fatalf("fresh checkpoint %d %v", cp, err)
	}
	b := d.NewBatch()
	b.SetCheckpoint(1 << 40)
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	if cp, err := d.Checkpoint(); cp != 1<<40 || err != nil {
		t.Fatalf("checkpoint after reopen %d %v", cp, err)
	}
	// A damaged checkpoint value is an error, not a wrong number.
	if err := d.db.Set(checkpointKey, []byte{1, 2, 3}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Checkpoint(); err == nil {
		t.Fatal("3-byte checkpoint accepted")
	}
}

// TestBadStateRecordResetsDerived: a malformed state record is derived
// data: Open deletes every derived record (the dispatcher then replays the
// CommitLog from the start) and keeps consumer offsets (issue 9 §3); the
// queue goes on from its committed offset
// (TestDamagedDerivedKeepsQueueEnds).
func TestBadStateRecordResetsDerived(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	if err := d.CommitOffset("G", "T", 0, 5); err != nil {
		t.Fatal(err)
	}
	if err := d.db.Set(checkpointKey, be.AppendUint64(nil, 100), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := d.db.Set(stateKey(nil, "T", 0), []byte{1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, err := Open(Options{FS: fs, Dir: "meta", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if cp, err := d.Checkpoint(); cp != 0 || err != nil || !reflect.DeepEqual(d.Queues(), map[Ref]State{{"T", 0}: {5, 5}}) {
		t.Fatalf("checkpoint %d %v, queues %v", cp, err, d.Queues())
	}
	if off, ok, err := d.ConsumerOffset("G", "T", 0); off != 5 || !ok || err != nil {
		t.Fatalf("offset %d %v %v", off, ok, err)
	}
}

// TestDamagedDerivedKeepsQueueEnds: when Open resets damaged derived data,
// each queue stays, empty at its end, so offsets go on from there even for
// a queue whose records retention removed from the log (the replay finds
// none); a queue whose own state record is unreadable ends one past its
// last stored entry, or at the highest offset a group committed on it. A
// replayed record of a queue then says where it starts.
func TestDamagedDerivedKeepsQueueEnds(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0, 1}, 0, 20, 20_000)
	fill(t, d, "U", []int32{0}, 0, 10, 20_000)
	// Retention removed the log below 10_000: U/0 is empty at 10, T/0 and
	// T/1 keep [10, 20).
	if err := d.TrimBelow(10_000); err != nil {
		t.Fatal(err)
	}
	checkQueue(t, d, "U", 0, 10, 10)
	// G consumed all of U/0, H lags; a lagging group on T/0 does not lower
	// its end.
	for _, c := range []struct {
		group, topic string
		off          int64
	}{{"G", "U", 10}, {"H", "U", 7}, {"G", "T", 0}} {
		if err := d.CommitOffset(c.group, c.topic, 0, c.off); err != nil {
			t.Fatal(err)
		}
	}
	// T/0's and U/0's state records are garbage; T/1's is fine.
	for _, topic := range []string{"T", "U"} {
		if err := d.db.Set(stateKey(nil, topic, 0), []byte{1, 2, 3}, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	d, err := Open(Options{FS: fs, Dir: "meta", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	want := map[Ref]State{{"T", 0}: {20, 20}, {"T", 1}: {20, 20}, {"U", 0}: {10, 10}}
	if got := d.Queues(); !reflect.DeepEqual(got, want) {
		t.Fatalf("queues after the reset: %v, want %v (each empty at its end)", got, want)
	}
	if cp, err := d.Checkpoint(); cp != 0 || err != nil {
		t.Fatalf("checkpoint %d %v, want 0 (replay from the start)", cp, err)
	}
	if n := len(scanAll(t, d, "T", 0, 0, 1<<62)); n != 0 {
		t.Fatalf("T/0 still holds %d entries", n)
	}
	// The replay brings T/0 and T/1 back as they were; U/0 has no record
	// left and goes on from 10.
	fill(t, d, "T", []int32{0, 1}, 10, 20, 20_000)
	fill(t, d, "U", []int32{0}, 10, 11, 20_000)
	checkQueue(t, d, "T", 0, 10, 20)
	checkQueue(t, d, "T", 1, 10, 20)
	checkQueue(t, d, "U", 0, 10, 11)
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	checkQueue(t, d, "T", 0, 10, 20)
	checkQueue(t, d, "U", 0, 10, 11)
}

// TestDeletedTopicMarks: DeleteQueues marks what was dispatched as deleted,
// so a replay of those records adds nothing, while later records of the
// topic create its queues again; the mark survives a reopen and ResetDerived
// and never stays past a cut of the log.
func TestDeletedTopicMarks(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0}, 0, 10, 10_000) // phys up to 9000
	fill(t, d, "S", []int32{0}, 0, 10, 10_000)
	if err := d.DeleteQueues("T"); err != nil {
		t.Fatal(err)
	}
	if got := d.DeletedTopics(); len(got) != 1 || got["T"] != 10_000 {
		t.Fatalf("deleted topics %v, want T below 10000", got)
	}
	fill(t, d, "T", []int32{0}, 0, 20, 20_000) // a replay: 0..9 are below the mark
	checkQueue(t, d, "T", 0, 10, 20)
	if got := scanAll(t, d, "T", 0, 0, 1<<62); len(got) != 10 || got[0].off != 10 {
		t.Fatalf("T/0 after the replay: %v", got)
	}
	checkQueue(t, d, "S", 0, 0, 10)
	d.Close()

	d = openDB(t, fs)
	defer d.Close()
	if got := d.DeletedTopics(); got["T"] != 10_000 {
		t.Fatalf("after reopen: %v", got)
	}
	if err := d.ResetDerived(); err != nil {
		t.Fatal(err)
	}
	if got := d.DeletedTopics(); got["T"] != 10_000 {
		t.Fatalf("after ResetDerived: %v", got)
	}
	fill(t, d, "T", []int32{0}, 0, 20, 20_000)
	checkQueue(t, d, "T", 0, 10, 20)
	// The log is cut below the mark: what is appended from the cut on
	// comes after the delete and must be dispatched.
	if _, err := d.TruncateFrom(5_000); err != nil {
		t.Fatal(err)
	}
	if got := d.DeletedTopics(); got["T"] != 5_000 {
		t.Fatalf("after TruncateFrom(5000): %v", got)
	}
	b := d.NewBatch()
	defer b.Close()
	if err := b.Add("T", 0, 10, Entry{Phys: 5_000, Size: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if st, ok := d.State("T", 0); !ok || st.Max != 11 {
		t.Fatalf("an entry at the cut was skipped: state %+v %v", st, ok)
	}
}

// TestDeletedMarkDroppedByTrim: retention past a deleted topic's mark
// removes the mark, which then no longer skips anything.
func TestDeletedMarkDroppedByTrim(t *testing.T) {
	fs := vfs.NewMem()
	d := openDB(t, fs)
	fill(t, d, "T", []int32{0}, 0, 10, 10_000)
	if err := d.DeleteQueues("T"); err != nil {
		t.Fatal(err)
	}
	if err := d.TrimBelow(5_000); err != nil {
		t.Fatal(err)
	}
	if got := d.DeletedTopics(); got["T"] != 10_000 {
		t.Fatalf("mark gone before the log below it: %v", got)
	}
	if err := d.TrimBelow(10_000); err != nil {
		t.Fatal(err)
	}
	if got := d.DeletedTopics(); len(got) != 0 {
		t.Fatalf("mark kept after the log below it went: %v", got)
	}
	d.Close()
	d = openDB(t, fs)
	defer d.Close()
	if got := d.DeletedTopics(); len(got) != 0 {
		t.Fatalf("mark back after reopen: %v", got)
	}
}
