package engine

import (
	"errors"
	"fmt"
	"io"

	"github.com/wharfmq/wharf/engine/dispatch"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

// Failover mode (issue 12) needs three things of the store beyond
// replication (replica.go): a replica cuts a tail its new master does not
// have (TruncateTo); consumers see only what every in-sync replica holds
// (SetConfirmOffset); and a replica that becomes master continues the queue
// offsets its log holds (ResumeQueueOffsets).

// TruncateTo cuts the CommitLog at phys, a record boundary between
// MinPhysOffset and MaxPhysOffset, and drops everything derived from the
// records cut: consume-queue entries and their tag blooms, queue maxima,
// key index entries, deleted-topic marks past phys, and the dispatcher's
// and the index's checkpoints. The next AppendReplica (or Put) goes to
// phys, and the dispatcher derives from it as from any append.
//
// Order, for crash safety: the dispatcher is paused between rounds; the
// cut is made durable first (commitlog.TruncateTo: a durable mark that
// recovery honours, so a crash at any point never brings a cut record
// back); then, still under the append lock, the derived data is dropped
// (synced), so a crash in between leaves derived data past the log's end,
// which Open drops as after any crash. An invalid phys changes nothing.
//
// The confirm offset, when set, is lowered to phys. Queue offsets for Put
// continue after the records kept, read from the log where dispatch
// had not reached.
//
// The caller stops appends first: a replica's own HA client is the only
// appender, and it calls this before appending the master's bytes.
func (s *Store) TruncateTo(phys int64) error {
	var dropped int
	err := s.disp.Rewind(func() (int64, error) {
		cut := false
		err := s.cl.TruncateTo(phys, func() error {
			cut = true
			n, err := s.qdb.TruncateFrom(phys)
			if err != nil {
				return err
			}
			dropped = n
			if err := s.idx.TruncateFrom(phys); err != nil {
				return err
			}
			// The dispatcher is paused: its position is stable, and the
			// queues hold what lies below it.
			next := s.queueMaxima()
			if err := s.scanQueueOffsets(next, min(s.disp.Pos(), phys), phys); err != nil {
				return err
			}
			s.next = next
			if lim := s.disp.Limit(); lim != dispatch.NoLimit && lim > phys {
				s.disp.SetLimit(phys)
			}
			return nil
		})
		if !cut {
			return -1, err
		}
		return phys, err
	})
	if err != nil {
		return fmt.Errorf("engine: truncate to %d: %w", phys, err)
	}
	s.log.Warn("store truncated", "to", phys, "droppedQueueEntries", dropped)
	return nil
}

// SetConfirmOffset makes consumers see only records that end at or below
// off (failover mode: the confirm offset, which every member of the
// SyncStateSet holds): the dispatcher derives queue entries and index
// entries only up to it, and a pull or a key query finds nothing past it.
// Moving it wakes the dispatcher. A record is never withdrawn once
// dispatched, so lowering it only holds back what comes next. A negative
// off removes the limit (the default: dispatch up to the readable end).
//
// WaitDispatched waits for the end of the log, so it times out while the
// limit holds records back.
func (s *Store) SetConfirmOffset(off int64) {
	if off < 0 {
		off = dispatch.NoLimit
	}
	s.disp.SetLimit(off)
}

// ConfirmOffset is the limit SetConfirmOffset set, ok false when there is
// none.
func (s *Store) ConfirmOffset() (off int64, ok bool) {
	lim := s.disp.Limit()
	return lim, lim != dispatch.NoLimit
}

// ResumeQueueOffsets makes the queue offsets Put assigns continue after
// the highest one each queue has in the log. A replica never assigns queue
// offsets (its records carry the master's), so before a replica takes its
// first Put as the new master, call this after its last AppendReplica. It
// reads the records past the dispatched position itself, so it needs no
// dispatch to finish (the confirm offset may hold it back).
func (s *Store) ResumeQueueOffsets() error {
	const tries = 10 // appends racing with it make it retry; bounded
	for range tries {
		end := s.cl.End()
		if err := s.cl.WaitSynced(end); err != nil {
			return fmt.Errorf("engine: resume queue offsets: %w", err)
		}
		// The position first, then the states: the states hold at
		// least what lies below the position.
		from := s.disp.Pos()
		next := s.queueMaxima()
		var err error
		done := false
		s.cl.Locked(func(cur int64) {
			if cur != end {
				return
			}
			done = true
			err = s.scanQueueOffsets(next, from, end)
			if err == nil {
				s.next = next
			}
		})
		if done {
			return err
		}
	}
	return errors.New("engine: resume queue offsets: appends kept arriving")
}

// queueMaxima returns each queue's next offset as the queues hold it.
func (s *Store) queueMaxima() map[queue.Ref]int64 {
	next := map[queue.Ref]int64{}
	for ref, st := range s.qdb.Queues() {
		next[ref] = st.Max
	}
	return next
}

// scanQueueOffsets raises next past the queue offset of every record in
// [from, end), which must lie below the readable end.
func (s *Store) scanQueueOffsets(next map[queue.Ref]int64, from, end int64) error {
	it := s.cl.NewIterator(from)
	for {
		rec, phys, err := it.Next(end)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("engine: queue offsets: read at %d: %w", phys, err)
		}
		r, err := msg.Decode(rec)
		if err != nil {
			return fmt.Errorf("engine: queue offsets: record at %d: %w", phys, err)
		}
		ref := queue.Ref{Topic: string(r.Topic), QueueID: r.QueueID}
		next[ref] = max(next[ref], r.QueueOffset+1)
	}
}
