package queue

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// loadDerivedReadOnly is loadDerived for a read-only DB: it loads the queue
// states that decode and lists every damaged state record and a damaged
// dispatch checkpoint in d.damaged, deleting nothing. (A writable Open
// deletes all derived records when one is damaged, and the dispatcher
// rebuilds them from the CommitLog: Check reports that instead of doing it.)
func (d *DB) loadDerivedReadOnly() error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixState + 1}})
	if err != nil {
		return fmt.Errorf("queue: load states: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		topic, qid, _, err := parseQueueKey(it.Key())
		v := it.Value()
		if err != nil || len(v) != 16 {
			d.damaged = append(d.damaged, fmt.Sprintf("bad state record %q (%d-byte value)", it.Key(), len(v)))
			continue
		}
		d.states[Ref{topic, qid}] = State{Min: int64(be.Uint64(v)), Max: int64(be.Uint64(v[8:]))}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("queue: load states: %w", err)
	}
	if _, err := d.Checkpoint(); errors.Is(err, errDamagedDerived) {
		d.damaged = append(d.damaged, err.Error())
	} else if err != nil {
		return err
	}
	return nil
}

// Damaged lists the damaged derived records (queue states, the dispatch
// checkpoint) a read-only Open found; the next writable Open deletes every
// derived record and the dispatcher rebuilds them from the CommitLog.
func (d *DB) Damaged() []string { return d.damaged }
