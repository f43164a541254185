package ha_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
)

const testSeg = 256 << 10

func openLog(t *testing.T, dir string) *engine.Store {
	return testkit.OpenStore(t, func(o *engine.Options) {
		o.SegmentSize = testSeg
		o.FlushMode = engine.AsyncFlush
		if dir != "" {
			o.Dir = dir
		}
	})
}

func put(t *testing.T, st *engine.Store, from, to int) int64 {
	t.Helper()
	var end int64
	for i := from; i < to; i++ {
		m := &msg.Message{
			Topic: "T", QueueID: int32(i % 4), Body: bytes.Repeat([]byte{byte(i)}, 100+i%900),
			Properties: fmt.Sprintf("KEYS\x01k%d", i), BornTimestamp: time.Now().UnixMilli(),
			BornHost: netip.MustParseAddrPort("127.0.0.1:5555"),
		}
		_, e, err := st.PutBatchNoWait([]*msg.Message{m})
		if err != nil {
			t.Fatal(err)
		}
		end = e
	}
	if err := st.WaitPut(end); err != nil {
		t.Fatal(err)
	}
	return end
}

func startMaster(t *testing.T, st *engine.Store, mut func(*ha.MasterOptions)) *ha.Master {
	opts := ha.MasterOptions{Listen: "127.0.0.1:0", Log: st, Heartbeat: 100 * time.Millisecond,
		Housekeeping: time.Second, Logger: testkit.Logger(t)}
	if mut != nil {
		mut(&opts)
	}
	m, err := ha.NewMaster(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func startSlave(t *testing.T, st *engine.Store, addr func() string) *ha.Slave {
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: addr, Log: st, Heartbeat: 100 * time.Millisecond,
		Housekeeping: time.Second, Redial: 20 * time.Millisecond, Logger: testkit.Logger(t)})
	s.Start()
	t.Cleanup(func() { s.Close() })
	return s
}

func sameLog(t *testing.T, a, b *engine.Store) {
	t.Helper()
	if a.ReadableOffset() != b.ReadableOffset() {
		t.Fatalf("readable ends differ: %d and %d", a.ReadableOffset(), b.ReadableOffset())
	}
	for p := int64(0); p < a.ReadableOffset(); {
		n := min(a.ReadableOffset()-p, testSeg-p%testSeg)
		x, y := make([]byte, n), make([]byte, n)
		if err := a.ReadLog(x, p); err != nil {
			t.Fatal(err)
		}
		if err := b.ReadLog(y, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Fatalf("CommitLogs differ in [%d, %d)", p, p+n)
		}
		p += n
	}
}

// A slave follows a master over the HA port: it copies the backlog and
// then each new record, byte for byte, resumes from its own end after a
// restart, and its reports release SYNC_MASTER waits.
func TestMasterSlaveFollow(t *testing.T) {
	master := openLog(t, "")
	put(t, master, 0, 1500) // several segments before the slave comes
	m := startMaster(t, master, nil)
	slaveDir := t.TempDir()
	slave := openLog(t, slaveDir)
	s := startSlave(t, slave, m.Addr)
	testkit.Eventually(t, 10*time.Second, func() bool { return slave.ReadableOffset() == master.ReadableOffset() },
		"slave to copy the backlog (%d of %d)", slave.ReadableOffset(), master.ReadableOffset())
	sameLog(t, master, slave)

	// Each new send is confirmed by the slave.
	for i := 1500; i < 1600; i++ {
		end := put(t, master, i, i+1)
		if err := m.WaitReplicated(end, 5*time.Second); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if got := slave.MaxPhysOffset(); got < end {
			t.Fatalf("confirmed at %d but the slave holds only %d", end, got)
		}
	}
	st := m.Slaves()
	if len(st) != 1 || !st[0].Trusted || st[0].Acked != master.ReadableOffset() || st[0].LagBytes != 0 {
		t.Fatalf("status: %+v", st)
	}

	// The slave goes away: the master notices and answers "no slave".
	s.Close()
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the master to drop the slave")
	end := put(t, master, 1600, 1700)
	if err := m.WaitReplicated(end, time.Second); !errors.Is(err, ha.ErrNoSlave) {
		t.Fatalf("without a slave: %v", err)
	}

	// It returns and resumes from its own end.
	slave = openLog(t, slaveDir)
	startSlave(t, slave, m.Addr)
	testkit.Eventually(t, 10*time.Second, func() bool { return slave.ReadableOffset() == master.ReadableOffset() },
		"returning slave to catch up")
	sameLog(t, master, slave)
	if err := slave.WaitDispatched(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for q := int32(0); q < 4; q++ {
		a, b := testkit.ReadQueue(t, master, "T", q), testkit.ReadQueue(t, slave, "T", q)
		if len(a) != 425 || len(b) != len(a) {
			t.Fatalf("queue %d: master %d records, slave %d", q, len(a), len(b))
		}
	}
}

// rawSlave is a hand-driven slave connection for the master's checks.
func rawSlave(t *testing.T, addr string, first int64) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var b [ha.ReportSize]byte
	ha.PutReport(&b, first)
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	return c
}

