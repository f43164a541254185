package autoswitch_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/broker/ha/autoswitch"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

// idTrust is a MasterOptions.Trusted whose answers a test changes: every
// IP is some replica's, and an id is trusted once listed.
type idTrust struct {
	mu  sync.Mutex
	ids map[int64]bool
	ips bool // the answer for id -1
}

func (tr *idTrust) trusted(id int64, _ netip.Addr) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if id < 0 {
		return tr.ips
	}
	return tr.ids[id]
}

func (tr *idTrust) list(id int64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ids[id] = true
}

// handshakeAs dials the master, shakes hands as replica id and returns
// the connection and a reader of the master's messages.
func handshakeAs(t *testing.T, addr string, id int64) (net.Conn, *autoswitch.MasterReader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(autoswitch.AppendSlaveHandshake(nil, autoswitch.SlaveHandshake{BrokerID: id})); err != nil {
		t.Fatal(err)
	}
	mr, err := autoswitch.NewMasterReader(bufio.NewReader(c), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return c, mr
}

// handshaken is handshakeAs that also reads the master's handshake, with
// a 5 s read deadline on the connection.
func handshaken(t *testing.T, addr string, id int64) (net.Conn, *autoswitch.MasterReader) {
	t.Helper()
	c, mr := handshakeAs(t, addr, id)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if hs, err := mr.Next(); err != nil || hs.State != autoswitch.Handshake {
		t.Fatalf("handshake %+v %v", hs, err)
	}
	return c, mr
}

// TestForgedReplicaConfirmsNothing: anyone who reaches the HA port can
// claim in its handshake the id of a SyncStateSet member. Its
// acknowledgements must not move the confirm offset (which answers
// SEND_OK and shows records to consumers) nor make it a follower the
// SyncStateSet takes in, until the name servers list that id at its IP.
// Before, a forged acknowledgement of the master's end confirmed records
// the real replica never received.
func TestForgedReplicaConfirmsNothing(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 0, 10)
	end := r.st.ReadableOffset()
	tr := &idTrust{ids: map[int64]bool{}, ips: true}
	m := startMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return []int64{1, 2} },
		Heartbeat:    50 * time.Millisecond, Housekeeping: 5 * time.Second,
		Trusted: tr.trusted, TrustRecheck: 10 * time.Millisecond,
	})

	c, _ := handshaken(t, m.Addr(), 2)
	if _, err := c.Write(autoswitch.AppendAck(nil, end)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		s := m.Slaves()
		return len(s) == 1 && s[0].Acked == end
	}, "the forged ack read")
	if err := m.WaitConfirmed(end, 300*time.Millisecond); !errors.Is(err, ha.ErrSlaveTimeout) {
		t.Fatalf("a forged replica 2's ack confirmed the log (confirm offset %d, end %d): %v", m.ConfirmOffset(), end, err)
	}
	if s := m.Slaves(); s[0].Trusted {
		t.Fatalf("a peer the name servers do not list is trusted: %+v", s)
	}

	// Once listed (the replica registered), its acks count.
	tr.list(2)
	testkit.Eventually(t, 5*time.Second, func() bool {
		if _, err := c.Write(autoswitch.AppendAck(nil, end)); err != nil {
			t.Fatal(err)
		}
		return m.ConfirmOffset() == end
	}, "replica 2's ack to count once listed")
}

// TestMasterBoundsStrangers: peers whose IP is no replica's hold at most
// MaxUntrusted connections at once; more are closed as they connect.
func TestMasterBoundsStrangers(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	tr := &idTrust{ids: map[int64]bool{}}
	m := startMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return []int64{1} }, Housekeeping: 5 * time.Second,
		Trusted: tr.trusted, MaxUntrusted: 4,
	})
	open := 0
	for i := range 12 {
		c, mr := handshakeAs(t, m.Addr(), int64(2+i))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		switch msg, err := mr.Next(); {
		case err == nil && msg.State == autoswitch.Handshake:
			open++
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err):
		default:
			t.Fatalf("stranger %d: %+v %v", i, msg, err)
		}
	}
	if open != 4 {
		t.Fatalf("%d strangers were answered, want MaxUntrusted 4", open)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestTrustedOnlyShipsNothingToStrangers: with TrustedOnly (aclEnable) a
// peer that is not a listed replica gets no CommitLog byte; once listed
// it does.
func TestTrustedOnlyShipsNothingToStrangers(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	put(t, r.st, 0, 10)
	tr := &idTrust{ids: map[int64]bool{}, ips: true}
	m := startMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return []int64{1} }, Housekeeping: 5 * time.Second,
		Trusted: tr.trusted, TrustRecheck: 10 * time.Millisecond, TrustedOnly: true,
	})
	c, mr := handshaken(t, m.Addr(), 2)
	if _, err := c.Write(autoswitch.AppendAck(nil, 0)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if f, err := mr.Next(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an unlisted peer was sent %+v (%d bytes), %v", f.Transfer, len(f.Body), err)
	}
	tr.list(2)
	if _, err := c.Write(autoswitch.AppendAck(nil, 0)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := mr.Next()
		if err != nil {
			t.Fatalf("the listed replica got no bytes: %v", err)
		}
		if f.Transfer.BodySize > 0 {
			break
		}
	}
}

