package ha

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/internal/atomicmax"
)

// masterConn is one slave's connection on the master: a reader of offset
// reports (this goroutine) and a sender of frames (its own goroutine).
type masterConn struct {
	m      *Master
	conn   net.Conn
	remote netip.AddrPort
	since  time.Time

	// Guarded by m.mu.
	prev      int64         // last checked report, -1 before the first
	next      int64         // where the sender starts, -1 until the first report
	trusted   bool          // the name servers list the peer as a slave
	checked   time.Time     // when trust was last asked
	caughtUp  time.Time     // when a report last reached the readable end
	firstSeen chan struct{} // closed after the first report
	done      chan struct{} // closed when the reader has stopped

	reported chan struct{} // gets a value after each report (the sender's hold)
	frames   atomic.Int64  // frames with a body sent
}

// serve reads reports until the connection fails, closes it and waits for
// the sender.
func (c *masterConn) serve() {
	defer c.m.wg.Done()
	defer c.m.remove(c)
	log := c.m.log.With("slave", c.remote.String())
	c.firstSeen, c.done, c.reported = make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
	// Who is it? Strangers are let in up to MaxUntrusted at once: each
	// holds two goroutines, a buffer and its reads of the log.
	if !c.refreshTrust(true) && !c.m.admitUntrusted(c) {
		c.conn.Close()
		c.m.warnStranger("HA connection refused: too many peers not listed by the name servers as slaves of this broker are connected",
			"peer", c.remote.String(), "maxUntrusted", c.m.opts.MaxUntrusted)
		return
	}
	e := ServeConn(&c.m.wg, c.conn, c.done, c.send, c.readReports)
	c.m.mu.Lock()
	trusted := c.trusted
	c.m.mu.Unlock()
	switch {
	case !trusted:
		c.m.warnStranger("HA connection of a peer not listed as a slave closed", "slave", c.remote.String(), "err", e)
	case e != nil:
		c.m.warnClosed(c, e)
	default:
		log.Info("HA connection closed")
	}
}

// readReports reads and checks each report; a connection silent for
// Housekeeping, or with a report that fails CheckReport, ends.
func (c *masterConn) readReports() error {
	var b [ReportSize]byte
	first := true
	var from int64 // where this connection's frames start
	for {
		if err := c.conn.SetReadDeadline(time.Now().Add(c.m.opts.Housekeeping)); err != nil {
			return err
		}
		got, err := ReadReport(c.conn, &b)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("nothing from the slave for haHousekeepingInterval %s", c.m.opts.Housekeeping)
			}
			return err
		}
		readable := c.m.opts.Log.ReadableOffset()
		c.refreshTrust(false)
		c.m.mu.Lock()
		// A first report beyond the end fails both checks; the first
		// check's error says what it means.
		if first {
			if err := CheckFirstReport(got, c.m.startEnd, c.m.shipped.Load()); err != nil {
				c.m.mu.Unlock()
				return err
			}
		}
		if err := CheckReport(c.prev, got, readable); err != nil {
			c.m.mu.Unlock()
			return err
		}
		if first {
			start, err := c.m.planner.Start(got, c.m.opts.Log.MinPhysOffset(), readable, c.m.opts.FromLastFile)
			if err != nil {
				c.m.mu.Unlock()
				return err
			}
			c.next, from = start, start
		}
		counts := c.m.acknowledgeLocked(c, got, readable)
		c.m.mu.Unlock()
		if counts {
			// Only what this connection shipped: the first report says
			// where the slave's log ends, not whose bytes it holds.
			c.m.waiters.AdvanceFrom(from, got)
		}
		select {
		case c.reported <- struct{}{}:
		default:
		}
		if first {
			close(c.firstSeen)
			first = false
		}
	}
}

// refreshTrust asks whether the peer is a slave of this broker: when it
// connects (first), then, while it is not trusted, at most once per
// TrustRecheck as its reports arrive (the slave may register after it
// connects). It returns the answer.
func (c *masterConn) refreshTrust(first bool) bool {
	if c.m.opts.Trusted == nil {
		c.m.mu.Lock()
		c.trusted = true
		c.m.mu.Unlock()
		return true
	}
	c.m.mu.Lock()
	due := !c.trusted && (first || time.Since(c.checked) >= c.m.opts.TrustRecheck)
	if due {
		c.checked = time.Now()
	}
	trusted := c.trusted
	c.m.mu.Unlock()
	if !due {
		return trusted
	}
	ok := c.m.opts.Trusted(c.remote.Addr())
	c.m.mu.Lock()
	c.trusted = ok
	c.m.mu.Unlock()
	if !ok && first {
		msg := "HA peer is not listed by the name servers as a slave of this broker: its reports release no SYNC_MASTER wait until it is"
		if c.m.opts.TrustedOnly {
			msg = "HA peer is not listed by the name servers as a slave of this broker: it is sent nothing until it is (aclEnable)"
		}
		c.m.warnStranger(msg, "peer", c.remote.String())
	}
	return ok
}

