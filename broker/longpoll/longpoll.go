// Package longpoll holds pulls that found nothing (Java
// PullRequestHoldService, trap T5) until their queue grows, their time is
// up or the broker closes.
//
// A parked pull is answered exactly once, by whichever comes first:
//
//   - Notify: the dispatcher reports the queue's max offset passed the
//     pull's offset; the pull is re-run and answered (messages, or 20/19);
//   - its timer (the pull's suspend time): re-run, usually 19 with
//     nextBeginOffset = the requested offset;
//   - Close: every parked pull is answered as closing before the store
//     closes.
//
// Removing a pull from the waiting table, under the Hold's mutex, is what
// claims it; whoever removes it answers it. Re-runs happen on goroutines the
// Hold owns (Close waits for them), never on the dispatcher's goroutine, and
// never park again. The Hold knows nothing of the wire: the root package
// gives it the pull's value and the function that answers it.
//
// Lock order: the Hold's one mutex is a leaf; Answer and MaxOffset are never
// called with it held.
package longpoll

import (
	"slices"
	"sync"
	"time"
)

// Answer re-runs the pull p and replies to its client; with closing set it
// replies that the broker is closing instead, without reading the store.
type Answer[P any] func(p P, closing bool)

// MaxOffset returns the max offset of a queue, ok false when the queue does
// not exist.
type MaxOffset func(topic string, queueID int32) (offset int64, ok bool)

// Wait says where a parked pull waits.
type Wait struct {
	Topic   string
	QueueID int32
	// Offset is the queue offset the pull asked for: a message dispatched
	// at or past it wakes the pull.
	Offset int64
	// Suspend is how long the pull stays parked at most.
	Suspend time.Duration
	// ConnID names the client connection (for Waiting).
	ConnID uint64
}

// Waiter is one parked pull as Waiting shows it.
type Waiter struct {
	ConnID uint64
	Offset int64
}

type queueRef struct {
	topic   string
	queueID int32
}

type held[P any] struct {
	w     Wait
	p     P
	timer *time.Timer
}

// Hold parks pulls of type P (the root's parsed request) per queue.
type Hold[P any] struct {
	maxOffset MaxOffset
	answer    Answer[P]

	mu      sync.Mutex
	closed  bool
	waiting map[queueRef][]*held[P]
	wg      sync.WaitGroup // re-runs in flight
}

// New returns a Hold that answers pulls with answer and checks a queue's
// max offset with maxOffset when a pull parks.
func New[P any](maxOffset MaxOffset, answer Answer[P]) *Hold[P] {
	return &Hold[P]{maxOffset: maxOffset, answer: answer, waiting: map[queueRef][]*held[P]{}}
}

// Park holds p as w says; false means the Hold is closed and p must be
// answered now.
func (h *Hold[P]) Park(w Wait, p P) bool {
	ref := queueRef{w.Topic, w.QueueID}
	hp := &held[P]{w: w, p: p}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.waiting[ref] = append(h.waiting[ref], hp)
	hp.timer = time.AfterFunc(w.Suspend, func() { h.expire(ref, hp) })
	h.mu.Unlock()
	// A message dispatched between the pull's read and the park did not
	// see it: look again. The dispatcher publishes queue state before it
	// notifies, so one of the two sides sees the other.
	if top, ok := h.maxOffset(w.Topic, w.QueueID); ok && top > w.Offset {
		h.Notify(w.Topic, w.QueueID, top)
	}
	return true
}

// Notify wakes the pulls of a queue waiting below maxOffset. It is called
// on the dispatcher's goroutine and does not block.
func (h *Hold[P]) Notify(topic string, queueID int32, maxOffset int64) {
	ref := queueRef{topic, queueID}
	h.mu.Lock()
	list := h.waiting[ref]
	if len(list) == 0 {
		h.mu.Unlock()
		return
	}
	var wake []*held[P]
	keep := list[:0]
	for _, hp := range list {
		if hp.w.Offset < maxOffset {
			wake = append(wake, hp)
		} else {
			keep = append(keep, hp)
		}
	}
	clear(list[len(keep):])
	if len(keep) == 0 {
		delete(h.waiting, ref)
	} else {
		h.waiting[ref] = keep
	}
	h.mu.Unlock()
	for _, hp := range wake {
		hp.timer.Stop()
		h.rerun(hp)
	}
}

// expire is the timer of one held pull.
func (h *Hold[P]) expire(ref queueRef, hp *held[P]) {
	h.mu.Lock()
	list := h.waiting[ref]
	i := slices.Index(list, hp)
	if i >= 0 {
		list = slices.Delete(list, i, i+1)
		if len(list) == 0 {
			delete(h.waiting, ref)
		} else {
			h.waiting[ref] = list
		}
	}
	h.mu.Unlock()
	if i >= 0 {
		h.rerun(hp)
	}
}

// rerun answers a claimed pull on an owned goroutine; once the Hold is
// closed it answers it as closing, in place.
func (h *Hold[P]) rerun(hp *held[P]) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.answer(hp.p, true)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		h.answer(hp.p, false)
	}()
}

// Close answers every parked pull as closing, refuses new ones and waits
// for the re-runs in flight.
func (h *Hold[P]) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*held[P]
	for _, list := range h.waiting {
		all = append(all, list...)
	}
	h.waiting = map[queueRef][]*held[P]{}
	h.mu.Unlock()
	for _, hp := range all {
		hp.timer.Stop()
		h.answer(hp.p, true) // no store read: a small queued write each
	}
	h.wg.Wait()
}

// Held counts the parked pulls.
func (h *Hold[P]) Held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.waiting {
		n += len(l)
	}
	return n
}

// Waiting returns the pulls parked on queueID of topic (on any of its
// queues when queueID is -1), in no particular order: a read-only view for
// tests and diagnostics.
func (h *Hold[P]) Waiting(topic string, queueID int32) []Waiter {
	var out []Waiter
	h.each(topic, queueID, func(hp *held[P]) { out = append(out, Waiter{ConnID: hp.w.ConnID, Offset: hp.w.Offset}) })
	return out
}

// Parked returns the values of the pulls Waiting lists, in no particular
// order: for tests and diagnostics that look at what a held pull keeps.
func (h *Hold[P]) Parked(topic string, queueID int32) []P {
	var out []P
	h.each(topic, queueID, func(hp *held[P]) { out = append(out, hp.p) })
	return out
}

// each calls fn, under the mutex, for every pull parked on queueID of
// topic (on any of its queues when queueID is -1).
func (h *Hold[P]) each(topic string, queueID int32, fn func(*held[P])) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ref, list := range h.waiting {
		if ref.topic != topic || (queueID >= 0 && ref.queueID != queueID) {
			continue
		}
		for _, hp := range list {
			fn(hp)
		}
	}
}
