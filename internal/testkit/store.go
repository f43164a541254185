package testkit

import (
	"net/netip"
	"testing"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// StoreHost is the store host of the bare stores of OpenStore.
var StoreHost = netip.MustParseAddrPort("127.0.0.1:10911")

// OpenStore opens a bare SYNC_FLUSH store, sized as above, logging to t,
// for the tests of a broker service without a broker; mut, if not nil,
// changes the options first. The store is in a temporary folder unless mut
// sets Dir, and is closed at cleanup (a second Close is harmless).
func OpenStore(t testing.TB, mut func(*engine.Options)) *engine.Store {
	t.Helper()
	opts := engine.Options{
		SegmentSize: SegmentSize, FlushMode: engine.SyncFlush,
		IndexSlots: IndexSlots, IndexEntriesPerFile: IndexEntries,
		StoreHost: StoreHost, Logger: Logger(t),
	}
	if mut != nil {
		mut(&opts)
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	st, err := engine.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// ReadQueue returns every record of queue queueID of topic in st, in
// queue order.
func ReadQueue(t testing.TB, st *engine.Store, topic string, queueID int32) []msg.Record {
	t.Helper()
	qs, ok := st.QueueState(topic, queueID)
	if !ok {
		return nil
	}
	var rs []msg.Record
	err := st.ScanQueue(topic, queueID, qs.Min, qs.Max, func(_ int64, e engine.QueueEntry) bool {
		rec, err := st.ReadRecord(e.Phys)
		if err != nil {
			t.Fatal(err)
		}
		r, err := msg.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
