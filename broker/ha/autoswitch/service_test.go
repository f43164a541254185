package autoswitch_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/broker/ha/autoswitch"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

const testSeg = 64 << 10

// replica is one broker's store and epoch file.
type replica struct {
	dir    string
	st     *engine.Store
	epochs *epoch.File
}

func openReplica(t *testing.T, dir string) *replica {
	t.Helper()
	st := testkit.OpenStore(t, func(o *engine.Options) {
		o.SegmentSize = testSeg
		o.Dir = dir
		o.HoldUnconfirmed = true
	})
	ep, err := epoch.Open(vfs.Default, filepath.Join(dir, epoch.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return &replica{dir: dir, st: st, epochs: ep}
}

func put(t *testing.T, st *engine.Store, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		m := &msg.Message{
			Topic: "T", QueueID: int32(i % 4), Body: bytes.Repeat([]byte{byte(i)}, 100+i%700),
			Properties: fmt.Sprintf("KEYS\x01k%d", i), BornTimestamp: time.Now().UnixMilli(),
			BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
		}
		if _, err := st.Put(m); err != nil {
			t.Fatal(err)
		}
	}
}

// becomeMaster does what a broker does when the controller elects it:
// a new epoch at its end, queue offsets from its log, the HA service.
func becomeMaster(t *testing.T, r *replica, ep int32, id int64, sss *atomic.Pointer[[]int64]) *autoswitch.Master {
	t.Helper()
	if err := r.epochs.Append(ep, r.st.MaxPhysOffset()); err != nil {
		t.Fatal(err)
	}
	if err := r.st.ResumeQueueOffsets(); err != nil {
		t.Fatal(err)
	}
	m := startMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: id,
		SyncStateSet: func() []int64 { return *sss.Load() },
		OnConfirm:    r.st.SetConfirmOffset,
		Heartbeat:    100 * time.Millisecond, Housekeeping: 2 * time.Second, BatchSize: 8 << 10,
	})
	return m
}

