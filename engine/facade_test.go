package engine

import (
	"maps"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestFacade: the methods the broker uses instead of the store's parts
// answer from the parts (positions, queues, offsets, config documents).
func TestFacade(t *testing.T) {
	s := openStore(t, testOptions(vfs.NewMem(), SyncFlush))
	defer s.Close()
	if _, ok := s.EarliestMessageTime(); ok {
		t.Fatal("EarliestMessageTime of an empty store")
	}
	var first PutResult
	for i := range 6 {
		res, err := s.Put(newMsg("T", int32(i%2), i, ""))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = res
		}
	}
	if err := s.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ts, ok := s.EarliestMessageTime(); !ok || ts != first.StoreTime {
		t.Fatalf("EarliestMessageTime %d %v, want %d", ts, ok, first.StoreTime)
	}
	st := s.LogStats()
	if st.MinOffset != s.MinPhysOffset() || st.MinOffset != 0 || st.End != s.MaxPhysOffset() || st.End == 0 ||
		st.Synced != st.End || st.Readable != st.End || st.Appends != 6 || st.Syncs == 0 {
		t.Fatalf("LogStats %+v, min %d max %d", st, s.MinPhysOffset(), s.MaxPhysOffset())
	}
	if err := s.WaitDurable(st.End); err != nil {
		t.Fatal(err)
	}
	want := map[QueueRef]QueueState{{Topic: "T", QueueID: 0}: {Max: 3}, {Topic: "T", QueueID: 1}: {Max: 3}}
	if got := s.Queues(); !maps.Equal(got, want) {
		t.Fatalf("Queues %v", got)
	}
	var offs []int64
	if err := s.ScanQueue("T", 1, 1, 10, func(o int64, e QueueEntry) bool {
		offs = append(offs, o)
		return true
	}); err != nil || len(offs) != 2 || offs[0] != 1 {
		t.Fatalf("ScanQueue %v %v", offs, err)
	}
	if e, ok, err := s.EntryAt("T", 0, 0); err != nil || !ok || e.Phys != first.Phys || e.StoreTime != first.StoreTime {
		t.Fatalf("EntryAt %+v %v %v, want phys %d", e, ok, err, first.Phys)
	}
	// GroupOffsets: one group's commits as stored, past the end included.
	for _, c := range []struct {
		group string
		q     int32
		off   int64
	}{{"G", 0, 2}, {"G", 1, 9}, {"H", 0, 1}} {
		if err := s.CommitOffset(c.group, "T", c.q, c.off); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.GroupOffsets("G"); err != nil || !maps.Equal(got, map[QueueRef]int64{{Topic: "T", QueueID: 0}: 2, {Topic: "T", QueueID: 1}: 9}) {
		t.Fatalf("GroupOffsets %v %v", got, err)
	}
	if err := s.PutTopicConfig("T", []byte("t")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroupConfig("G", []byte("g")); err != nil {
		t.Fatal(err)
	}
	if docs, err := s.TopicConfigs(); err != nil || string(docs["T"]) != "t" {
		t.Fatalf("TopicConfigs %q %v", docs, err)
	}
	if docs, err := s.GroupConfigs(); err != nil || string(docs["G"]) != "g" {
		t.Fatalf("GroupConfigs %q %v", docs, err)
	}
	if err := s.DeleteTopicConfig("T"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopicQueues("T"); err != nil {
		t.Fatal(err)
	}
	if docs, _ := s.TopicConfigs(); len(docs) != 0 || len(s.Queues()) != 0 {
		t.Fatalf("after delete: topics %q queues %v", docs, s.Queues())
	}
}
