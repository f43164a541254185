package queue

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/index"
)

// Batch collects the dispatcher's writes: entries, states, blooms of blocks
// completed, and the checkpoint, committed together (without fsync). Only
// one Batch may be in use at a time.
type Batch struct {
	d       *DB
	b       *pebble.Batch
	touched map[Ref]State
	kbuf    []byte
	vbuf    []byte
	locked  bool // holds d.wmu, from the first write to Commit or Discard
}

// lock takes the DB's writer lock for the rest of this batch.
func (b *Batch) lock() {
	if !b.locked {
		b.d.wmu.Lock()
		b.locked = true
	}
}

func (b *Batch) unlock() {
	if b.locked {
		b.locked = false
		b.d.wmu.Unlock()
	}
}

// Discard drops what the batch holds and releases the writer lock; the
// Batch can be reused. The dispatcher calls it when it stops on an error.
func (b *Batch) Discard() {
	if b.locked {
		b.d.partial = map[Ref]*partialBlock{} // unknown what the batch tracked
	}
	b.b.Reset()
	b.touched = map[Ref]State{}
	b.unlock()
}

// NewBatch starts a batch.
func (d *DB) NewBatch() *Batch {
	return &Batch{d: d, b: d.db.NewBatch(), touched: map[Ref]State{}}
}

// Add writes the entry at offset. Rewriting an offset already stored (replay
// after a crash) is harmless; its value is the same. An entry of a topic
// deleted after the record was dispatched is skipped.
func (b *Batch) Add(topic string, queueID int32, offset int64, e Entry) error {
	b.lock()
	if cut, ok := b.d.deleted[topic]; ok && e.Phys < cut {
		return nil // deleted with its topic (DeleteQueues): a replay skips it
	}
	ref := Ref{topic, queueID}
	st, ok := b.touched[ref]
	if !ok {
		st, _ = b.d.State(topic, queueID)
	}
	if offset < 0 {
		return fmt.Errorf("queue: %s/%d: negative offset %d", topic, queueID, offset)
	}
	if st.Min == st.Max && offset < st.Max {
		// An empty queue kept at its end by ResetDerived meets its first
		// record in the replayed log: the log says where the queue is, and
		// it starts here. (Live, an empty queue only ever gets offsets from
		// its Max on.)
		st = State{Min: offset, Max: offset}
	}
	if invariants.Enabled {
		invariants.Check(offset <= st.Max || st.Max == 0, "consume queue %s/%d: offset %d leaves a hole after max %d", topic, queueID, offset, st.Max)
	}
	if offset > st.Max && st.Max != 0 {
		// Offsets are assigned densely at append; a hole means the log and
		// the queues disagree. Keep the entry, and say so loudly.
		b.d.log.Error("consume queue hole", "topic", topic, "queue", queueID, "offset", offset, "max", st.Max)
	}
	if st.Max == 0 && offset > 0 {
		// First entry of a queue not starting at 0 (retention removed
		// everything before): the queue starts here.
		st.Min = offset
	}
	b.kbuf = entryKey(b.kbuf[:0], topic, queueID, offset)
	b.vbuf = e.encode(b.vbuf[:0])
	if err := b.b.Set(b.kbuf, b.vbuf, nil); err != nil {
		return err
	}
	if offset+1 > st.Max {
		st.Max = offset + 1
	}
	b.touched[ref] = st
	return b.addTag(ref, offset, e.TagsCode)
}

// addTag tracks the tag codes of the queue's current block and writes its
// bloom when the block completes.
func (b *Batch) addTag(ref Ref, offset, code int64) error {
	block := offset / BlockSize
	pb := b.d.partial[ref]
	if pb == nil || pb.block != block || offset > pb.next {
		// Rebuild from what is stored (after a restart, or a gap).
		pb = &partialBlock{block: block, next: block * BlockSize}
		err := b.d.Scan(ref.Topic, ref.QueueID, pb.next, offset, func(o int64, e Entry) bool {
			pb.codes = append(pb.codes, e.TagsCode)
			pb.next = o + 1
			return true
		})
		if err != nil {
			return err
		}
		if pb.next != offset {
			pb.next = offset // entries missing (retention): the bloom is partial, so skip it
			pb.codes = nil
			pb.block = -1
		}
		b.d.partial[ref] = pb
	}
	if offset < pb.next {
		return nil // replayed entry, already counted
	}
	pb.codes = append(pb.codes, code)
	pb.next = offset + 1
	if pb.next%BlockSize != 0 {
		return nil
	}
	delete(b.d.partial, ref)
	if pb.block < 0 || len(pb.codes) != BlockSize {
		return nil
	}
	bloom := index.NewTagBloom(2*BlockSize, bloomFPRate)
	for i, c := range pb.codes {
		bloom.Add(c)
		bloom.Add(SubBlockKey(c, i/SubBlockSize))
	}
	data, err := bloom.MarshalBinary()
	if err != nil {
		return fmt.Errorf("queue: encode bloom: %w", err)
	}
	return b.b.Set(bloomKey(nil, ref.Topic, ref.QueueID, block), data, nil)
}

// SetCheckpoint records the CommitLog offset the batch brings the
// dispatcher to.
func (b *Batch) SetCheckpoint(phys int64) error {
	b.lock()
	return b.b.Set(checkpointKey, be.AppendUint64(nil, uint64(phys)), nil)
}

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return int(b.b.Count()) }

// Commit writes the batch without fsync, publishes the new queue states and
// returns the queues it touched. The Batch can be reused after Commit.
func (b *Batch) Commit() (map[Ref]State, error) {
	defer b.unlock()
	for ref, st := range b.touched {
		if err := b.b.Set(stateKey(nil, ref.Topic, ref.QueueID), stateValue(st), nil); err != nil {
			return nil, err
		}
	}
	if err := b.b.Commit(pebble.NoSync); err != nil {
		b.d.partial = map[Ref]*partialBlock{} // unknown what landed: rebuild lazily
		return nil, fmt.Errorf("queue: commit dispatch batch: %w", err)
	}
	touched := b.touched
	b.d.mu.Lock()
	for ref, st := range touched {
		b.d.states[ref] = st
	}
	b.d.mu.Unlock()
	b.b.Reset()
	b.touched = map[Ref]State{}
	return touched, nil
}

// Close releases the batch (and the writer lock, if an uncommitted batch
// still holds it).
func (b *Batch) Close() error {
	b.unlock()
	return b.b.Close()
}
