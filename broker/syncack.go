package broker

import (
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// Under SYNC_FLUSH a send is appended on the connection's reader (no
// goroutine per message). When nothing else is queued on the connection
// and it has not pipelined lately (ackLater), the reader waits for the
// fsync itself and answers: a synchronous producer then costs no
// goroutine hand-off, and the readers of many such producers share fsyncs
// through the log's group commit. Otherwise the reply goes to the
// connection's syncAcker, which waits until the records are durable and
// answers, in order, while the reader goes on appending: a pipelined
// burst shares one wait and its replies leave in one write. Either way a
// send is never acknowledged before its fsync.

// syncAcker answers one connection's SYNC_FLUSH sends once durable.
type syncAcker struct {
	b    *Broker
	conn *remoting.Conn
	wake chan struct{} // capacity 1

	mu      sync.Mutex
	pending []pendingAck
	retired bool // the acker has left; queue to a new one
}

// ackerIdle is how long an acker waits for work before it leaves: a
// connection keeps one while it pipelines, and no goroutine once it has
// gone quiet or returned to one request at a time.
const ackerIdle = time.Second

// pendingAck is a reply (nil for a oneway send) waiting for end; slave
// says it also waits for a slave to hold end (SYNC_MASTER); start is when
// the request was read, for its latency.
type pendingAck struct {
	req   *remoting.Command
	resp  *remoting.Command
	end   int64
	slave bool
	start time.Time
}

// ackAfterSync queues resp to be sent once the log is acknowledged under
// the flush mode up to end and, if slave, a slave holds it.
func (b *Broker) ackAfterSync(conn *remoting.Conn, req, resp *remoting.Command, end int64, slave bool, start time.Time) {
	if req.IsOneway() {
		resp = nil // nobody to answer, but the records still need their fsync
	}
	for {
		v, ok := b.ackers.Load(conn)
		if !ok {
			a := &syncAcker{b: b, conn: conn, wake: make(chan struct{}, 1)}
			var loaded bool
			if v, loaded = b.ackers.LoadOrStore(conn, a); !loaded {
				if !b.goAsync(a.run) {
					b.ackers.CompareAndDelete(conn, a)
					return // closing: the store's Close syncs what was appended
				}
			}
		}
		a := v.(*syncAcker)
		a.mu.Lock()
		if a.retired {
			a.mu.Unlock()
			b.ackers.CompareAndDelete(conn, a) // it left between the Load and the lock
			continue
		}
		a.pending = append(a.pending, pendingAck{req: req, resp: resp, end: end, slave: slave, start: start})
		a.mu.Unlock()
		select {
		case a.wake <- struct{}{}:
		default:
		}
		return
	}
}

// countAckers is the number of connections with an acker.
func countAckers(b *Broker) int {
	n := 0
	b.ackers.Range(func(any, any) bool { n++; return true })
	return n
}

// ackLater says whether a SYNC_FLUSH send on conn is answered by the
// connection's acker rather than by the reader waiting in place: when
// another request already waits in the read buffer, or the connection has
// pipelined within the last ackerIdle (it has an acker; keeping to it also
// keeps its replies in order). A reader that waited in place would hold back the requests
// behind it for an fsync.
// REQUIRES: called on conn's reader (InputBuffered).
func (b *Broker) ackLater(conn *remoting.Conn) bool {
	if _, ok := b.ackers.Load(conn); ok {
		return true
	}
	return conn.InputBuffered()
}

// run waits for each batch of queued sends to become durable and answers
// them, until the connection closes or it has been idle for ackerIdle.
func (a *syncAcker) run() {
	defer a.b.ackers.CompareAndDelete(a.conn, a)
	var batch []pendingAck
	var resps []*remoting.Command
	idle := time.NewTimer(ackerIdle)
	defer idle.Stop()
	for {
		select {
		case <-a.wake:
		case <-a.conn.Done():
			return
		case <-idle.C:
			a.mu.Lock()
			if len(a.pending) == 0 {
				a.retired = true
				a.mu.Unlock()
				return
			}
			a.mu.Unlock()
		}
		for {
			a.mu.Lock()
			batch, a.pending = a.pending, batch[:0]
			a.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			// Appended in this order on one reader: the last end covers all.
			last := batch[len(batch)-1].end
			err := a.b.store.WaitPut(last)
			if err == nil {
				a.awaitReplicas(batch)
			}
			for i, p := range batch {
				if p.resp != nil {
					resp := p.resp
					if err != nil {
						resp = remoting.NewResponse(p.req, putErrorCode(err), err.Error())
					}
					// Demoted or fenced while waiting: not acknowledged.
					resp = a.b.finalAck(p.req, resp)
					a.b.traffic.rpc.observe(p.req.Code, resp.Code, time.Since(p.start))
					resps = append(resps, resp)
				}
				batch[i] = pendingAck{}
			}
			if len(resps) > 0 {
				// One write for the replies one fsync covered.
				if err := a.conn.ReplyAll(resps); err != nil {
					a.b.log.Debug("SYNC_FLUSH replies not sent", "remote", a.conn.RemoteAddr(), "err", err)
				}
				clear(resps)
				resps = resps[:0]
			}
		}
		idle.Reset(ackerIdle)
	}
}

// awaitReplicas sets the answer of each SYNC_MASTER send in batch (in the
// order appended, so ends ascending) once a slave holds its record: the
// largest end first, the one real wait, then each other end, which the
// reports that covered the largest mostly cover too. Each end is asked
// for: a report confirms only the bytes its slave was shipped on its
// connection (ha.Waiters.AdvanceFrom), so the largest end's answer does
// not speak for the records before it. All share one slaveTimeout.
func (a *syncAcker) awaitReplicas(batch []pendingAck) {
	var deadline time.Time
	var code int16
	var remark string
	last := int64(-1)
	for i := len(batch) - 1; i >= 0; i-- {
		p := &batch[i]
		if !p.slave {
			continue
		}
		if p.end != last {
			if deadline.IsZero() {
				deadline = time.Now().Add(a.b.repl.slaveTimeout)
			}
			code, remark = a.b.replicaCodeWithin(p.end, max(time.Until(deadline), 0))
			last = p.end
		}
		if p.resp != nil {
			p.resp.Code, p.resp.Remark = code, remark
		}
	}
}
