package engine

import (
	"fmt"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
)

// RebuildReport says what Rebuild replayed.
type RebuildReport struct {
	// Records is the number of consume-queue entries rebuilt; Queues the
	// number of queues.
	Records int64 `json:"records"`
	Queues  int   `json:"queues"`
	// Bytes is the span of CommitLog replayed.
	Bytes int64 `json:"bytes"`
	// Replay is the time Open took to replay the log (with the CommitLog,
	// Pebble and index opens, which are small beside it); Total includes
	// the deletion and the final close.
	Replay time.Duration `json:"replayNs"`
	Total  time.Duration `json:"totalNs"`
}

// MBPerSec is the replay rate in MB (10^6 bytes) of CommitLog per second.
func (r *RebuildReport) MBPerSec() float64 {
	if r.Replay <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Replay.Seconds()
}

// Rebuild rebuilds everything derived from the CommitLog of a store no
// process has open (it takes the lock file; ErrStoreInUse otherwise): it
// deletes the consume-queue entries, tag blooms and the dispatch checkpoint
// from Pebble (keeping consumer offsets, topic and group configs, and where
// each queue ends: queue.DB.ResetDerived) and the key index files, then
// opens the store, which replays the whole CommitLog through the
// dispatcher, and closes it. Queue offsets stay what they were, also for a
// queue whose records retention removed from the log.
//
// Before it deletes anything it scans the CommitLog (commitlog.Check, read
// only) and refuses, changing nothing, when the replay would stop at
// damage: the derived data could then not be rebuilt, and the store, which
// still opens and serves what it can read, would no longer start.
//
// It is crash-safe at every step: the queue and index checkpoints only go
// down, and Open replays from the older of them, so an interrupted Rebuild
// is finished by the next Open (of a broker or of Rebuild).
func Rebuild(opts Options) (*RebuildReport, error) {
	began := time.Now()
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	opts.RetentionInterval = -1 // nothing may be removed while we measure
	fs := opts.FS
	release, _, err := LockStore(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	err = checkReplayable(opts)
	if err == nil {
		err = resetDerived(opts)
	}
	if rerr := release(); err == nil && rerr != nil {
		err = fmt.Errorf("engine: rebuild: release lock: %w", rerr)
	}
	if err != nil {
		return nil, err
	}
	opened := time.Now()
	s, err := Open(opts)
	if err != nil {
		return nil, fmt.Errorf("engine: rebuild: %w", err)
	}
	rep := &RebuildReport{Replay: time.Since(opened)}
	rep.Bytes = s.DispatchedOffset() - s.cl.MinOffset()
	for _, st := range s.qdb.Queues() {
		rep.Records += st.Max - st.Min
		rep.Queues++
	}
	if err := s.Close(); err != nil {
		return rep, fmt.Errorf("engine: rebuild: close: %w", err)
	}
	rep.Total = time.Since(began)
	s.log.Info("rebuilt consume queues and index from the CommitLog", "records", rep.Records, "bytes", rep.Bytes,
		"replay", rep.Replay, "MBps", rep.MBPerSec())
	return rep, nil
}

// checkReplayable scans every CommitLog segment, read only, and returns an
// ErrCorruption error naming the first damage a replay would stop at. A torn
// tail (which Open's recovery cuts) and a checkpoint that is missing (Open
// then scans every segment) are not such damage, nor is anything past an
// interrupted truncation (Open ends the log there). REQUIRES: the store lock
// held.
func checkReplayable(opts Options) error {
	fs := opts.FS
	dir := fs.PathJoin(opts.Dir, "commitlog")
	cl, err := commitlog.Check(commitlog.CheckOptions{FS: fs, Dir: dir, SegmentSize: opts.SegmentSize})
	if err != nil {
		return fmt.Errorf("engine: rebuild: verify the CommitLog: %w", err)
	}
	var damage []commitlog.Problem
	for _, p := range cl.Problems {
		switch {
		case tornTail(cl, p), p.Segment == "" && !cl.CheckpointFound, cl.PendingCut >= 0 && p.Offset >= cl.PendingCut:
			continue
		}
		damage = append(damage, p)
	}
	if len(damage) == 0 {
		return nil
	}
	p := damage[0]
	where := fmt.Sprintf("at %d", p.Offset)
	if p.Segment != "" {
		base, _ := commitlog.ParseSegmentName(p.Segment)
		where = fmt.Sprintf("segment %s +%d (offset %d)", fs.PathJoin(dir, p.Segment), p.Offset-base, p.Offset)
	}
	more := ""
	if n := cl.ProblemCount - len(cl.Problems) + len(damage); n > 1 {
		more = fmt.Sprintf(" (and %d more)", n-1)
	}
	return fmt.Errorf("engine: rebuild refused, nothing was changed: the CommitLog cannot be replayed: %w: %s: %s%s; `wharf inspect check` lists the damage",
		ErrCorruption, where, p.Reason, more)
}

// resetDerived deletes the derived data. REQUIRES: the store lock held.
func resetDerived(opts Options) error {
	fs := opts.FS
	qdb, err := queue.Open(queue.Options{FS: fs, Dir: fs.PathJoin(opts.Dir, "meta"), Logger: opts.Logger})
	if err != nil {
		return metaOpenErr("engine: rebuild", opts.Dir, err)
	}
	err = qdb.ResetDerived()
	if cerr := qdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("engine: rebuild: %w", err)
	}
	// The queue checkpoint is gone, so Open replays from the start.
	if err := index.RemoveAll(fs, fs.PathJoin(opts.Dir, "index")); err != nil {
		return fmt.Errorf("engine: rebuild: %w", err)
	}
	return nil
}
