package engine

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
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
	rep, err := Rebuild(opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != int64(n) || rep.Queues != 4 || rep.Bytes <= 0 {
		t.Fatalf("report: %+v", rep)
	}
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