// reportedSlave is rawSlave reporting first, with a reader of the frames
// it gets, once the master has read that report.
func reportedSlave(t *testing.T, m *ha.Master, first int64) (net.Conn, *ha.FrameReader) {
	t.Helper()
	c := rawSlave(t, m.Addr(), first)
	fr, err := ha.NewFrameReader(c, testSeg, ha.MaxBodySize)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { s := m.Slaves(); return len(s) == 1 && s[0].Acked == first },
		"the first report to be read")
	return c, fr
}

// A slave that stops confirming makes a SYNC_MASTER send time out; one
// the name servers do not list releases nothing; one that reports beyond
// the master's end is cut off (apache/rocketmq#3015).
func TestMasterWaitsOnlyForTrustedConfirmations(t *testing.T) {
	master := openLog(t, "")
	end0 := put(t, master, 0, 10)
	var trusted atomic.Bool
	m := startMaster(t, master, func(o *ha.MasterOptions) {
		o.Trusted = func(netip.Addr) bool { return trusted.Load() }
		o.TrustRecheck = 10 * time.Millisecond
	})

	// Untrusted: its report, although valid, counts for nothing.
	c := rawSlave(t, m.Addr(), end0)
	testkit.Eventually(t, 5*time.Second, func() bool { s := m.Slaves(); return len(s) == 1 && s[0].Acked == end0 },
		"the first report to be read")
	if err := m.WaitReplicated(end0, 100*time.Millisecond); !errors.Is(err, ha.ErrNoSlave) {
		t.Fatalf("untrusted slave: %v", err)
	}

	// Trusted, but it never confirms the new record: a timeout, not SEND_OK.
	trusted.Store(true)
	var b [ha.ReportSize]byte
	ha.PutReport(&b, end0)
	testkit.Eventually(t, 5*time.Second, func() bool {
		if _, err := c.Write(b[:]); err != nil { // heartbeats: each may re-read trust
			t.Fatal(err)
		}
		s := m.Slaves()
		return len(s) == 1 && s[0].Trusted
	}, "trust to be re-read")
	end1 := put(t, master, 10, 11)
	began := time.Now()
	if err := m.WaitReplicated(end1, 300*time.Millisecond); !errors.Is(err, ha.ErrSlaveTimeout) {
		t.Fatalf("silent slave: %v", err)
	}
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Fatalf("timed out after %v, before slaveTimeout", d)
	}
	// It confirms: the wait succeeds.
	ha.PutReport(&b, end1)
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReplicated(end1, 5*time.Second); err != nil {
		t.Fatalf("confirmed: %v", err)
	}

	// A report beyond what the master has: the connection is closed.
	ha.PutReport(&b, end1+1000)
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the lying slave to be dropped")
	c2 := rawSlave(t, m.Addr(), end1+1000) // also as a first report
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c2.Read(make([]byte, 64)); err == nil {
		t.Fatal("a first report beyond the end got frames")
	}
}

// A slave with another segment size refuses the master's bytes and says
// why; it does not append what does not fit.
func TestSlaveRefusesOtherSegmentSize(t *testing.T) {
	master := openLog(t, "")
	put(t, master, 0, 800)
	m := startMaster(t, master, nil)
	slave := testkit.OpenStore(t, func(o *engine.Options) { o.SegmentSize = 2 * testSeg })
	s := startSlave(t, slave, m.Addr)
	testkit.Eventually(t, 10*time.Second, func() bool { return s.State().LastError != "" }, "the slave to fail")
	if e := s.State().LastError; !bytes.Contains([]byte(e), []byte("mappedFileSizeCommitLog")) {
		t.Fatalf("error does not name the setting: %s", e)
	}
	if got := slave.MaxPhysOffset(); got > testSeg {
		t.Fatalf("slave appended past the master's first segment end: %d", got)
	}
}