// send ships frames from the slave's first report on: every batch the
// planner allows as soon as it is readable, and a heartbeat after
// Heartbeat with nothing sent. A frame shorter than a batch waits while
// an earlier one is unreported (Hold).
func (c *masterConn) send() error {
	select {
	case <-c.firstSeen:
	case <-c.done:
		return nil
	}
	watch := c.m.opts.Log.WatchReadable()
	defer watch.Stop()
	c.m.mu.Lock()
	next := c.next
	c.m.mu.Unlock()
	var hdr [HeaderSize]byte
	buf := make([]byte, c.m.planner.MaxFrame())
	heartbeat := time.NewTimer(c.m.opts.Heartbeat)
	defer heartbeat.Stop()
	h := Hold{Max: c.m.opts.MaxHold}
	for {
		if c.m.opts.TrustedOnly && !c.isTrusted() {
			// Nothing for a stranger; each report may bring trust.
			select {
			case <-c.reported:
				continue
			case <-c.done:
				return nil
			}
		}
		from, to := c.m.planner.Next(next, c.m.opts.Log.ReadableOffset())
		held := to > from && h.Wait(c.m.planner.Short(from, to) && c.unreported(from))
		if to > from && !held {
			// Let sends already running append first (gather).
			from, to = c.m.planner.Next(next, c.gather(next))
			body := buf[:to-from]
			if err := c.m.opts.Log.ReadLog(body, from); err != nil {
				return fmt.Errorf("read CommitLog for the slave: %w", err)
			}
			// Counted before the write: a slave may hold the bytes (and
			// reconnect claiming them) before the write call returns.
			atomicmax.Raise(&c.m.shipped, to)
			if err := c.write(&hdr, Header{Offset: from, Size: int32(len(body))}, body); err != nil {
				return err
			}
			c.frames.Add(1)
			next = to
			h.Sent()
			heartbeat.Reset(c.m.opts.Heartbeat)
			continue
		}
		// Holding a short frame, only a whole batch (or the report, or
		// the hold's end) changes anything: no wake-up per append.
		if held {
			watch.WakeAt(c.m.planner.Full(next))
		} else {
			watch.WakeAt(0)
		}
		select {
		case <-watch.C:
		case <-c.reported:
		case <-h.Expired():
		case <-heartbeat.C:
			if err := c.write(&hdr, Header{Offset: next}, nil); err != nil {
				return err
			}
			heartbeat.Reset(c.m.opts.Heartbeat)
		case <-c.done:
			return nil
		}
	}
}

// isTrusted says whether the peer is a listed slave, as last asked.
func (c *masterConn) isTrusted() bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.trusted
}

// unreported says whether the slave has not yet reported every byte
// before next.
func (c *masterConn) unreported(next int64) bool {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.prev < next
}

// gatherRounds bounds the yields of one gather.
const gatherRounds = 8

// gather returns the readable end to ship from next, after letting sends
// that are already running append first: it yields the processor while
// the end keeps moving, and stops as soon as a yield brings nothing new.
// Under many synchronous producers each wake-up would otherwise carry one
// record, costing a frame, a report and a wake-up on both sides per send;
// waiting for the running appenders makes one frame and one report cover
// them all (the CommitLog's group commit gathers its fsyncs the same way).
// A lone producer pays one yield; nothing new or a backlog (a batch or
// more waiting) costs none.
func (c *masterConn) gather(next int64) int64 {
	end := c.m.opts.Log.ReadableOffset()
	if end <= next || end-next >= int64(c.m.opts.BatchSize) {
		return end
	}
	for range gatherRounds {
		runtime.Gosched()
		now := c.m.opts.Log.ReadableOffset()
		if now == end {
			break
		}
		end = now
	}
	return end
}

// write sends one frame in one system call; a slave that takes nothing
// for Housekeeping ends the connection.
func (c *masterConn) write(hdr *[HeaderSize]byte, h Header, body []byte) error {
	PutHeader(hdr, h)
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.m.opts.Housekeeping)); err != nil {
		return err
	}
	bufs := net.Buffers{hdr[:], body}
	if _, err := bufs.WriteTo(c.conn); err != nil {
		return fmt.Errorf("send frame at %d to the slave: %w", h.Offset, err)
	}
	return nil
}
