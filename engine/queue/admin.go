package queue

import (
	"context"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ResetDerived deletes everything the dispatcher derives from the CommitLog
// (every queue entry and tag bloom, and the dispatch checkpoint) and keeps
// consumer offsets, topic and group configs and the marks of deleted
// topics. Each queue stays, empty at its end (Min = Max = its old Max): a
// queue whose records retention removed from the log has no record left to
// replay, and its offsets must go on from where they were, not from 0 (a
// group that committed its end would never read the next message). The
// next dispatcher replays the CommitLog from its start; the first record of
// a queue it meets sets where the queue starts (Batch.Add). Offline tools
// and Open only: no dispatcher may be running.
func (d *DB) ResetDerived() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	b := d.db.NewBatch()
	defer b.Close()
	for _, p := range []byte{prefixEntry, prefixBloom, prefixState} {
		if err := b.DeleteRange([]byte{p}, []byte{p + 1}, nil); err != nil {
			return fmt.Errorf("queue: reset: %w", err)
		}
	}
	kept := map[Ref]State{}
	for ref, st := range d.Queues() {
		if st.Max <= 0 {
			continue
		}
		kept[ref] = State{Min: st.Max, Max: st.Max}
		// Later in the batch than the range deletion, so it survives it.
		if err := b.Set(stateKey(nil, ref.Topic, ref.QueueID), stateValue(kept[ref]), nil); err != nil {
			return fmt.Errorf("queue: reset: %w", err)
		}
	}
	if err := b.Delete(checkpointKey, nil); err != nil {
		return fmt.Errorf("queue: reset: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("queue: reset derived data: %w", err)
	}
	d.mu.Lock()
	d.states = kept
	d.mu.Unlock()
	d.partial = map[Ref]*partialBlock{}
	d.dropBloomCache()
	return nil
}

// ScanAllEntries calls fn for every queue entry stored, in key order
// (topic, queue, offset), including entries of queues without a state
// record, until fn returns false. Check uses it to find orphans.
func (d *DB) ScanAllEntries(fn func(ref Ref, offset int64, e Entry) bool) error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixEntry}, UpperBound: []byte{prefixEntry + 1}})
	if err != nil {
		return fmt.Errorf("queue: scan entries: %w", corruption(err))
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		topic, qid, rest, err := parseQueueKey(it.Key())
		if err != nil || len(rest) != 8 {
			return fmt.Errorf("queue: malformed entry key %q", it.Key())
		}
		e, err := decodeEntry(it.Value())
		if err != nil {
			return err
		}
		if !fn(Ref{topic, qid}, int64(be.Uint64(rest)), e) {
			break
		}
	}
	return corruption(it.Error())
}

// Compact runs a manual compaction over every key and returns the size of
// the store's files before and after.
func (d *DB) Compact(ctx context.Context) (before, after uint64, err error) {
	before = d.db.Metrics().DiskSpaceUsage()
	if err := d.db.Flush(); err != nil {
		return before, before, fmt.Errorf("queue: flush before compaction: %w", err)
	}
	if err := d.db.Compact(ctx, []byte{0}, []byte{0xff, 0xff, 0xff, 0xff}, true); err != nil {
		return before, before, fmt.Errorf("queue: compact: %w", err)
	}
	return before, d.db.Metrics().DiskSpaceUsage(), nil
}
