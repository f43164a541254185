package engine

import (
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
)

// LogStats is a snapshot of the CommitLog's positions and of the flusher's
// work since Open.
type LogStats struct {
	// MinOffset is the first offset still stored (retention removes
	// whole segments below it).
	MinOffset int64
	// End is the offset after the last appended record (possibly not yet
	// written).
	End int64
	// Readable is the offset below which records may be read: Synced
	// under SyncFlush, written under AsyncFlush.
	Readable int64
	// Synced is the offset up to which records are durable.
	Synced int64
	// Appends, Writes and Syncs count appends that stored records, write
	// calls and fdatasyncs of segment data.
	Appends, Writes, Syncs int64
	// SyncHist counts fsync rounds by latency (buckets SyncBounds, the
	// last one unbounded) and SyncTime is their total time.
	SyncHist []int64
	SyncTime time.Duration
	// Segments is the number of CommitLog segments on disk.
	Segments int
	// RetentionRemoved counts segments retention deleted since Open.
	RetentionRemoved int64
	// DiskFull says sends are refused for lack of disk (DiskFullRatio).
	DiskFull bool
}

// SyncBounds are the upper bounds of LogStats.SyncHist's buckets.
var SyncBounds = commitlog.SyncBounds

// LogStats returns the CommitLog's positions and counters.
func (s *Store) LogStats() LogStats {
	cst := s.cl.Stats()
	return LogStats{
		MinOffset: s.cl.MinOffset(), End: s.cl.End(), Readable: s.cl.Readable(), Synced: s.cl.Synced(),
		Appends: cst.Appends, Writes: cst.Writes, Syncs: cst.Syncs,
		SyncHist: cst.SyncHist[:], SyncTime: cst.SyncTime,
		Segments: len(s.cl.Segments()), RetentionRemoved: s.retentionRemoved.Load(),
		DiskFull: s.disk.full.Load(),
	}
}

// MinPhysOffset is the first CommitLog offset still stored: a queue entry
// pointing below it names a record retention has removed.
func (s *Store) MinPhysOffset() int64 { return s.cl.MinOffset() }

// MaxPhysOffset is the CommitLog offset after the last appended record
// (possibly not yet written).
func (s *Store) MaxPhysOffset() int64 { return s.cl.End() }

// WaitDurable blocks until the CommitLog bytes before end are fsynced,
// whatever the flush mode: a caller about to record progress past them
// (a stored offset) must not let that progress outlive them.
func (s *Store) WaitDurable(end int64) error { return s.cl.WaitSynced(end) }

// EarliestMessageTime returns the store time of the first record still in
// the CommitLog; ok is false when it holds none or that record cannot be
// read.
func (s *Store) EarliestMessageTime() (ts int64, ok bool) {
	minOff := s.cl.MinOffset()
	if minOff >= s.cl.Readable() {
		return 0, false
	}
	rec, err := s.ReadRecord(minOff)
	if err != nil {
		return 0, false
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return 0, false
	}
	return r.StoreTimestamp, true
}

// Err returns the CommitLog's sticky write error, or nil while it takes
// appends (readiness checks).
func (s *Store) Err() error { return s.cl.Err() }

// DiskFull returns the disk guard's refusal (wrapping ErrDiskFull) while
// sends are refused for lack of disk, nil otherwise. It asks the file
// system again when its last answer is stale (diskCheckEvery), so a freed
// disk shows even while no send arrives.
func (s *Store) DiskFull() error { return s.disk.check(time.Now(), s.cl.Written()) }
