package ha_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
)

// handMaster is a hand-driven master: a listener the slave dials, and
// helpers to accept its connections and write frames of any shape.
type handMaster struct {
	t  *testing.T
	ln net.Listener
}

func newHandMaster(t *testing.T) *handMaster {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &handMaster{t: t, ln: ln}
}

func (h *handMaster) addr() string { return h.ln.Addr().String() }

// accept takes the slave's next connection and checks its first report.
func (h *handMaster) accept(wantReport int64) net.Conn {
	h.t.Helper()
	if tl, ok := h.ln.(*net.TCPListener); ok {
		tl.SetDeadline(time.Now().Add(10 * time.Second))
	}
	c, err := h.ln.Accept()
	if err != nil {
		h.t.Fatalf("the slave did not (re)dial: %v", err)
	}
	h.t.Cleanup(func() { c.Close() })
	var b [ha.ReportSize]byte
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := ha.ReadReport(c, &b); err != nil || got != wantReport {
		h.t.Fatalf("first report %d (%v), want %d", got, err, wantReport)
	}
	return c
}

// rawFrame writes a header saying off and size, then body (size need
// not be len(body)).
func rawFrame(w *bytes.Buffer, off int64, size int32, body []byte) {
	var hdr [ha.HeaderSize]byte
	ha.PutHeader(&hdr, ha.Header{Offset: off, Size: size})
	w.Write(hdr[:])
	w.Write(body)
}

// closedBySlave reads (and drops) what the slave reports until it closes
// the connection; it reports whether that happened within d, and the
// last report read.
func closedBySlave(c net.Conn, d time.Duration) (bool, int64) {
	c.SetReadDeadline(time.Now().Add(d))
	var b [ha.ReportSize]byte
	last := int64(-1)
	for {
		got, err := ha.ReadReport(c, &b)
		if err != nil {
			ne, ok := err.(net.Error)
			return !(ok && ne.Timeout()), last
		}
		last = got
	}
}

