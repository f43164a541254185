package broker

import (
	"sync"

	"github.com/wharfmq/wharf/remoting"
)

// Under SYNC_FLUSH a send is appended on the connection's reader (no
// goroutine per message) and its reply handed to the connection's
// syncAcker, which waits until the records are durable and then answers,
// in order. A pipelined burst shares one wait and its replies leave
// together; a send is still never acknowledged before its fsync.

// syncAcker answers one connection's SYNC_FLUSH sends once durable.
type syncAcker struct {
	b    *Broker
	conn *remoting.Conn
	wake chan struct{} // capacity 1

	mu      sync.Mutex
	pending []pendingAck
}

// pendingAck is a reply (nil for a oneway send) waiting for end.
type pendingAck struct {
	req  *remoting.Command
	resp *remoting.Command
	end  int64
}

// ackAfterSync queues resp to be sent once the log is durable up to end.
func (b *Broker) ackAfterSync(conn *remoting.Conn, req, resp *remoting.Command, end int64) {
	v, ok := b.ackers.Load(conn)
	if !ok {
		a := &syncAcker{b: b, conn: conn, wake: make(chan struct{}, 1)}
		var loaded bool
		if v, loaded = b.ackers.LoadOrStore(conn, a); !loaded {
			if !b.goAsync(a.run) {
				b.ackers.Delete(conn)
				return // closing: the store's Close syncs what was appended
			}
		}
	}
	a := v.(*syncAcker)
	if req.IsOneway() {
		resp = nil // nobody to answer, but the records still need their fsync
	}
	a.mu.Lock()
	a.pending = append(a.pending, pendingAck{req: req, resp: resp, end: end})
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run waits for each batch of queued sends to become durable and answers
// them, until the connection closes.
func (a *syncAcker) run() {
	defer a.b.ackers.Delete(a.conn)
	var batch []pendingAck
	for {
		select {
		case <-a.wake:
		case <-a.conn.Done():
			return
		}
		for {
			a.mu.Lock()
			batch, a.pending = a.pending, batch[:0]
			a.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			// Appended in this order on one reader: the last end covers all.
			err := a.b.store.WaitPut(batch[len(batch)-1].end)
			for i, p := range batch {
				if p.resp != nil {
					resp := p.resp
					if err != nil {
						resp = remoting.NewResponse(p.req, putErrorCode(err), err.Error())
					}
					_ = a.conn.Reply(resp)
				}
				batch[i] = pendingAck{}
			}
		}
	}
}