// An empty slave of a master that no longer holds its first segments
// starts its log at the master's oldest one (or, with syncFromLastFile on
// the master, at its last one) and holds the same bytes from there.
func TestEmptySlaveStartsAtMastersStart(t *testing.T) {
	for _, lastFile := range []bool{false, true} {
		t.Run(fmt.Sprintf("syncFromLastFile=%v", lastFile), func(t *testing.T) {
			master := openLog(t, "")
			put(t, master, 0, 2000)
			if err := master.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := master.CommitLog().RemoveSegmentsBefore(2 * testSeg); err != nil {
				t.Fatal(err)
			}
			want := master.MinPhysOffset()
			if lastFile {
				want = master.ReadableOffset() - master.ReadableOffset()%testSeg
			}
			if want == 0 {
				t.Fatal("the master still starts at 0")
			}
			m := startMaster(t, master, func(o *ha.MasterOptions) { o.FromLastFile = lastFile })
			slave := openLog(t, "")
			startSlave(t, slave, m.Addr)
			testkit.Eventually(t, 10*time.Second, func() bool { return slave.ReadableOffset() == master.ReadableOffset() },
				"the slave to catch up")
			if got := slave.MinPhysOffset(); got != want {
				t.Fatalf("slave starts at %d, want %d", got, want)
			}
			end := put(t, master, 2000, 2010)
			if err := m.WaitReplicated(end, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A frame shorter than a batch waits while the slave has not reported the
// frame before it (the master's hold): the records appended meanwhile
// leave together once the report comes, or after MaxHold without one.
func TestShortFramesWaitForTheSlavesReport(t *testing.T) {
	master := openLog(t, "")
	end0 := put(t, master, 0, 10)
	const longHold = time.Minute // a hold that cannot end by itself in this test
	m := startMaster(t, master, func(o *ha.MasterOptions) {
		o.Heartbeat = time.Hour // no empty frames in the way
		o.Housekeeping = time.Minute
		o.MaxHold = longHold
		o.CatchUpBatchSize = ha.DefaultTransferBatchSize // a backlog in batches, leaving a short rest
	})
	c, fr := reportedSlave(t, m, end0)
	next := func(want int64, within time.Duration) (ha.Frame, error) {
		c.SetReadDeadline(time.Now().Add(within))
		return fr.Next(want)
	}
	report := func(off int64) {
		var b [ha.ReportSize]byte
		ha.PutReport(&b, off)
		if _, err := c.Write(b[:]); err != nil {
			t.Fatal(err)
		}
	}

	// Nothing unreported: the first record leaves at once.
	end1 := put(t, master, 10, 11)
	f, err := next(end0, 5*time.Second)
	if err != nil || f.Offset != end0 || f.End() != end1 {
		t.Fatalf("first frame [%d, %d), err %v; want [%d, %d)", f.Offset, f.End(), err, end0, end1)
	}
	// Unreported: the next records wait...
	end4 := put(t, master, 11, 14)
	if f, err := next(end1, 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a short frame left before the slave reported the one before it: [%d, %d), err %v", f.Offset, f.End(), err)
	}
	// ...and leave in one frame once the slave reports.
	report(end1)
	f, err = next(end1, 5*time.Second)
	if err != nil || f.Offset != end1 || f.End() != end4 {
		t.Fatalf("after the report: frame [%d, %d), err %v; want the three held records [%d, %d)", f.Offset, f.End(), err, end1, end4)
	}
	report(end4)
	// A backlog of a batch or more is never held: full batches (or ones a
	// segment's end cuts) leave without reports; only the short rest waits.
	// (The first frame may be short: with everything reported, the
	// sender takes what the appends have written so far.)
	endBig := put(t, master, 14, 200)
	got := end4
	for first := true; ; first = false {
		f, err := next(got, 300*time.Millisecond)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("backlog [%d, %d): at %d: %v", end4, endBig, got, err)
		}
		if !first && f.End()-f.Offset < int64(ha.DefaultTransferBatchSize) && f.End()%testSeg != 0 {
			t.Fatalf("a short frame [%d, %d) left while [%d, %d) was unreported", f.Offset, f.End(), end4, f.Offset)
		}
		got = f.End()
	}
	if endBig-got >= int64(ha.DefaultTransferBatchSize) {
		t.Fatalf("backlog: only [%d, %d) of [%d, %d) arrived without reports", end4, got, end4, endBig)
	}
	report(got)
	if f, err := next(got, 5*time.Second); err != nil || f.End() != endBig {
		t.Fatalf("the backlog's rest: [%d, %d), %v; want it to end at %d", f.Offset, f.End(), err, endBig)
	}
	if fr := m.Slaves()[0].Frames; fr < 3 {
		t.Fatalf("Frames %d, want at least the 3 sent", fr)
	}
}

// Without reports a held frame still leaves after MaxHold.
func TestHeldFrameLeavesAfterMaxHold(t *testing.T) {
	master := openLog(t, "")
	end0 := put(t, master, 0, 10)
	const holdFor = 50 * time.Millisecond
	m := startMaster(t, master, func(o *ha.MasterOptions) {
		o.Heartbeat = time.Hour
		o.MaxHold = holdFor
	})
	c, fr := reportedSlave(t, m, end0)
	end1 := put(t, master, 10, 11)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := fr.Next(end0); err != nil || f.End() != end1 {
		t.Fatalf("first frame: [%d, %d), %v", f.Offset, f.End(), err)
	}
	began := time.Now()
	end2 := put(t, master, 11, 12)
	f, err := fr.Next(end1)
	if err != nil || f.End() != end2 {
		t.Fatalf("held frame: [%d, %d), %v; want it to end at %d", f.Offset, f.End(), err, end2)
	}
	if d := time.Since(began); d < holdFor {
		t.Fatalf("the held frame left after %v, before MaxHold %v with no report", d, holdFor)
	}
}

// A slave fed by a hand-driven master: frames cut records at random
// points (never a segment end), heartbeats come in between, and bursts of
// frames arrive in one write. It ends with the master's bytes, its last
// report is the master's end and no report runs ahead of what was sent.
// A frame at a wrong offset ends the connection; the slave redials and
// reports its own end again.
func TestSlaveUnderHandDrivenMaster(t *testing.T) {
	source := openLog(t, "")
	end := put(t, source, 0, 700) // a little more than one segment
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	slave := openLog(t, "")
	s := startSlave(t, slave, func() string { return ln.Addr().String() })

	accept := func(wantReport int64) net.Conn {
		t.Helper()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		var b [ha.ReportSize]byte
		if got, err := ha.ReadReport(c, &b); err != nil || got != wantReport {
			t.Fatalf("first report %d (%v), want %d", got, err, wantReport)
		}
		return c
	}
	c := accept(0)
	var sent, lastReport atomic.Int64
	var ahead atomic.Bool
	reportsDone := make(chan struct{})
	go func() {
		defer close(reportsDone)
		var b [ha.ReportSize]byte
		for {
			got, err := ha.ReadReport(c, &b)
			if err != nil {
				return
			}
			if got > sent.Load() {
				ahead.Store(true)
			}
			lastReport.Store(got)
		}
	}()

	frame := func(w *bytes.Buffer, off int64, body []byte) {
		var h [ha.HeaderSize]byte
		ha.PutHeader(&h, ha.Header{Offset: off, Size: int32(len(body))})
		w.Write(h[:])
		w.Write(body)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var burst bytes.Buffer
	for p := int64(0); p < end; {
		n := min(int64(1+rng.IntN(20000)), end-p, testSeg-p%testSeg)
		body := make([]byte, n)
		if err := source.ReadLog(body, p); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(4) == 0 {
			frame(&burst, p, nil) // a heartbeat
		}
		frame(&burst, p, body)
		p += n
		if rng.IntN(3) == 0 || p == end {
			sent.Store(p)
			if _, err := c.Write(burst.Bytes()); err != nil {
				t.Fatal(err)
			}
			burst.Reset()
		}
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return lastReport.Load() == end },
		"the slave to report the end %d (last report %d)", end, lastReport.Load())
	sameLog(t, source, slave)
	if ahead.Load() {
		t.Fatal("a report ran ahead of the bytes sent")
	}

	// A frame that does not start at the slave's end.
	var bad bytes.Buffer
	frame(&bad, end+7, []byte("0123456789"))
	if _, err := c.Write(bad.Bytes()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reportsDone: // the slave closed the connection
	case <-time.After(5 * time.Second):
		t.Fatal("the slave kept a connection that sent a frame at the wrong offset")
	}
	accept(end)
	if e := s.State().LastError; !strings.Contains(e, "slave end") {
		t.Fatalf("last error %q does not say where the slave ends", e)
	}
	if got := slave.MaxPhysOffset(); got != end {
		t.Fatalf("slave end %d after the bad frame, want %d", got, end)
	}
}
