package queue

import (
	"errors"
	"fmt"
)

// errDamagedDerived marks a queue state or the dispatch checkpoint that
// cannot be decoded.
var errDamagedDerived = errors.New("queue: damaged derived record")

// loadDerived loads the queue states and checks the dispatch checkpoint.
// Both are derived from the CommitLog: when one is garbage, every derived
// record is deleted (ResetDerived) and the dispatcher, finding no
// checkpoint, replays the whole log; configs and offsets are kept.
func (d *DB) loadDerived() error {
	err := d.loadStates()
	if err == nil {
		_, err = d.Checkpoint()
	}
	if !errors.Is(err, errDamagedDerived) {
		return err
	}
	d.log.Warn("consume queues damaged: deleting queue entries, blooms, states and the checkpoint; they are rebuilt from the CommitLog", "err", err)
	if err := d.ResetDerived(); err != nil {
		return fmt.Errorf("queue: reset damaged derived data: %w", err)
	}
	return nil
}
