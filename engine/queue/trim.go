package queue

import (
	"fmt"
	"maps"

	"github.com/cockroachdb/pebble/v2"
)

// TruncateFrom drops every entry that points at or past phys (the CommitLog
// was cut there) and moves the checkpoint back to phys if it was past it.
// Derived data may lag the CommitLog but never lead it (RELIABILITY rule 4).
// It returns how many entries it dropped.
func (d *DB) TruncateFrom(phys int64) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	dropped := 0
	b := d.db.NewBatch()
	defer b.Close()
	newStates := map[Ref]State{}
	for ref, st := range d.Queues() {
		max := st.Max
		for max > st.Min {
			e, found, err := d.EntryAt(ref.Topic, ref.QueueID, max-1)
			if err != nil {
				return dropped, err
			}
			if found && e.Phys < phys {
				break
			}
			max--
		}
		if max == st.Max {
			continue
		}
		dropped += int(st.Max - max)
		if err := b.DeleteRange(entryKey(nil, ref.Topic, ref.QueueID, max), entryKey(nil, ref.Topic, ref.QueueID, st.Max), nil); err != nil {
			return dropped, err
		}
		// A bloom covers only complete blocks; the block holding max is no
		// longer complete.
		if err := b.DeleteRange(bloomKey(nil, ref.Topic, ref.QueueID, max/BlockSize), bloomKey(nil, ref.Topic, ref.QueueID, st.Max/BlockSize+1), nil); err != nil {
			return dropped, err
		}
		st.Max = max
		newStates[ref] = st
		if err := b.Set(stateKey(nil, ref.Topic, ref.QueueID), stateValue(st), nil); err != nil {
			return dropped, err
		}
	}
	// A topic deleted past the new end: records appended from phys on
	// come after the delete.
	clamped := map[string]int64{}
	for topic, cut := range d.deleted {
		if cut > phys {
			clamped[topic] = phys
			if err := b.Set(deletedKey(topic), be.AppendUint64(nil, uint64(phys)), nil); err != nil {
				return dropped, err
			}
		}
	}
	cp, err := d.Checkpoint()
	if err != nil {
		return dropped, err
	}
	if cp > phys {
		if err := b.Set(checkpointKey, be.AppendUint64(nil, uint64(phys)), nil); err != nil {
			return dropped, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return dropped, fmt.Errorf("queue: truncate from %d: %w", phys, err)
	}
	maps.Copy(d.deleted, clamped)
	d.mu.Lock()
	for ref, st := range newStates {
		d.states[ref] = st
	}
	d.mu.Unlock()
	d.partial = map[Ref]*partialBlock{}
	d.dropBloomCache()
	return dropped, nil
}

// TrimBelow drops, in every queue, the entries that point below phys (the
// CommitLog segments there were removed) and advances the queue's Min.
func (d *DB) TrimBelow(phys int64) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	b := d.db.NewBatch()
	defer b.Close()
	newStates := map[Ref]State{}
	for ref, st := range d.Queues() {
		// First offset whose entry points at or past phys.
		lo, hi := st.Min, st.Max
		for lo < hi {
			mid := lo + (hi-lo)/2
			e, found, err := d.EntryAt(ref.Topic, ref.QueueID, mid)
			if err != nil {
				return err
			}
			if !found || e.Phys < phys {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo == st.Min {
			continue
		}
		if err := b.DeleteRange(entryKey(nil, ref.Topic, ref.QueueID, st.Min), entryKey(nil, ref.Topic, ref.QueueID, lo), nil); err != nil {
			return err
		}
		if err := b.DeleteRange(bloomKey(nil, ref.Topic, ref.QueueID, 0), bloomKey(nil, ref.Topic, ref.QueueID, lo/BlockSize), nil); err != nil {
			return err
		}
		st.Min = lo
		newStates[ref] = st
		if err := b.Set(stateKey(nil, ref.Topic, ref.QueueID), stateValue(st), nil); err != nil {
			return err
		}
	}
	// A deleted topic's mark is moot once the log below it is gone.
	var moot []string
	for topic, cut := range d.deleted {
		if cut <= phys {
			if err := b.Delete(deletedKey(topic), nil); err != nil {
				return err
			}
			moot = append(moot, topic)
		}
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("queue: trim below %d: %w", phys, err)
	}
	for _, topic := range moot {
		delete(d.deleted, topic)
	}
	d.mu.Lock()
	for ref, st := range newStates {
		d.states[ref] = st
	}
	d.mu.Unlock()
	d.dropBloomCache()
	return nil
}

// DeleteQueues removes every entry, bloom and state of a topic and every
// consumer offset committed on it, and marks the records dispatched so far
// as deleted with it (DeletedTopics). The offsets go too (as RocketMQ 5's
// deleteTopic cleans them): a topic created again under the name may
// start its queues at 0 again, where an old offset would skip messages.
func (d *DB) DeleteQueues(topic string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	b := d.db.NewBatch()
	defer b.Close()
	// Everything dispatched so far goes with the topic, and stays gone
	// when the log is replayed. (Records not dispatched yet create the
	// topic's queues again, as a send after the delete would.)
	cut, err := d.Checkpoint()
	if err != nil {
		return err
	}
	if err := b.Set(deletedKey(topic), be.AppendUint64(nil, uint64(cut)), nil); err != nil {
		return err
	}
	var removed []Ref
	for ref := range d.Queues() {
		if ref.Topic != topic {
			continue
		}
		for _, p := range []byte{prefixEntry, prefixBloom, prefixState} {
			start := queuePrefix(nil, p, ref.Topic, ref.QueueID)
			if err := b.DeleteRange(start, prefixEnd(start), nil); err != nil {
				return err
			}
		}
		removed = append(removed, ref)
	}
	if err := d.deleteTopicOffsets(b, topic); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("queue: delete queues of %s: %w", topic, err)
	}
	d.deleted[topic] = cut
	d.mu.Lock()
	for _, ref := range removed {
		delete(d.states, ref)
		delete(d.partial, ref)
	}
	d.mu.Unlock()
	d.dropBloomCache()
	return nil
}

func (d *DB) dropBloomCache() {
	d.bloomMu.Lock()
	clear(d.bloomCache)
	d.bloomMu.Unlock()
}