// A slave under a master that sends malformed frames closes the
// connection, appends nothing it did not verify, and redials reporting
// its own end; it never buffers more than a record can be (a record's
// size field that lies beyond its segment is refused as soon as it is
// read, not after gigabytes).
func TestSlaveRefusesMalformedStream(t *testing.T) {
	source := openLog(t, "")
	put(t, source, 0, 700) // a little more than one segment
	// The prefix the slave gets first: the whole records of the first
	// 100 KiB.
	first := make([]byte, 100<<10)
	if err := source.ReadLog(first, 0); err != nil {
		t.Fatal(err)
	}
	n, err := msg.WholeUnits(first)
	if err != nil {
		t.Fatal(err)
	}
	prefix := first[:n]
	k := int64(n)
	// The next record, whole, to damage in several ways.
	size, _, err := msg.PeekHeader(first[n:])
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, size)
	if err := source.ReadLog(rec, k); err != nil {
		t.Fatal(err)
	}
	damaged := func(f func(b []byte)) []byte {
		b := bytes.Clone(rec)
		f(b)
		return b
	}
	junk := bytes.Repeat([]byte{0xA5}, 200<<10)
	cases := []struct {
		name  string
		write func(w *bytes.Buffer)
	}{
		{"negative body size", func(w *bytes.Buffer) { rawFrame(w, k, -1, nil) }},
		{"body size over the limit", func(w *bytes.Buffer) { rawFrame(w, k, ha.MaxBodySize+1, nil) }},
		{"offset backwards", func(w *bytes.Buffer) { rawFrame(w, k-int64(len(rec)), int32(len(rec)), rec) }},
		{"offset in the future", func(w *bytes.Buffer) { rawFrame(w, k+int64(len(rec)), int32(len(rec)), rec) }},
		{"negative offset", func(w *bytes.Buffer) { rawFrame(w, -8, int32(len(rec)), rec) }},
		{"not a record", func(w *bytes.Buffer) { rawFrame(w, k, 4096, junk[:4096]) }},
		{"corrupt body", func(w *bytes.Buffer) {
			rawFrame(w, k, int32(len(rec)), damaged(func(b []byte) { b[len(b)-1] ^= 0xFF }))
		}},
		{"size field too small", func(w *bytes.Buffer) {
			rawFrame(w, k, int32(len(rec)), damaged(func(b []byte) {
				binary.BigEndian.PutUint32(b, uint32(len(b)-16))
			}))
		}},
		{"size field beyond the segment", func(w *bytes.Buffer) {
			// A record header claiming 1 GiB, then bytes in frames that
			// each stay within a segment, running into the next one.
			b := damaged(func(b []byte) { binary.BigEndian.PutUint32(b, 1<<30) })
			rawFrame(w, k, int32(len(b)), b)
			p := k + int64(len(b))
			for range 3 {
				m := min(int64(len(junk)), testSeg-p%testSeg)
				rawFrame(w, p, int32(m), junk[:m])
				p += m
			}
		}},
		{"crosses a segment end", func(w *bytes.Buffer) {
			rawFrame(w, k, int32(testSeg-k+100), make([]byte, testSeg-k+100))
		}},
		{"BLANK short of the segment end", func(w *bytes.Buffer) {
			var b [msg.BlankHeaderSize]byte
			binary.BigEndian.PutUint32(b[0:], msg.BlankHeaderSize)
			binary.BigEndian.PutUint32(b[4:], msg.BlankMagic)
			rawFrame(w, k, int32(len(b)), b[:])
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hm := newHandMaster(t)
			slave := openLog(t, "")
			s := startSlave(t, slave, hm.addr)
			c := hm.accept(0)
			var w bytes.Buffer
			rawFrame(&w, 0, int32(len(prefix)), prefix)
			tc.write(&w)
			// The slave may close before taking it all.
			go func() { c.Write(w.Bytes()) }()
			closed, last := closedBySlave(c, 5*time.Second)
			if !closed {
				t.Fatalf("the slave kept the connection (last report %d, end %d)", last, slave.MaxPhysOffset())
			}
			hm.accept(k)
			if got := slave.MaxPhysOffset(); got != k {
				t.Fatalf("slave end %d, want %d: it appended bytes it could not verify", got, k)
			}
			switch e := s.State().LastError; {
			case e == "":
				t.Fatal("no error recorded for the malformed stream")
			case strings.Contains(e, "nothing from the master"):
				// The hand master went quiet; a real one would go on
				// sending what the slave buffers.
				t.Fatalf("the slave waited for more instead of refusing the stream: %s", e)
			}
			t.Logf("slave: %s", s.State().LastError)
		})
	}
}

// strangerConn dials the HA port from 127.0.0.2, an address the test's
// Trusted does not list.
func strangerConn(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A master keeps at most MaxUntrusted connections of peers the name
// servers do not list open at once, whatever they send or do not send,
// closes the rest at once, and still lets a listed slave in and counts
// its reports; strangers that report a valid end release nothing.
func TestMasterBoundsStrangers(t *testing.T) {
	master := openLog(t, "")
	end0 := put(t, master, 0, 50)
	const maxUntrusted = 4
	m := startMaster(t, master, func(o *ha.MasterOptions) {
		o.Trusted = func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }
		o.MaxUntrusted = maxUntrusted
		o.Housekeeping = time.Minute // only the bound closes them
	})
	var strangers []net.Conn
	var b [ha.ReportSize]byte
	for i := range 40 {
		c := strangerConn(t, m.Addr())
		switch i % 3 {
		case 0: // a valid report of the master's end
			ha.PutReport(&b, end0)
			c.Write(b[:])
		case 1: // half a report
			c.Write(b[:4])
		}
		strangers = append(strangers, c)
	}
	// Each is either kept or closed at once (an end of file, or a reset
	// when the master closed with their bytes unread): count the closed.
	var closedN atomic.Int32
	var wg sync.WaitGroup
	for _, c := range strangers {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				closedN.Add(1)
			}
		})
	}
	wg.Wait()
	closed := int(closedN.Load())
	if kept := len(strangers) - closed; kept != maxUntrusted {
		t.Fatalf("%d strangers kept open, want %d", kept, maxUntrusted)
	}
	if n := len(m.Slaves()); n != maxUntrusted {
		t.Fatalf("%d connections listed, want %d", n, maxUntrusted)
	}
	if err := m.WaitReplicated(end0, 100*time.Millisecond); !errors.Is(err, ha.ErrNoSlave) {
		t.Fatalf("strangers' reports counted: %v", err)
	}

	// A listed slave is let in past the strangers and counts.
	c, fr := reportedSlaveFrom(t, m, 0)
	f, err := fr.Next(0)
	if err != nil {
		t.Fatal(err)
	}
	ha.PutReport(&b, f.End())
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	if err := m.WaitReplicated(f.End(), 5*time.Second); err != nil {
		t.Fatalf("the listed slave's report: %v", err)
	}
	for _, c := range strangers {
		c.Close()
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 1 }, "the strangers' connections to go")
}

