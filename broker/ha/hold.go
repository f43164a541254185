package ha

import "time"

// Hold is a master sender's Nagle rule, clocked by the slave's reports
// instead of TCP's acknowledgements: a short frame (Planner.Short: less
// than a batch, everything readable) is not sent while the slave has not
// reported the bytes sent before it, for at most Max. Under many
// synchronous producers each frame would otherwise carry the one or two
// records appended since the last, and every frame costs the master a
// write that, on loopback, also runs the receiver's TCP path, plus a
// report to read: about 15 µs, as much as a third of a send's CPU. Held,
// the records that arrive during one replication round trip leave in one
// frame. A lone producer never waits (its previous send was reported
// before it sent again), nor does a backlog (full batches), and a slave
// that reports late delays the bytes at most Max.
//
// A Hold belongs to one sender goroutine.
type Hold struct {
	// Max bounds one hold; a negative Max never holds.
	Max time.Duration

	since time.Time   // when the current hold began; zero when none
	timer *time.Timer // fires at since+Max
}

// Wait says whether to hold the frame now, given whether it may be held at
// all (short and some bytes before it unreported). The first Wait that
// holds starts the clock; Sent stops it.
func (h *Hold) Wait(holdable bool) bool {
	if !holdable || h.Max < 0 {
		return false
	}
	if h.since.IsZero() {
		h.since = time.Now()
		if h.timer == nil {
			h.timer = time.NewTimer(h.Max)
		} else {
			h.timer.Reset(h.Max)
		}
		return true
	}
	return time.Since(h.since) < h.Max
}

// Sent ends the current hold (the frame left).
func (h *Hold) Sent() {
	if !h.since.IsZero() {
		h.since = time.Time{}
		h.timer.Stop()
	}
}

// Expired fires when the current hold runs out; nil (never) when none is
// running.
func (h *Hold) Expired() <-chan time.Time {
	if h.since.IsZero() {
		return nil
	}
	return h.timer.C
}