func follow(t *testing.T, r *replica, id int64, addr string) *autoswitch.Slave {
	t.Helper()
	s, err := autoswitch.NewSlave(autoswitch.SlaveOptions{
		MasterAddr: func() string { return addr }, Log: r.st, Epochs: r.epochs, BrokerID: id,
		Heartbeat: 100 * time.Millisecond, Housekeeping: 2 * time.Second, Redial: 20 * time.Millisecond,
		Logger: testkit.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

// startMaster starts a master with opts, on a loopback port unless opts
// has a Listener, logging to the test unless opts has a Logger; it is
// closed when the test ends.
func startMaster(t *testing.T, opts autoswitch.MasterOptions) *autoswitch.Master {
	t.Helper()
	if opts.Listener == nil {
		opts.Listen = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = testkit.Logger(t)
	}
	m, err := autoswitch.NewMaster(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// dialNewMaster starts a master with opts on a loopback port and returns a
// raw connection to it, for a test that plays the slave by hand; both are
// closed when the test ends.
func dialNewMaster(t *testing.T, opts autoswitch.MasterOptions) net.Conn {
	t.Helper()
	m := startMaster(t, opts)
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func logBytes(t *testing.T, st *engine.Store) []byte {
	t.Helper()
	var out []byte
	for p := st.MinPhysOffset(); p < st.ReadableOffset(); {
		n := min(st.ReadableOffset()-p, testSeg-p%testSeg)
		buf := make([]byte, n)
		if err := st.ReadLog(buf, p); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf...)
		p += n
	}
	return out
}

// visible counts the messages a consumer sees in topic T.
func visible(t *testing.T, st *engine.Store) int {
	t.Helper()
	n := 0
	for q := int32(0); q < 4; q++ {
		n += len(testkit.ReadQueue(t, st, "T", q))
	}
	return n
}

func keyFound(t *testing.T, st *engine.Store, i int) bool {
	t.Helper()
	recs, err := st.QueryByKey("T", fmt.Sprintf("k%d", i), 4, 0, time.Now().Add(time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return len(recs) > 0
}

// TestFailoverConvergence: A is master in epoch 1 and B follows; B is cut
// off while A takes a tail that B never gets (and that A's consumers never
// see: the SyncStateSet did not confirm it); A goes, B becomes master in
// epoch 2 and takes new messages; A returns as B's slave, cuts its
// divergent tail at the consistent point, and converges on B byte for
// byte, epoch file included, with the cut messages gone from its queues
// and index.
func TestFailoverConvergence(t *testing.T) {
	a, b := openReplica(t, t.TempDir()), openReplica(t, t.TempDir())
	var sss atomic.Pointer[[]int64]
	both := []int64{1, 2}
	sss.Store(&both)

	ma := becomeMaster(t, a, 1, 1, &sss)
	sb := follow(t, b, 2, ma.Addr())
	put(t, a.st, 0, 300)
	// Readable, not MaxPhysOffset: an append is in the log before it is
	// synced.
	testkit.Eventually(t, 10*time.Second, func() bool { return b.st.ReadableOffset() == a.st.ReadableOffset() },
		"B to copy A (%d of %d)", b.st.ReadableOffset(), a.st.ReadableOffset())
	confirmed := a.st.MaxPhysOffset()
	if err := ma.WaitConfirmed(confirmed, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if sl := ma.Slaves(); len(sl) != 1 || sl[0].ID != 2 || sl[0].Acked != confirmed || sl[0].CaughtUp.IsZero() {
		t.Fatalf("A's view of B: %+v", sl)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return visible(t, a.st) == 300 && visible(t, b.st) == 300 },
		"both to serve the 300 confirmed messages (A %d, B %d)", visible(t, a.st), visible(t, b.st))

	// B is cut off; A takes a tail nobody else holds.
	sb.Close()
	testkit.Eventually(t, 5*time.Second, func() bool { return len(ma.Slaves()) == 0 }, "A to drop B")
	put(t, a.st, 300, 400)
	if err := ma.WaitConfirmed(a.st.MaxPhysOffset(), 300*time.Millisecond); err == nil {
		t.Fatal("A confirmed a tail B does not hold")
	}
	if ma.ConfirmOffset() != confirmed {
		t.Fatalf("A's confirm offset moved to %d without B (was %d)", ma.ConfirmOffset(), confirmed)
	}
	if n := visible(t, a.st); n != 300 || keyFound(t, a.st, 350) {
		t.Fatalf("A's consumers see %d messages (key 350 found: %v): the unconfirmed tail leaked", n, keyFound(t, a.st, 350))
	}

	// A dies; B is elected in epoch 2 and takes writes alone, then with A.
	ma.Close()
	onlyB := []int64{2}
	sss.Store(&onlyB)
	mb := becomeMaster(t, b, 2, 2, &sss)
	put(t, b.st, 1000, 1100)
	testkit.Eventually(t, 5*time.Second, func() bool { return visible(t, b.st) == 400 }, "B to serve its own writes")
	sss.Store(&both)

	// A returns as B's slave.
	follow(t, a, 1, mb.Addr())
	testkit.Eventually(t, 10*time.Second, func() bool { return a.st.ReadableOffset() == b.st.ReadableOffset() },
		"A to converge on B (%d of %d)", a.st.ReadableOffset(), b.st.ReadableOffset())
	if la, lb := logBytes(t, a.st), logBytes(t, b.st); !bytes.Equal(la, lb) {
		at := 0
		for at < min(len(la), len(lb)) && la[at] == lb[at] {
			at++
		}
		t.Fatalf("A's CommitLog (%d bytes) differs from B's (%d bytes) at %d (cut at %d)", len(la), len(lb), at, confirmed)
	}
	ea, eb := a.epochs.Entries(), b.epochs.Entries()
	if len(ea) != 2 || len(eb) != 2 || ea[1] != eb[1] || ea[1].Start != confirmed {
		t.Fatalf("epochs: A %v, B %v (epoch 2 should start at %d)", ea, eb, confirmed)
	}
	put(t, b.st, 1100, 1150)
	if err := mb.WaitConfirmed(b.st.MaxPhysOffset(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return visible(t, a.st) == 450 && visible(t, b.st) == 450 },
		"both to serve 450 messages (A %d, B %d)", visible(t, a.st), visible(t, b.st))
	for _, i := range []int{350, 399} {
		if keyFound(t, a.st, i) || keyFound(t, b.st, i) {
			t.Fatalf("message %d of A's cut tail is still found", i)
		}
	}
	for _, i := range []int{10, 1050, 1149} {
		if !keyFound(t, a.st, i) {
			t.Fatalf("message %d missing on A", i)
		}
	}
	// The queue offsets continue across the epochs on both.
	for q := int32(0); q < 4; q++ {
		ra, rb := testkit.ReadQueue(t, a.st, "T", q), testkit.ReadQueue(t, b.st, "T", q)
		for i := range rb {
			if rb[i].QueueOffset != int64(i) || ra[i].QueueOffset != int64(i) {
				t.Fatalf("queue %d entry %d: offsets %d on B, %d on A", q, i, rb[i].QueueOffset, ra[i].QueueOffset)
			}
		}
	}
}

// TestFramesStayInOneEpoch: a raw slave that asks for everything gets
// frames that never cross an epoch's start, a segment's end or the batch
// size, each with its epoch and that epoch's start.
func TestFramesStayInOneEpoch(t *testing.T) {
	r := openReplica(t, t.TempDir())
	var sss atomic.Pointer[[]int64]
	self := []int64{1}
	sss.Store(&self)
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 0, 200)
	if err := r.epochs.Append(2, r.st.MaxPhysOffset()); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 200, 400)
	if err := r.epochs.Append(3, r.st.MaxPhysOffset()); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 400, 450)
	c := dialNewMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return *sss.Load() }, Heartbeat: time.Hour, Housekeeping: 5 * time.Second,
		BatchSize: 5000, CatchUpBatchSize: 12000,
	})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(autoswitch.AppendAck(autoswitch.AppendSlaveHandshake(nil, autoswitch.SlaveHandshake{BrokerID: 9}), 0)); err != nil {
		t.Fatal(err)
	}
	mr, _ := autoswitch.NewMasterReader(bufio.NewReader(c), 1<<20)
	hs, err := mr.Next()
	if err != nil || hs.State != autoswitch.Handshake || len(hs.Handshake.Entries) != 3 || hs.Handshake.MaxOffset != r.st.ReadableOffset() {
		t.Fatalf("handshake %+v %v", hs, err)
	}
	end := r.st.ReadableOffset()
	next := int64(0)
	for next < end {
		f, err := mr.Next()
		if err != nil {
			t.Fatalf("frame after %d: %v", next, err)
		}
		h := f.Transfer
		if h.BodySize == 0 {
			continue
		}
		e, ok := r.epochs.EntryFor(h.Offset)
		switch {
		case h.Offset != next:
			t.Fatalf("frame at %d, want %d", h.Offset, next)
		case !ok || h.Epoch != e.Epoch || h.EpochStart != e.Start:
			t.Fatalf("frame at %d says epoch %d from %d; the file says %v", h.Offset, h.Epoch, h.EpochStart, e)
		case h.Offset+int64(h.BodySize) > e.End:
			t.Fatalf("frame [%d, %d) crosses the start %d of the next epoch", h.Offset, h.Offset+int64(h.BodySize), e.End)
		case h.Offset/testSeg != (h.Offset+int64(h.BodySize)-1)/testSeg:
			t.Fatalf("frame [%d, %d) crosses a segment end", h.Offset, h.Offset+int64(h.BodySize))
		case h.BodySize > 12000:
			t.Fatalf("frame of %d bytes", h.BodySize)
		}
		next += int64(h.BodySize)
	}
}

// A short frame waits while the slave has not acknowledged the frames
// before it, and a grown confirm offset waits for a frame to carry it
// (both at most MaxHold, here longer than the test): one frame and one
// ack cover the records and the confirmation of a replication round trip.
func TestShortFramesAndConfirmationsWaitForAcks(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 0, 10)
	end0 := r.st.ReadableOffset()
	c := dialNewMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return []int64{1, 9} }, Heartbeat: time.Hour, Housekeeping: time.Minute,
		MaxHold: time.Minute,
	})
	ack := func(off int64) {
		if _, err := c.Write(autoswitch.AppendAck(nil, off)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(autoswitch.AppendSlaveHandshake(nil, autoswitch.SlaveHandshake{BrokerID: 9})); err != nil {
		t.Fatal(err)
	}
	mr, _ := autoswitch.NewMasterReader(bufio.NewReader(c), 1<<20)
	next := func(within time.Duration) (autoswitch.MasterMessage, error) {
		c.SetReadDeadline(time.Now().Add(within))
		return mr.Next()
	}
	if hs, err := next(5 * time.Second); err != nil || hs.State != autoswitch.Handshake {
		t.Fatalf("handshake %+v %v", hs, err)
	}
	ack(end0) // the slave holds everything: confirm offset end0

	// The new confirm offset alone is not worth a frame yet.
	if f, err := next(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a heartbeat for the confirm offset alone left at once: %+v, %v", f.Transfer, err)
	}
	// A record with nothing unacknowledged leaves at once, and carries it.
	put(t, r.st, 10, 11)
	end1 := r.st.ReadableOffset()
	f, err := next(5 * time.Second)
	if err != nil || f.Transfer.Offset != end0 || f.Transfer.Offset+int64(f.Transfer.BodySize) != end1 || f.Transfer.ConfirmOffset != end0 {
		t.Fatalf("first frame %+v, %v; want [%d, %d) confirming %d", f.Transfer, err, end0, end1, end0)
	}
	// Unacknowledged: the next records wait...
	put(t, r.st, 11, 14)
	end4 := r.st.ReadableOffset()
	if f, err := next(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a short frame left before the slave acknowledged the one before it: %+v, %v", f.Transfer, err)
	}
	// ...and leave in one frame with the new confirm offset on the ack.
	ack(end1)
	f, err = next(5 * time.Second)
	if err != nil || f.Transfer.Offset != end1 || f.Transfer.Offset+int64(f.Transfer.BodySize) != end4 || f.Transfer.ConfirmOffset != end1 {
		t.Fatalf("after the ack: frame %+v, %v; want [%d, %d) confirming %d", f.Transfer, err, end1, end4, end1)
	}
}

// A replica whose log holds records but no epochs (a store from classic
// mode, or an epoch file lost) cannot show where its log agrees with the
// master's: it is refused, with what to do, and the master confirms
// nothing on its word. Taken as it was, its end counted as an
// acknowledgement of the master's bytes at those offsets, another history's.
func TestReplicaWithoutEpochsIsRefused(t *testing.T) {
	m, s := openReplica(t, t.TempDir()), openReplica(t, t.TempDir())
	put(t, s.st, 0, 10) // the replica's own records; no epochs
	both := []int64{1, 2}
	var sss atomic.Pointer[[]int64]
	sss.Store(&both)
	mm := becomeMaster(t, m, 1, 1, &sss)
	put(t, m.st, 0, 20) // other records at the same offsets
	sEnd := s.st.MaxPhysOffset()
	sl := follow(t, s, 2, mm.Addr())
	testkit.Eventually(t, 5*time.Second, func() bool { return sl.LastError() != "" },
		"the replica's first attempt")
	if !strings.Contains(sl.LastError(), "no epoch entries") {
		t.Fatalf("replica's error %q, want the missing epochs named", sl.LastError())
	}
	time.Sleep(300 * time.Millisecond) // a few redials
	if c := mm.ConfirmOffset(); c >= 0 {
		t.Fatalf("master confirmed %d with the epochless replica (end %d) in its set", c, sEnd)
	}
	if got := s.st.MaxPhysOffset(); got != sEnd {
		t.Fatalf("the refused replica's log changed: %d, was %d", got, sEnd)
	}
}
