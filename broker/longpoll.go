package broker

import (
	"github.com/wharfmq/wharf/broker/longpoll"
	"github.com/wharfmq/wharf/remoting"
)

// newPullHold builds the long-polling service (package longpoll) over the
// broker's store and pull path.
func newPullHold(b *Broker) *longpoll.Hold[*pullRequest] {
	maxOffset := func(topic string, queueID int32) (int64, bool) {
		st, ok := b.store.QueueState(topic, queueID)
		return st.Max, ok
	}
	return longpoll.New(maxOffset, b.answerHeld)
}

// parkPull hands p to the long-polling service; false means the broker is
// closing and p must be answered now. The request's body goes first: a
// PULL_MESSAGE has no use for one, and a held pull may be kept 25 s outside
// the connection's in-flight limit, so whatever a client attached would
// stay pinned that long.
func (b *Broker) parkPull(p *pullRequest) bool {
	p.req.Body = nil
	return b.hold.Park(longpoll.Wait{Topic: p.topic, QueueID: p.queueID, Offset: p.offset, Suspend: p.suspend, ConnID: p.conn.ID()}, p)
}

// answerHeld re-runs a held pull and replies (longpoll.Answer). Once the
// broker is closing it answers with closingResponse instead.
func (b *Broker) answerHeld(p *pullRequest, closing bool) {
	var resp *remoting.Command
	if closing || b.closing() {
		resp = b.closingResponse(p)
	} else {
		resp, _ = b.runPull(p)
	}
	if err := p.conn.Reply(resp); err != nil {
		b.log.Debug("reply to held pull failed", "client", p.conn.RemoteAddr(), "err", err)
	}
}