// reportedSlaveFrom is reportedSlave among other connections: it waits
// for its own first report to be read.
func reportedSlaveFrom(t *testing.T, m *ha.Master, first int64) (net.Conn, *ha.FrameReader) {
	t.Helper()
	c := rawSlave(t, m.Addr(), first)
	fr, err := ha.NewFrameReader(c, testSeg, ha.MaxBodySize)
	if err != nil {
		t.Fatal(err)
	}
	self := c.LocalAddr().String()
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, s := range m.Slaves() {
			if s.Addr == self {
				return s.Acked == first && s.Trusted
			}
		}
		return false
	}, "the first report to be read")
	return c, fr
}

// A slave whose master address is not an HA port (a client port, a name
// server: they take the report and close) says so, and logs it once,
// not twice at every redial; it logs "following" once frames come.
func TestSlavePointedAtANonHAPort(t *testing.T) {
	hm := newHandMaster(t)
	var logs testkit.LogLines
	slave := openLog(t, "")
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: hm.addr, Log: slave, Heartbeat: 100 * time.Millisecond,
		Housekeeping: time.Second, Redial: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.Start()
	t.Cleanup(func() { s.Close() })
	for range 5 {
		hm.accept(0).Close()
	}
	c := hm.accept(0)
	if n := logs.Count("replication from the master stopped"); n != 1 {
		t.Errorf("the same failure logged %d times over 5 redials:\n%s", n, logs.String())
	}
	if n := logs.Count("following the master"); n != 0 {
		t.Errorf("a peer that sent no frame logged as followed %d times", n)
	}
	if e := s.State().LastError; !strings.Contains(e, "before sending any frame") || !strings.Contains(e, "HA port") {
		t.Errorf("last error %q does not say the peer sent nothing (or is no HA port)", e)
	}
	// A master: a heartbeat (the end has not moved from where it
	// failed: nothing new to say yet), then records.
	source := openLog(t, "")
	end := put(t, source, 0, 10)
	body := make([]byte, end)
	if err := source.ReadLog(body, 0); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	rawFrame(&w, 0, 0, nil)
	rawFrame(&w, 0, int32(len(body)), body)
	if _, err := c.Write(w.Bytes()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return logs.Count("following the master") == 1 }, "following to be logged")
}

