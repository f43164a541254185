package engine

import (
	"fmt"
	"sync"
	"time"

	"github.com/wharfmq/wharf/engine/dispatch"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

// PutResult says where a message (or the first of a batch) was stored.
type PutResult struct {
	// Phys is the CommitLog offset of the first record.
	Phys int64
	// QueueOffset is the queue offset of the first record.
	QueueOffset int64
	// Count is the number of records stored.
	Count int
	// StoreTime is the store timestamp (ms) of the first record.
	StoreTime int64
	// MsgIDs are the offset message ids, one per record.
	MsgIDs []string
}

// encodeBuf pools record buffers: encoding allocates nothing in the steady
// state.
var encodeBuf = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Put stores one message and returns after it is acknowledged under the
// flush mode. The message's Topic and QueueID pick the queue; its queue
// offset and store time are assigned here.
func (s *Store) Put(m *msg.Message) (PutResult, error) {
	return s.PutBatch([]*msg.Message{m})
}

// PutBatch stores messages of one (topic, queue) contiguously, with
// consecutive queue offsets, in one append, and returns once they are
// acknowledged under the flush mode.
func (s *Store) PutBatch(ms []*msg.Message) (PutResult, error) {
	res, end, err := s.PutBatchNoWait(ms)
	if err != nil {
		return res, err
	}
	if err := s.WaitPut(end); err != nil {
		return PutResult{}, fmt.Errorf("engine: put to %s/%d: %w", ms[0].Topic, ms[0].QueueID, err)
	}
	return res, nil
}

// WaitPut blocks until everything appended before end (as returned by
// PutBatchNoWait) is acknowledged under the flush mode. Waiting for the
// largest end of several puts covers them all.
func (s *Store) WaitPut(end int64) error { return s.cl.Wait(end) }

// PutBatchNoWait is PutBatch without the wait: the messages have their
// offsets, but must not be acknowledged before WaitPut(end) returns. It
// lets a caller hand the wait to another goroutine, or share one wait
// among many puts.
func (s *Store) PutBatchNoWait(ms []*msg.Message) (res PutResult, end int64, err error) {
	if len(ms) == 0 {
		return PutResult{}, 0, fmt.Errorf("%w: empty batch", ErrIllegal)
	}
	if err := s.disk.check(time.Now(), s.cl.Written()); err != nil {
		return PutResult{}, 0, err
	}
	if err := s.stalled(); err != nil {
		return PutResult{}, 0, err
	}
	bp := encodeBuf.Get().(*[]byte)
	defer func() {
		if invariants.Enabled {
			// The log copied the records: nothing may read them now.
			invariants.Poison((*bp)[:cap(*bp)])
		}
		encodeBuf.Put(bp)
	}()
	buf := (*bp)[:0]
	ref := queue.Ref{Topic: ms[0].Topic, QueueID: ms[0].QueueID}
	for _, m := range ms {
		if m.Topic != ref.Topic || m.QueueID != ref.QueueID {
			return PutResult{}, 0, fmt.Errorf("%w: a batch must go to one queue", ErrIllegal)
		}
		if len(m.Body) > s.opts.MaxMessageSize {
			return PutResult{}, 0, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(m.Body), s.opts.MaxMessageSize)
		}
		if !m.StoreHost.IsValid() {
			m.StoreHost = s.opts.StoreHost
		}
		m.EnableRecordCRC()
		if err := m.Validate(); err != nil {
			return PutResult{}, 0, fmt.Errorf("%w: %v", ErrIllegal, err)
		}
		if ref.QueueID < 0 {
			return PutResult{}, 0, fmt.Errorf("%w: queue id %d", ErrIllegal, ref.QueueID)
		}
		buf = msg.AppendRecord(buf, m)
	}
	*bp = buf
	res = PutResult{Count: len(ms), QueueOffset: -1}
	phys, end, err := s.cl.AppendNoWait(buf, func(phys int64, rec []byte) {
		off := s.next[ref]
		s.next[ref] = off + 1
		now := max(time.Now().UnixMilli(), s.lastStoreTime)
		s.lastStoreTime = now
		msg.SetOffsets(rec, off, phys)
		msg.SetStoreTimestamp(rec, now)
		if res.QueueOffset < 0 {
			res.QueueOffset = off
			res.StoreTime = now
		}
	})
	if err != nil {
		return PutResult{}, 0, fmt.Errorf("engine: put to %s/%d: %w", ref.Topic, ref.QueueID, err)
	}
	res.Phys = phys
	res.MsgIDs = make([]string, 0, len(ms))
	for p := 0; p < len(buf); {
		size, _, _ := msg.PeekHeader(buf[p:])
		res.MsgIDs = append(res.MsgIDs, msg.OffsetMsgID(s.opts.StoreHost, phys+int64(p)))
		p += size
	}
	return res, end, nil
}

// stalled returns ErrStalled, with the cause, while the dispatcher cannot
// make progress.
func (s *Store) stalled() error {
	st := s.disp.Stalled()
	if st == nil {
		return nil
	}
	return fmt.Errorf("%w: since %s, at CommitLog offset %d: %v; sends resume by themselves once it writes again",
		ErrStalled, st.Since.UTC().Format(time.RFC3339), st.At, st.Err)
}

// DispatchStall says why the dispatcher cannot make progress, or is nil
// while it does (for the broker's runtime status).
func (s *Store) DispatchStall() *dispatch.Stall { return s.disp.Stalled() }
