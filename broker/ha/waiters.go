package ha

import (
	"sync"
	"time"
)

// Waiters holds callbacks waiting for an acknowledged offset (what a
// slave holds) to reach their record's end. A SYNC_MASTER send registers
// one and its connection's reader goes on reading: nothing parks per send,
// and the goroutine that reads a slave's report answers every send the
// report covers. One timer serves every waiter's timeout.
//
// Waiters are kept in the order they came, which is nearly the order of
// their ends (appenders register just after appending) and exactly the
// order of their deadlines when they share a timeout, as a broker's
// sends do: a report releases from the front, looking a little further
// for ends registered out of order, and the timer expires from the
// front. A waiter whose timeout is shorter than that of one ahead of it
// times out with that one.
//
// The zero value is not usable; use NewWaiters.
type Waiters struct {
	mu    sync.Mutex
	acked int64
	// floor is where the stretch acked covers begins: reports confirm
	// [from, acked) (AdvanceFrom), and those that overlap make one
	// stretch. A waiter ending at or before floor was not confirmed by
	// them, so Add does not answer it at once.
	floor   int64
	list    []waiter // list[head:] wait, in the order they came; a nil done was answered
	head    int
	timer   *time.Timer
	timerAt time.Time // when timer fires; zero: not set
	closed  bool
}

type waiter struct {
	end      int64
	deadline time.Time
	done     func(error)
}

const (
	// reorderWindow is how many waiters Advance looks past the first it
	// cannot answer, for ends registered out of order (appenders racing
	// between append and registration). Beyond it a waiter is answered by
	// the report that covers the ones ahead of it.
	reorderWindow = 64
	// timerSlack batches expiries: a waiter times out at most this late,
	// and the timer fires at most once per slack however many sends
	// time out (a stalled slave under load).
	timerSlack = time.Millisecond
)

// Notifier calls done once what a SYNC_MASTER send waits for holds the
// log up to end: Master (a slave) and autoswitch.Master (the SyncStateSet)
// answer with Waiters.
type Notifier interface {
	Notify(end int64, timeout time.Duration, done func(error))
}

// Wait is n.Notify that blocks: it returns what done would get.
func Wait(n Notifier, end int64, timeout time.Duration) error {
	done := make(chan error, 1)
	n.Notify(end, timeout, func(err error) { done <- err })
	return <-done
}

// NewWaiters returns Waiters with nothing acknowledged yet.
func NewWaiters() *Waiters { return &Waiters{acked: -1, floor: -1} }

// Add calls done(nil) once the acknowledged offset reaches end,
// done(ErrSlaveTimeout) if it has not after timeout, or done(ErrClosed)
// if Close comes first. done runs once, possibly before Add returns (on
// the caller's goroutine), otherwise on the goroutine that advanced the
// offset or on the timer's: it must not block.
func (w *Waiters) Add(end int64, timeout time.Duration, done func(error)) {
	w.mu.Lock()
	switch {
	case w.acked >= end && end > w.floor:
		w.mu.Unlock()
		done(nil)
		return
	case w.closed:
		w.mu.Unlock()
		done(ErrClosed)
		return
	}
	dl := time.Now().Add(timeout)
	w.list = append(w.list, waiter{end: end, deadline: dl, done: done})
	if w.timerAt.IsZero() || dl.Before(w.timerAt) {
		w.armLocked(dl)
	}
	w.mu.Unlock()
}

// Advance records that everything before acked is acknowledged and calls
// done(nil) for the waiters it covers, on the caller's goroutine.
func (w *Waiters) Advance(acked int64) { w.AdvanceFrom(-1, acked) }

// AdvanceFrom is Advance for a report that confirms only the bytes in
// [from, acked): those a master shipped to a slave on its connection,
// which began at from. A waiter whose record ends at or before from is
// left waiting (another slave may confirm it, else it times out): the
// slave held something there before it connected, not necessarily this
// master's bytes.
func (w *Waiters) AdvanceFrom(from, acked int64) {
	w.mu.Lock()
	if acked <= w.acked && from >= w.floor {
		w.mu.Unlock()
		return // nothing the last advance did not cover
	}
	switch {
	case acked > w.acked && from <= w.acked:
		w.acked, w.floor = acked, min(w.floor, from) // one stretch, grown upwards
	case acked > w.acked:
		w.acked, w.floor = acked, from // beyond the stretch: the higher one
	case from < w.floor && acked >= w.floor:
		w.floor = from // grown downwards (another slave, connected earlier)
	}
	var ready []waiter
	skipped := 0
	for i := w.head; i < len(w.list) && skipped <= reorderWindow; i++ {
		x := &w.list[i]
		switch {
		case x.done == nil:
		case x.end <= from:
			// Not this report's to answer; not out of order either.
			continue
		case x.end <= acked:
			ready = append(ready, *x)
			x.done = nil
		default:
			skipped++
			continue
		}
		if i == w.head {
			w.head++
		}
	}
	w.compactLocked()
	w.mu.Unlock()
	release(ready, nil)
}

// expire answers the waiters whose time ran out and sets the timer for
// the next deadline.
func (w *Waiters) expire() {
	now := time.Now()
	w.mu.Lock()
	w.timerAt = time.Time{}
	var late []waiter
	for ; w.head < len(w.list); w.head++ {
		x := &w.list[w.head]
		if x.done != nil {
			if x.deadline.After(now) {
				break
			}
			late = append(late, *x)
		}
		*x = waiter{}
	}
	w.compactLocked()
	if w.head < len(w.list) && !w.closed {
		w.armLocked(w.list[w.head].deadline)
	}
	w.mu.Unlock()
	release(late, ErrSlaveTimeout)
}

// armLocked makes the timer fire at dl (plus the slack).
// REQUIRES: w.mu held.
func (w *Waiters) armLocked(dl time.Time) {
	w.timerAt = dl
	d := time.Until(dl) + timerSlack
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.expire)
		return
	}
	w.timer.Reset(d)
}

// compactLocked drops the answered waiters at the front once they are
// half the list.
// REQUIRES: w.mu held.
func (w *Waiters) compactLocked() {
	if w.head == len(w.list) {
		clear(w.list)
		w.list, w.head = w.list[:0], 0
		return
	}
	if w.head > 64 && w.head > len(w.list)/2 {
		n := copy(w.list, w.list[w.head:])
		clear(w.list[n:])
		w.list, w.head = w.list[:n], 0
	}
}

// Close answers every waiter ErrClosed and every later Add at once.
func (w *Waiters) Close() {
	w.mu.Lock()
	w.closed = true
	var all []waiter
	for _, x := range w.list[w.head:] {
		if x.done != nil {
			all = append(all, x)
		}
	}
	clear(w.list)
	w.list, w.head = nil, 0
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	release(all, ErrClosed)
}

// release calls done(err) for each waiter, outside w.mu.
func release(ws []waiter, err error) {
	for _, x := range ws {
		x.done(err)
	}
}