// TestSlaveRefusesRecordOverrunningSegment: a master (or whatever the
// replica dialed) whose frame starts a record with a size field beyond
// what its segment has left is refused at once. Before, the replica kept
// every following frame in memory waiting for the record's end, up to
// 2 GiB.
func TestSlaveRefusesRecordOverrunningSegment(t *testing.T) {
	r := openReplica(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := follow(t, r, 2, ln.Addr().String())
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var hs [autoswitch.SlaveHandshakeSize]byte
	if _, err := io.ReadFull(c, hs[:]); err != nil {
		t.Fatal(err)
	}
	reply, err := autoswitch.AppendMasterHandshake(nil, autoswitch.MasterHandshake{
		MaxOffset: 4 * testSeg, LastEpoch: 1, Entries: []epoch.Entry{{Epoch: 1, Start: 0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(reply); err != nil {
		t.Fatal(err)
	}
	var ack [autoswitch.AckSize]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		t.Fatal(err)
	}
	// A record header claiming 1 GiB, then a segment's worth of bytes.
	frame := func(off int64, body []byte) {
		var h [autoswitch.TransferHeaderSize]byte
		autoswitch.PutTransferHeader(&h, autoswitch.TransferHeader{BodySize: int32(len(body)), Offset: off, Epoch: 1})
		c.Write(append(h[:], body...))
	}
	var rec [msg.BlankHeaderSize]byte
	binary.BigEndian.PutUint32(rec[0:], 1<<30)
	binary.BigEndian.PutUint32(rec[4:], msg.MagicCode)
	frame(0, rec[:])
	frame(int64(len(rec)), make([]byte, 8<<10))
	// The replica closes the connection: reads end, or are reset (acks
	// may come first); they do not time out.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the replica kept the connection of a master whose record overruns its segment: %v", err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(s.LastError(), "segment has")
	}, "the replica to say why: %q", s.LastError())
	if end := r.st.MaxPhysOffset(); end != 0 {
		t.Fatalf("the replica appended up to %d", end)
	}
}

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestReplicaStuckOnTheSameFailureLogsOnce: a replica with another
// mappedFileSizeCommitLog than its master takes the records up to the
// master's first BLANK, which does not fit its own segment, and fails
// there at every redial. It logs that once, not a "following the master"
// per redial (a line a second, for ever, before).
func TestReplicaStuckOnTheSameFailureLogsOnce(t *testing.T) {
	r := openReplica(t, t.TempDir())
	put(t, r.st, 0, 800) // past the first segment: a BLANK ends it
	sss := &atomic.Pointer[[]int64]{}
	sss.Store(&[]int64{1})
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.st.ResumeQueueOffsets(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	m := startMaster(t, autoswitch.MasterOptions{
		Listener: cl, Log: r.st, Epochs: r.epochs, BrokerID: 1, SyncStateSet: func() []int64 { return *sss.Load() },
		Heartbeat: 100 * time.Millisecond, Housekeeping: 2 * time.Second,
	})

	dir := t.TempDir()
	st := testkit.OpenStore(t, func(o *engine.Options) {
		o.SegmentSize = 2 * testSeg
		o.Dir = dir
		o.HoldUnconfirmed = true
	})
	eps, err := epoch.Open(vfs.Default, filepath.Join(dir, epoch.FileName))
	if err != nil {
		t.Fatal(err)
	}
	logger, lines := testkit.CaptureLog(t)
	s, err := autoswitch.NewSlave(autoswitch.SlaveOptions{
		MasterAddr: m.Addr, Log: st, Epochs: eps, BrokerID: 2,
		Heartbeat: 100 * time.Millisecond, Housekeeping: 2 * time.Second, Redial: 10 * time.Millisecond, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Close() })
	redials := func(n int64) {
		t.Helper()
		from := cl.n.Load()
		testkit.Eventually(t, 10*time.Second, func() bool { return cl.n.Load()-from >= n }, "%d redials", n)
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return s.LastError() != "" }, "the replica to fail")
	redials(2)
	before := lines.Count("msg=")
	redials(10)
	if n := lines.Count("msg=") - before; n > 0 {
		t.Fatalf("%d more lines over ten redials stuck at %d (last error %q)", n, st.MaxPhysOffset(), s.LastError())
	}
	if got := st.MaxPhysOffset(); got == 0 || got >= testSeg {
		t.Fatalf("replica end %d: want within the master's first segment (%d)", got, testSeg)
	}
}

// TestMasterWarnsOnceAboutARefusedReplica: a replica the master refuses
// at every redial (here its handshake names the master's own id) is
// warned about once per ha.WarnEvery, not once per redial.
func TestMasterWarnsOnceAboutARefusedReplica(t *testing.T) {
	r := openReplica(t, t.TempDir())
	if err := r.epochs.Append(1, 0); err != nil {
		t.Fatal(err)
	}
	logger, lines := testkit.CaptureLog(t)
	m := startMaster(t, autoswitch.MasterOptions{
		Log: r.st, Epochs: r.epochs, BrokerID: 1,
		SyncStateSet: func() []int64 { return []int64{1} }, Housekeeping: 5 * time.Second, Logger: logger,
	})
	for range 20 {
		c, _ := handshakeAs(t, m.Addr(), 1)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("a handshake with the master's own id was kept")
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return lines.Count("connection") >= 1 }, "a warning about the refusals")
	if n := lines.Count("connection"); n != 1 {
		t.Fatalf("%d lines about 20 refused connections, want 1", n)
	}
}
