package engine

import (
	"fmt"

	"github.com/wharfmq/wharf/engine/msg"
)

// ReadRecord returns the stored record at phys (a CommitLog offset that
// starts a record), CRC-checked.
func (s *Store) ReadRecord(phys int64) ([]byte, error) {
	var h [msg.BlankHeaderSize]byte
	if err := s.cl.ReadAt(h[:], phys); err != nil {
		return nil, fmt.Errorf("engine: read record at %d: %w", phys, err)
	}
	size, kind, err := msg.PeekHeader(h[:])
	if err != nil || kind != msg.KindRecord {
		return nil, fmt.Errorf("%w: no record at %d", ErrCorruption, phys)
	}
	rec := make([]byte, size)
	if err := s.cl.ReadAt(rec, phys); err != nil {
		return nil, fmt.Errorf("engine: read record at %d: %w", phys, err)
	}
	r, err := msg.Decode(rec)
	if err == nil {
		err = r.VerifyCRC()
	}
	if err == nil && r.PhysOffset != phys {
		err = fmt.Errorf("record says it is at %d", r.PhysOffset)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: record at %d: %v", ErrCorruption, phys, err)
	}
	return rec, nil
}

// QueryByKey returns up to max stored records of topic whose KEYS contain
// key or whose UNIQ_KEY is key, stored in [begin, end] (ms), newest first.
func (s *Store) QueryByKey(topic, key string, max int, begin, end int64) ([][]byte, error) {
	hits, err := s.idx.Query(topic+"#"+key, max*2+4, begin, end)
	if err != nil {
		return nil, fmt.Errorf("engine: query %s#%s: %w", topic, key, err)
	}
	var out [][]byte
	for _, h := range hits {
		if len(out) >= max {
			break
		}
		if h.Phys < s.cl.MinOffset() || h.Phys >= s.cl.Readable() {
			continue
		}
		rec, err := s.ReadRecord(h.Phys)
		if err != nil {
			return out, err
		}
		// The index stores hashes: confirm the real key and topic.
		r, _ := msg.Decode(rec)
		if string(r.Topic) == topic && recordHasKey(r, key) {
			out = append(out, rec)
		}
	}
	return out, nil
}

func recordHasKey(r msg.Record, key string) bool {
	if uk, ok := msg.Property(r.Properties, msg.PropUniqKey); ok && uk == key {
		return true
	}
	found := false
	if keys, ok := msg.Property(r.Properties, msg.PropKeys); ok {
		msg.ForEachKey(keys, func(k string) { found = found || k == key })
	}
	return found
}

// QueueState returns the [min, max) offsets of a queue; ok is false for an
// unknown queue.
func (s *Store) QueueState(topic string, queueID int32) (QueueState, bool) {
	return s.qdb.State(topic, queueID)
}

// OffsetByTime returns the first offset of the queue stored at or after ts
// (ms); the max offset when all are older.
func (s *Store) OffsetByTime(topic string, queueID int32, ts int64) (int64, error) {
	return s.qdb.SearchByTime(topic, queueID, ts)
}

// EarliestStoreTime returns the store time of the queue's first kept entry.
func (s *Store) EarliestStoreTime(topic string, queueID int32) (int64, bool, error) {
	st, ok := s.qdb.State(topic, queueID)
	if !ok || st.Max == st.Min {
		return 0, false, nil
	}
	e, found, err := s.qdb.EntryAt(topic, queueID, st.Min)
	return e.StoreTime, found, err
}

// CommitOffset durably stores a consumer group's next offset.
func (s *Store) CommitOffset(group, topic string, queueID int32, offset int64) error {
	return s.qdb.CommitOffset(group, topic, queueID, offset)
}

// ConsumerOffset returns a group's committed offset, clamped into the
// queue's current range (an offset past the end after a crash would make the
// consumer wait forever). ok is false when nothing was committed.
func (s *Store) ConsumerOffset(group, topic string, queueID int32) (int64, bool, error) {
	off, ok, err := s.qdb.ConsumerOffset(group, topic, queueID)
	if err != nil || !ok {
		return off, ok, err
	}
	if st, known := s.qdb.State(topic, queueID); known && off > st.Max {
		s.log.Warn("consumer offset past the end of the queue; clamped", "group", group, "topic", topic,
			"queue", queueID, "offset", off, "max", st.Max)
		off = st.Max
	}
	return off, true, nil
}
