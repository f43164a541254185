package engine

import (
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/queue"
)

// The engine-level names of the facts its users need from the parts. Each
// is an alias: the same type as the part's, so a value passes between the
// two without conversion, but the broker names only package engine.

// FlushMode says when a write is acknowledged (flushDiskType).
type FlushMode = commitlog.FlushMode

// Flush modes.
const (
	// SyncFlush acknowledges a write once it is fsynced.
	SyncFlush = commitlog.SyncFlush
	// AsyncFlush acknowledges a write once it is in the page cache; a
	// timer fsyncs every FlushInterval.
	AsyncFlush = commitlog.AsyncFlush
)

// The CommitLog segment sizes Open accepts (mappedFileSizeCommitLog).
const (
	MinSegmentSize = commitlog.MinSegmentSize
	MaxSegmentSize = commitlog.MaxSegmentSize
)

// QueueRef names a consume queue: a topic and a queue id.
type QueueRef = queue.Ref

// QueueState is a queue's offset range: entries [Min, Max) are stored.
type QueueState = queue.State

// QueueEntry is one consume-queue entry: where the record is in the
// CommitLog (Phys, Size), its tags code and its store time.
type QueueEntry = queue.Entry
