package queue

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// errDamagedDerived marks a queue state or the dispatch checkpoint that
// cannot be decoded.
var errDamagedDerived = errors.New("queue: damaged derived record")

// loadDerived loads the queue states and checks the dispatch checkpoint.
// Both are derived from the CommitLog: when one is garbage, every derived
// record is deleted (ResetDerived) and the dispatcher, finding no
// checkpoint, replays the whole log; configs and offsets are kept, and so
// is where each queue ends (ResetDerived), so no queue offset is handed
// out twice. A queue whose own state record is unreadable ends, for want
// of it, at offsetFloor.
func (d *DB) loadDerived() error {
	damaged, err := d.loadStates()
	if err == nil {
		_, err = d.Checkpoint()
	}
	if !errors.Is(err, errDamagedDerived) {
		return err
	}
	if len(damaged) > 0 {
		offsets, oerr := d.ConsumerOffsets()
		if oerr != nil {
			return fmt.Errorf("queue: reset damaged derived data: %w", oerr)
		}
		for _, ref := range damaged {
			floor, ferr := d.offsetFloor(ref, offsets)
			if ferr != nil {
				return fmt.Errorf("queue: reset damaged derived data: %w", ferr)
			}
			if floor > 0 {
				d.states[ref] = State{Min: floor, Max: floor}
			}
			d.log.Warn("queue state unreadable: the queue goes on from the end of its stored entries or its highest committed offset, unless the CommitLog still holds its records",
				"topic", ref.Topic, "queue", ref.QueueID, "floor", floor)
		}
	}
	d.log.Warn("consume queues damaged: deleting queue entries, blooms and the checkpoint (keeping where each queue ends); they are rebuilt from the CommitLog", "err", err)
	if err := d.ResetDerived(); err != nil {
		return fmt.Errorf("queue: reset damaged derived data: %w", err)
	}
	return nil
}

// offsetFloor is the least offset a queue whose state record is unreadable
// may go on from: one past its last stored entry, and no less than any
// group's committed offset on it (a group that committed its end must read
// the next message). offsets is ConsumerOffsets.
func (d *DB) offsetFloor(ref Ref, offsets map[string]map[Ref]int64) (int64, error) {
	floor := int64(0)
	start := queuePrefix(nil, prefixEntry, ref.Topic, ref.QueueID)
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: prefixEnd(start)})
	if err != nil {
		return 0, err
	}
	if it.Last() && len(it.Key()) == len(start)+8 {
		floor = int64(be.Uint64(it.Key()[len(start):])) + 1
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	for _, m := range offsets {
		if off, ok := m[ref]; ok && off > floor {
			floor = off
		}
	}
	return floor, nil
}