// A slave whose master's bytes fail at the same place at every redial
// (here: another segment size) logs the failure once, not a "following"
// and a failure per redial, and appends nothing that does not fit.
func TestSlaveStuckOnTheSameFailureLogsOnce(t *testing.T) {
	master := openLog(t, "")
	put(t, master, 0, 800) // past the first segment: a BLANK that does not fit
	m := startMaster(t, master, nil)
	// The proxy counts the slave's connections (the master's log of them
	// is rate-limited).
	proxy := tcpproxy.Start(t, m.Addr())
	var logs testkit.LogLines
	slave := testkit.OpenStore(t, func(o *engine.Options) {
		o.SegmentSize = 2 * testSeg
		o.FlushMode = engine.AsyncFlush
	})
	s := ha.NewSlave(ha.SlaveOptions{MasterAddr: proxy.Addr, Log: slave, Heartbeat: 100 * time.Millisecond,
		Housekeeping: time.Second, Redial: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	s.Start()
	t.Cleanup(func() { s.Close() })
	// The slave takes the master's records up to its first BLANK, which
	// does not fit its own segment, and stays there.
	seg := make([]byte, testSeg)
	if err := master.ReadLog(seg, 0); err != nil {
		t.Fatal(err)
	}
	blank := 0
	for {
		size, kind, err := msg.PeekHeader(seg[blank:])
		if err != nil {
			t.Fatal(err)
		}
		if kind == msg.KindBlank {
			break
		}
		blank += size
	}
	testkit.Eventually(t, 10*time.Second, func() bool { return slave.MaxPhysOffset() == int64(blank) }, "the slave to reach the BLANK at %d", blank)
	redials := func(n int) {
		t.Helper()
		from := proxy.Accepted()
		testkit.Eventually(t, 10*time.Second, func() bool { return proxy.Accepted()-from >= n },
			"%d more connections", n)
	}
	redials(2) // the one that reached it has failed and logged
	before := logs.Count("msg=")
	redials(10)
	if n := logs.Count("msg=") - before; n > 0 {
		t.Fatalf("%d more lines over ten redials stuck at %d:\n%s", n, blank, logs.String())
	}
	if got := slave.MaxPhysOffset(); got >= testSeg {
		t.Fatalf("slave end %d: past the master's first segment (%d)", got, testSeg)
	}
}

// A slave the master refuses at every redial (its log is ahead of the
// master's: it diverged) is warned about once, not once per redial.
func TestMasterWarnsOnceAboutARefusedSlave(t *testing.T) {
	master := openLog(t, "")
	end := put(t, master, 0, 10)
	var logs testkit.LogLines
	m := startMaster(t, master, func(o *ha.MasterOptions) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	for range 20 {
		c := rawSlave(t, m.Addr(), end+1000)
		if closed, _ := closedBySlave(c, 5*time.Second); !closed {
			t.Fatal("a report beyond the end was kept")
		}
	}
	// A connection is logged just before the master forgets it.
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the master to be done with the 20 connections")
	if n := logs.Count("level=WARN"); n != 1 {
		t.Fatalf("%d warnings for 20 refusals of one slave:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "its log diverged") {
		t.Fatalf("the warning does not say why:\n%s", logs.String())
	}
}

// A slave's first report says where its log ends, not that it holds the
// master's bytes before that: a slave whose log diverged (a master of
// another cluster, a wrong data folder) may end anywhere. Its reports
// release only the sends whose records the master shipped to it on this
// connection, never one waiting for a record before its start.
func TestDivergentSlaveReleasesNothingBeforeItsStart(t *testing.T) {
	master := openLog(t, "")
	end0 := put(t, master, 0, 10)
	m := startMaster(t, master, nil)
	a := rawSlave(t, m.Addr(), end0) // a slave in sync
	testkit.Eventually(t, 5*time.Second, func() bool { s := m.Slaves(); return len(s) == 1 && s[0].Acked == end0 },
		"the first report to be read")
	end1 := put(t, master, 10, 11)
	got := make(chan error, 1)
	m.Notify(end1, 700*time.Millisecond, func(err error) { got <- err })
	// It is sent the record and dies before confirming. (Had the master
	// never shipped past end0, d's first report below would be refused
	// outright: TestSlaveAheadOfARestartedMasterStaysRefused.)
	afr, err := ha.NewFrameReader(a, testSeg, ha.MaxBodySize)
	if err != nil {
		t.Fatal(err)
	}
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	for at := end0; at < end1; {
		f, err := afr.Next(at)
		if err != nil {
			t.Fatalf("the slave in sync is not sent the record: %v", err)
		}
		at = f.End()
	}
	a.Close()

	// Another slave whose own log happens to end at end1: its report is
	// no confirmation of the master's record.
	d, fr := reportedSlaveFrom(t, m, end1)
	if err := <-got; !errors.Is(err, ha.ErrSlaveTimeout) {
		t.Fatalf("a send waiting for a record before the new slave's start: %v, want ErrSlaveTimeout", err)
	}
	// What it is sent and confirms counts.
	end2 := put(t, master, 11, 12)
	m.Notify(end2, 5*time.Second, func(err error) { got <- err })
	d.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := fr.Next(end1)
	for err == nil && len(f.Body) == 0 { // heartbeats
		f, err = fr.Next(end1)
	}
	if err != nil || f.End() != end2 {
		t.Fatalf("frame %d..%d (%v), want the record up to %d", f.Offset, f.End(), err, end2)
	}
	var b [ha.ReportSize]byte
	ha.PutReport(&b, end2)
	if _, err := d.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("a send confirmed by the new slave: %v", err)
	}
}

// With TrustedOnly (a broker with aclEnable) a peer the name servers do
// not list is sent no CommitLog byte, however it reports; once listed it
// is sent the log.
func TestMasterShipsOnlyToTrustedWhenAsked(t *testing.T) {
	master := openLog(t, "")
	put(t, master, 0, 10)
	var trusted atomic.Bool
	m := startMaster(t, master, func(o *ha.MasterOptions) {
		o.Trusted = func(netip.Addr) bool { return trusted.Load() }
		o.TrustRecheck = 10 * time.Millisecond
		o.TrustedOnly = true
	})
	c, fr := reportedSlave(t, m, 0)
	var b [ha.ReportSize]byte
	// Reports for a while (each asks for trust again): nothing comes.
	got := make(chan error, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		got <- err
	}()
	for range 10 {
		if _, err := c.Write(b[:]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // spaced beyond TrustRecheck
	}
	if err := <-got; err == nil {
		t.Fatal("an untrusted peer was sent bytes")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("the connection failed: %v", err)
	}
	trusted.Store(true)
	if _, err := c.Write(b[:]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := fr.Next(0)
	for err == nil && len(f.Body) == 0 {
		f, err = fr.Next(0)
	}
	if err != nil {
		t.Fatalf("once listed, no frame: %v", err)
	}
}

// A slave holding bytes its master no longer has (the master lost its
// tail: a power loss under ASYNC_FLUSH, a restore from an older copy) is
// refused when the master comes back, and stays refused after the
// master's end passes the slave's, when the offsets line up and shipping
// on would append the master's records after foreign ones unnoticed. A
// slave whose store was moved aside copies the log again.
func TestSlaveAheadOfARestartedMasterStaysRefused(t *testing.T) {
	lost := openLog(t, "")
	put(t, lost, 0, 15)
	m := startMaster(t, lost, nil)
	slave := openLog(t, t.TempDir())
	s := startSlave(t, slave, m.Addr)
	testkit.Eventually(t, 5*time.Second, func() bool { return slave.ReadableOffset() == lost.ReadableOffset() },
		"the slave to copy the log")
	s.Close()
	m.Close()
	end1 := slave.ReadableOffset()

	// The master comes back from an older copy, records 0..9, and writes
	// other records at the offsets of the lost ones (the same sizes: they
	// end exactly where the slave's do).
	master := openLog(t, "")
	put(t, master, 0, 10)
	m = startMaster(t, master, nil)
	if got := put(t, master, 10, 15); got != end1 {
		t.Fatalf("master's records end at %d, the slave's at %d: the test wants them aligned", got, end1)
	}
	startSlave(t, slave, m.Addr)
	// (Slaves lists a refused connection until it is closed, with no
	// report.)
	followed := func() bool {
		return slave.ReadableOffset() != end1 || slices.ContainsFunc(m.Slaves(), func(s ha.SlaveStatus) bool { return s.Acked >= 0 })
	}
	testkit.Never(t, time.Second, followed,
		"the diverged slave is followed: end %d (had %d), status %+v", slave.ReadableOffset(), end1, m.Slaves())
	put(t, master, 15, 20)
	testkit.Never(t, time.Second, followed,
		"the diverged slave is followed once the master's end passed its own: end %d, status %+v", slave.ReadableOffset(), m.Slaves())
	if err := m.WaitReplicated(master.ReadableOffset(), 100*time.Millisecond); !errors.Is(err, ha.ErrNoSlave) {
		t.Fatalf("a SYNC_MASTER wait with only the diverged slave: %v, want ErrNoSlave", err)
	}

	// Its store moved aside, it copies the master's log again.
	fresh := openLog(t, t.TempDir())
	startSlave(t, fresh, m.Addr)
	testkit.Eventually(t, 5*time.Second, func() bool { return fresh.ReadableOffset() == master.ReadableOffset() },
		"a fresh slave to copy the log")
	sameLog(t, master, fresh)
}

// failingReads is a master's log whose reads fail once told to (an I/O
// error, or a segment removed under a lagging slave).
type failingReads struct {
	*engine.Store
	fail atomic.Bool
}

func (l *failingReads) ReadLog(p []byte, phys int64) error {
	if l.fail.Load() {
		return errors.New("injected read failure")
	}
	return l.Store.ReadLog(p, phys)
}

// keepReporting writes a report of at every 100 ms until the test ends or
// the connection fails: what a slave's heartbeat does, and all a RocketMQ
// 4.9 slave does while its own writes succeed.
func keepReporting(t *testing.T, c net.Conn, at int64) {
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		var b [ha.ReportSize]byte
		ha.PutReport(&b, at)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := c.Write(b[:]); err != nil {
				return
			}
		}
	}()
}

// drainUntilClosed reads c until it fails and returns the bytes read; a
// read that times out after within fails the test.
func drainUntilClosed(t *testing.T, c net.Conn, within time.Duration, m *ha.Master) int64 {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := c.Read(buf)
		n += int64(k)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the connection is still open %s on (read %d bytes); master lists %+v", within, n, m.Slaves())
		}
		return n
	}
}

// A connection whose sender failed ends, although the slave keeps
// reporting: left open it would ship nothing while counting as in sync,
// so every SYNC_MASTER send would wait out slaveTimeout (12) instead of
// being answered SLAVE_NOT_AVAILABLE (11) at once.
func TestSenderFailureEndsTheConnection(t *testing.T) {
	st := openLog(t, "")
	end0 := put(t, st, 0, 10)
	fl := &failingReads{Store: st}
	m := startMaster(t, st, func(o *ha.MasterOptions) { o.Log = fl })
	c, _ := reportedSlave(t, m, end0)
	fl.fail.Store(true)
	end1 := put(t, st, 10, 11) // the sender's read of it fails
	keepReporting(t, c, end0)
	drainUntilClosed(t, c, 3*time.Second, m) // Housekeeping is 1 s
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the connection to be dropped")
	if err := m.WaitReplicated(end1, time.Second); !errors.Is(err, ha.ErrNoSlave) {
		t.Fatalf("SYNC_MASTER wait with no working slave: %v, want ErrNoSlave", err)
	}
}

// A slave that reads nothing for Housekeeping (its disk stalls) while its
// reports keep coming: the frame's write times out and the connection
// ends, rather than staying listed with half a frame sent.
func TestStalledReaderIsDisconnected(t *testing.T) {
	st := openLog(t, "")
	var end int64
	for i := range 800 { // 8 MB: more than loopback's buffers hold
		m := &msg.Message{Topic: "T", Body: bytes.Repeat([]byte{byte(i)}, 10<<10),
			BornTimestamp: time.Now().UnixMilli(), BornHost: netip.MustParseAddrPort("127.0.0.1:5555")}
		var err error
		if _, end, err = st.PutBatchNoWait([]*msg.Message{m}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.WaitPut(end); err != nil {
		t.Fatal(err)
	}
	m := startMaster(t, st, nil)
	c := rawSlave(t, m.Addr(), 0)
	keepReporting(t, c, 0)
	time.Sleep(2500 * time.Millisecond) // the write deadline (Housekeeping 1 s) passes
	n := drainUntilClosed(t, c, 3*time.Second, m)
	if n >= end {
		t.Fatalf("read %d bytes of a %d-byte log: the slave was not stalled long enough to test anything", n, end)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(m.Slaves()) == 0 }, "the connection to be dropped")
}
