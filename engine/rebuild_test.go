package engine

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

// derivedSnapshot is everything Rebuild must reproduce, and what it must
// keep.
type derivedSnapshot struct {
	States  map[queue.Ref]queue.State
	Entries map[string]queue.Entry // "topic/queue@offset"
	Blooms  map[string][]byte      // "topic/queue#block"
	Queries map[string][]int64     // "topic key" -> record offsets
	Offsets map[string]map[queue.Ref]int64
	Topics  map[string][]byte
}

func snapshot(t *testing.T, fs vfs.FS) derivedSnapshot {
	t.Helper()
	s := openStore(t, testOptions(fs, commitlog.AsyncFlush))
	defer s.Close()
	snap := derivedSnapshot{States: s.Meta().Queues(), Entries: map[string]queue.Entry{}, Blooms: map[string][]byte{}, Queries: map[string][]int64{}}
	err := s.Meta().ScanAllEntries(func(ref queue.Ref, off int64, e queue.Entry) bool {
		snap.Entries[fmt.Sprintf("%s/%d@%d", ref.Topic, ref.QueueID, off)] = e
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for ref, st := range snap.States {
		for block := int64(0); block <= st.Max/queue.BlockSize; block++ {
			b, err := s.Meta().Bloom(ref.Topic, ref.QueueID, block)
			if err != nil {
				t.Fatal(err)
			}
			if b != nil {
				data, _ := b.MarshalBinary()
				snap.Blooms[fmt.Sprintf("%s/%d#%d", ref.Topic, ref.QueueID, block)] = data
			}
		}
	}
	var keys []string
	for i := 0; i < 300; i += 7 {
		keys = append(keys, fmt.Sprintf("T k%d", i), fmt.Sprintf("T U%08d", i))
	}
	for i := 1000; i < 1000+queue.BlockSize+100; i += 97 {
		keys = append(keys, fmt.Sprintf("B k%d", i), fmt.Sprintf("B U%08d", i))
	}
	keys = append(keys, "T shared", "B shared", "T nope")
	for _, k := range keys {
		var topic, key string
		fmt.Sscan(k, &topic, &key)
		recs, err := s.QueryByKey(topic, key, 100000, 0, time.Now().UnixMilli()+1000)
		if err != nil {
			t.Fatal(err)
		}
		offs := []int64{}
		for _, r := range recs {
			offs = append(offs, int64(be64(r[28:36])))
		}
		snap.Queries[k] = offs
	}
	if snap.Offsets, err = s.Meta().ConsumerOffsets(); err != nil {
		t.Fatal(err)
	}
	if snap.Topics, err = s.Meta().Topics(); err != nil {
		t.Fatal(err)
	}
	return snap
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// TestRebuildEqualsOriginal is the replay half of RELIABILITY T7/T30: the
// queues, blooms and key index rebuilt from the CommitLog equal the ones
// the store built live, entry by entry, and offsets and configs survive.
func TestRebuildEqualsOriginal(t *testing.T) {
	fs := vfs.NewMem()
	n := populate(t, fs)
	before := snapshot(t, fs)
	if len(before.Entries) != n || len(before.Blooms) == 0 || len(before.Queries["T shared"]) != 300 || len(before.Offsets) == 0 {
		t.Fatalf("fixture: %d entries, %d blooms, %d shared hits, offsets %v", len(before.Entries), len(before.Blooms), len(before.Queries["T shared"]), before.Offsets)
	}
	// Damage the derived data, so the rebuild has something to repair.
	damageDerived(t, fs)
	if damaged := snapshot(t, fs); reflect.DeepEqual(before, damaged) {
		t.Fatal("damage did not show")
	}
	opts := testOptions(fs, commitlog.AsyncFlush)
	opts.Progress = new(Progress)
	rep, err := Rebuild(opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != int64(n) || rep.Queues != 4 || rep.Bytes <= 0 {
		t.Fatalf("report: %+v", rep)
	}
	// The progress counters followed the replay to its end.
	if done, total := opts.Progress.Bytes(); done != rep.Bytes || total != rep.Bytes || opts.Progress.Records.Load() != int64(n) {
		t.Fatalf("progress: %d of %d bytes, %d records; report %+v", done, total, opts.Progress.Records.Load(), rep)
	}
	opts.Progress = nil
	t.Logf("rebuilt %d records, %d bytes in %v (%.0f MB/s)", rep.Records, rep.Bytes, rep.Replay, rep.MBPerSec())
	after := snapshot(t, fs)
	if !reflect.DeepEqual(before, after) {
		for k, e := range before.Entries {
			if after.Entries[k] != e {
				t.Errorf("entry %s: %+v, rebuilt %+v", k, e, after.Entries[k])
			}
		}
		for k, q := range before.Queries {
			if !reflect.DeepEqual(q, after.Queries[k]) {
				t.Errorf("query %s: %v, rebuilt %v", k, q, after.Queries[k])
			}
		}
		t.Fatalf("rebuilt derived data differs: states %v / %v, %d/%d entries, %d/%d blooms, offsets %v / %v",
			before.States, after.States, len(before.Entries), len(after.Entries), len(before.Blooms), len(after.Blooms), before.Offsets, after.Offsets)
	}
	if rep := checkStore(t, fs); !rep.OK() {
		t.Fatalf("check after rebuild: %v", rep.Problems)
	}
	// Rebuild refuses to run beside an open store.
	s := openStore(t, opts)
	_, err = Rebuild(opts)
	s.Close()
	if !errors.Is(err, ErrStoreInUse) {
		t.Fatalf("rebuild beside an open store: %v", err)
	}
}

// TestRebuildAfterInterruption: derived data reset but the rebuild never
// ran (a crash right after the deletion): the next Open finishes it.
func TestRebuildAfterInterruption(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	before := snapshot(t, fs)
	opts := testOptions(fs, commitlog.AsyncFlush)
	if err := opts.ensureDefaults(); err != nil {
		t.Fatal(err)
	}
	release, _, err := LockStore(fs, "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(resetDerived(opts), release()); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, fs); !reflect.DeepEqual(before, after) {
		t.Fatal("an Open after an interrupted rebuild did not restore the derived data")
	}
}

var rebuildMB = flag.Int("rebuild-mb", 0, "size in MB of the on-disk store for TestRebuildThroughput (RELIABILITY T30: 1024); 0 skips it")

// TestRebuildThroughput measures Rebuild and Check on a store of 1 KiB
// messages written to a real directory (go test ./engine/ -run
// TestRebuildThroughput -rebuild-mb=1024). The T30 goal is a replay of at
// least 100 MB/s of CommitLog on the 2-core dev box.
func TestRebuildThroughput(t *testing.T) {
	if *rebuildMB <= 0 {
		t.Skip("set -rebuild-mb to run")
	}
	dir := t.TempDir()
	opts := Options{Dir: dir, SegmentSize: 128 << 20, FlushMode: commitlog.AsyncFlush, RetentionInterval: -1,
		Prewrite: commitlog.PrewriteOff, StoreHost: netip.MustParseAddrPort("127.0.0.1:10911")}
	s := openStore(t, opts)
	body := bytes.Repeat([]byte("0123456789abcdef"), 64)
	batch := make([]*msg.Message, 32)
	began := time.Now()
	n := 0
	for s.CommitLog().End() < int64(*rebuildMB)<<20 {
		topic, q := fmt.Sprintf("Topic%d", n%4), int32(n/4%8)
		for i := range batch {
			batch[i] = &msg.Message{Topic: topic, QueueID: q, Body: body, BornTimestamp: time.Now().UnixMilli(),
				BornHost:   netip.MustParseAddrPort("10.0.0.1:40000"),
				Properties: fmt.Sprintf("UNIQ_KEY\x010A00000100009C40%016X\x02KEYS\x01order-%d\x02TAGS\x01tag%d\x02WAIT\x01true", n+i, n+i, (n+i)%8)}
		}
		if _, err := s.PutBatch(batch); err != nil {
			t.Fatal(err)
		}
		n += len(batch)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d messages in %v", n, time.Since(began))
	rep, err := Rebuild(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rebuild: %d records, %d bytes in %v: %.0f MB/s (total %v)", rep.Records, rep.Bytes, rep.Replay, rep.MBPerSec(), rep.Total)
	if rep.Records != int64(n) {
		t.Fatalf("rebuilt %d records, want %d", rep.Records, n)
	}
	crep, err := Check(CheckOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !crep.OK() {
		t.Fatalf("check: %v", crep.Problems)
	}
	t.Logf("check: commitlog scan %d bytes in %v (%.0f MB/s); whole check (queues, %d index probes) %v",
		crep.CommitLog.BytesScanned, crep.CommitLog.Duration, crep.CommitLog.MBPerSec(), crep.IndexProbes, crep.Duration)
}

// TestDeletedTopicStaysDeleted: a topic deleted after its records were
// dispatched keeps no queues through Check and a rebuild, while a topic
// recreated after the delete keeps the queues of its new records.
func TestDeletedTopicStaysDeleted(t *testing.T) {
	fs := vfs.NewMem()
	n := populate(t, fs) // 300 records of T, the rest of B
	s := openStore(t, testOptions(fs, commitlog.AsyncFlush))
	if err := s.Meta().DeleteQueues("B"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(newMsg("B", 1, 5000, "again")); err != nil { // recreated, another queue
		t.Fatal(err)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deleted := int64(n - 300)
	rep := checkStore(t, fs)
	if !rep.OK() || rep.DeletedRecords != deleted || rep.QueueEntries != 301 {
		t.Fatalf("check after the delete: problems %v, %d deleted records (want %d), %d entries, notes %v",
			rep.Problems, rep.DeletedRecords, deleted, rep.QueueEntries, rep.Notes)
	}
	before := snapshot(t, fs)
	if _, err := Rebuild(testOptions(fs, commitlog.AsyncFlush)); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, fs)
	if !reflect.DeepEqual(before.States, after.States) || !reflect.DeepEqual(before.Entries, after.Entries) {
		t.Fatalf("the rebuild brought deleted queues back: states %v, rebuilt %v", before.States, after.States)
	}
	if rep := checkStore(t, fs); !rep.OK() || rep.DeletedRecords != deleted {
		t.Fatalf("check after the rebuild: %v, %d deleted", rep.Problems, rep.DeletedRecords)
	}
}

// TestRebuildAfterRetentionKeepsQueueOffsets: Q/0's records all lay in a
// segment retention removed, and group G had committed Q/0's end. A
// rebuild finds no record of Q/0 in the log; the queue must still go on
// from 300 (RELIABILITY T7: queue offsets stay the same across a replay),
// or the next message gets offset 0 and G, resuming at 300, never reads it.
func TestRebuildAfterRetentionKeepsQueueOffsets(t *testing.T) {
	opts := testOptions(vfs.NewMem(), commitlog.SyncFlush)
	opts.FileReservedTime = time.Hour
	s := openStore(t, opts)
	for i := range 300 { // Q/0 lives only in the first segment
		if _, err := s.Put(newMsg("Q", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1500 { // B/0 fills later ones
		if _, err := s.Put(newMsg("B", 0, i, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CommitOffset("G", "Q", 0, 300); err != nil {
		t.Fatal(err)
	}
	settleDispatch(t, s)
	if n, err := s.CleanExpired(time.Now().Add(2 * time.Hour)); err != nil || n == 0 {
		t.Fatalf("retention removed %d segments: %v", n, err)
	}
	bBefore, _ := s.QueueState("B", 0)
	if st, _ := s.QueueState("Q", 0); st.Min != 300 || st.Max != 300 {
		t.Fatalf("fixture: Q/0 = %+v after retention, want [300, 300)", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Rebuild(opts); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, opts)
	defer s.Close()
	if st, ok := s.QueueState("Q", 0); !ok || st.Min != 300 || st.Max != 300 {
		t.Fatalf("after the rebuild Q/0 = %+v (known %v), want [300, 300)", st, ok)
	}
	if st, _ := s.QueueState("B", 0); st != bBefore {
		t.Fatalf("after the rebuild B/0 = %+v, want %+v as before", st, bBefore)
	}
	res, err := s.Put(newMsg("Q", 0, 999, ""))
	if err != nil {
		t.Fatal(err)
	}
	if res.QueueOffset != 300 {
		t.Fatalf("the next message of Q/0 got offset %d, want 300 (G resumes at 300)", res.QueueOffset)
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	off, _, _ := s.ConsumerOffset("G", "Q", 0)
	got, err := s.Get("Q", 0, off, 10, nil, nil)
	if err != nil || got.Status != Found || got.Count != 1 {
		t.Fatalf("G reading Q/0 from %d: status %v, %d records, %v", off, got.Status, got.Count, err)
	}
}

// flipInSealedSegment flips one byte in the middle of a record of the
// second CommitLog segment (sealed) of a closed store, and returns the
// segment's path and the record's offset.
func flipInSealedSegment(t *testing.T, fs vfs.FS) (path string, phys int64) {
	t.Helper()
	opts := testOptions(fs, commitlog.AsyncFlush)
	s := openStore(t, opts)
	var e queue.Entry
	err := s.Meta().ScanAllEntries(func(_ queue.Ref, _ int64, x queue.Entry) bool {
		e = x
		return x.Phys < opts.SegmentSize
	})
	segs := len(s.cl.Segments())
	if err := errors.Join(err, s.Close()); err != nil {
		t.Fatal(err)
	}
	if e.Phys < opts.SegmentSize || e.Phys >= 2*opts.SegmentSize || segs < 3 {
		t.Fatalf("fixture: entry at %d, %d segments", e.Phys, segs)
	}
	path = fs.PathJoin("data", "commitlog", commitlog.SegmentName(opts.SegmentSize))
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	at := e.Phys - opts.SegmentSize + int64(e.Size)/2
	if _, err := f.ReadAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	return path, e.Phys
}

// TestReplayErrorNamesSegment: when the dispatcher must replay a damaged
// record (derived data reset by an interrupted rebuild, or by Open itself),
// the start fails with ErrCorruption, and the error names the segment file
// and the offset in it, not only the log offset (RELIABILITY T3).
func TestReplayErrorNamesSegment(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	path, phys := flipInSealedSegment(t, fs)
	opts := testOptions(fs, commitlog.AsyncFlush)
	// Derived data intact: the record lies below the dispatch checkpoint.
	s := openStore(t, opts)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := opts.ensureDefaults(); err != nil {
		t.Fatal(err)
	}
	release, _, err := LockStore(fs, opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(resetDerived(opts), release()); err != nil {
		t.Fatal(err)
	}
	_, err = Open(opts)
	want := fmt.Sprintf("segment %s +%d (offset %d)", path, phys-opts.SegmentSize, phys)
	if err == nil || !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), want) {
		t.Fatalf("open replaying a damaged record: %v, want ErrCorruption naming %q", err, want)
	}
	t.Log(err)
}

// TestRebuildRefusesDamagedLog: a flipped byte in a sealed segment, with
// derived data intact: the store opens and serves the other records. A
// rebuild would delete the derived data and then stop at the damage, and
// the store would never start again; it refuses before deleting anything,
// with one line naming the segment file and the offset, and leaves every
// file as it was (RELIABILITY T3).
func TestRebuildRefusesDamagedLog(t *testing.T) {
	fs := vfs.NewMem()
	populate(t, fs)
	path, phys := flipInSealedSegment(t, fs)
	opts := testOptions(fs, commitlog.AsyncFlush)
	var err error
	unchanged(t, fs, opts.Dir, "the refused rebuild", func() { _, err = Rebuild(opts) })
	want := fmt.Sprintf("segment %s +%d (offset %d)", path, phys-opts.SegmentSize, phys)
	if err == nil || !errors.Is(err, ErrCorruption) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("rebuild of a damaged log: %v, want one line, ErrCorruption, naming %q", err, want)
	}
	t.Log(err)
	// The store still opens and serves.
	s := openStore(t, opts)
	defer s.Close()
	res, err := s.Get("T", 0, 0, 32, nil, nil)
	if err != nil || res.Status != Found || res.Count != 32 {
		t.Fatalf("get after the refused rebuild: %v %d records, %v", res.Status, res.Count, err)
	}
}

// TestRebuildAcceptsTornTail: a torn tail past the checkpoint of a crashed
// store is no reason to refuse a rebuild (Open's recovery cuts it).
func TestRebuildAcceptsTornTail(t *testing.T) {
	crashed, end, segSize := crashAfterPuts(t, false)
	f, err := crashed.OpenReadWrite("data/commitlog/"+commitlog.SegmentName(end-end%segSize), vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("torn torn torn"), end%segSize+10)
	f.Close()
	rep, err := Rebuild(testOptions(crashed, commitlog.SyncFlush))
	if err != nil || rep.Records != 600 {
		t.Fatalf("rebuild of a store with a torn tail: %+v, %v", rep, err)
	}
}
