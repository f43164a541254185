package broker

import (
	"slices"
	"sync"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
)

// pullHold parks pulls that found nothing (Java PullRequestHoldService,
// trap T5). A parked pull is answered exactly once, by whichever comes
// first:
//
//   - notify: the dispatcher reports the queue's max offset passed the
//     pull's offset; the pull is re-run and answered (messages, or 20/19);
//   - its timer (suspendTimeoutMillis, at most 25 s): re-run, usually 19
//     with nextBeginOffset = the requested offset;
//   - close: every parked pull is re-run and answered before the store
//     closes.
//
// Removing a pull from waiting, under mu, is what claims it; whoever
// removes it answers it. Re-runs happen on goroutines the broker owns, never
// on the dispatcher's goroutine, and never park again.
type pullHold struct {
	b *Broker

	mu      sync.Mutex
	closed  bool
	waiting map[engine.QueueRef][]*heldPull
}

type heldPull struct {
	p     *pullRequest
	timer *time.Timer
}

func newPullHold(b *Broker) *pullHold {
	return &pullHold{b: b, waiting: map[engine.QueueRef][]*heldPull{}}
}

// park holds p; false means the broker is closing and p must be answered
// now.
func (h *pullHold) park(p *pullRequest) bool {
	ref := engine.QueueRef{Topic: p.topic, QueueID: p.queueID}
	hp := &heldPull{p: p}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.waiting[ref] = append(h.waiting[ref], hp)
	hp.timer = time.AfterFunc(p.suspend, func() { h.expire(ref, hp) })
	h.mu.Unlock()
	// A message dispatched between our read and the park did not see us:
	// look again. The dispatcher publishes queue state before it notifies,
	// so one of the two sides sees the other.
	if st, ok := h.b.store.QueueState(p.topic, p.queueID); ok && st.Max > p.offset {
		h.notify(p.topic, p.queueID, st.Max)
	}
	return true
}

// notify wakes the pulls of a queue waiting below maxOffset. It is called
// on the dispatcher's goroutine and must not block.
func (h *pullHold) notify(topic string, queueID int32, maxOffset int64) {
	ref := engine.QueueRef{Topic: topic, QueueID: queueID}
	h.mu.Lock()
	list := h.waiting[ref]
	if len(list) == 0 {
		h.mu.Unlock()
		return
	}
	var wake []*heldPull
	keep := list[:0]
	for _, hp := range list {
		if hp.p.offset < maxOffset {
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
		h.answer(hp)
	}
}

// expire is the timer of one held pull.
func (h *pullHold) expire(ref engine.QueueRef, hp *heldPull) {
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
		h.answer(hp)
	}
}

// answer re-runs a claimed pull on an owned goroutine and replies. Once the
// broker is closing it answers with closingResponse instead.
func (h *pullHold) answer(hp *heldPull) {
	b := h.b
	if !b.goAsync(func() { h.reply(hp, false) }) {
		h.reply(hp, true)
	}
}

func (h *pullHold) reply(hp *heldPull, closing bool) {
	b := h.b
	var resp *remoting.Command
	if closing {
		resp = b.closingResponse(hp.p)
	} else {
		resp, _ = b.runPull(hp.p)
	}
	if err := hp.p.conn.Reply(resp); err != nil {
		b.log.Debug("reply to held pull failed", "client", hp.p.conn.RemoteAddr(), "err", err)
	}
}

// close answers every parked pull with closingResponse and refuses new
// ones.
func (h *pullHold) close() {
	h.mu.Lock()
	h.closed = true
	var all []*heldPull
	for _, list := range h.waiting {
		all = append(all, list...)
	}
	h.waiting = map[engine.QueueRef][]*heldPull{}
	h.mu.Unlock()
	for _, hp := range all {
		hp.timer.Stop()
		h.reply(hp, true) // no store read: a small queued write each
	}
}

// held counts the parked pulls (tests).
func (h *pullHold) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.waiting {
		n += len(l)
	}
	return n
}
