package commitlog

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FlushMode says when an append is acknowledged.
type FlushMode int

const (
	// SyncFlush acknowledges after the record is fsynced.
	SyncFlush FlushMode = iota
	// AsyncFlush acknowledges after the record is written to the file; a
	// timer fsyncs every FlushInterval.
	AsyncFlush
)

func (m FlushMode) String() string {
	if m == AsyncFlush {
		return "ASYNC_FLUSH"
	}
	return "SYNC_FLUSH"
}

// Defaults, after RocketMQ's MessageStoreConfig.
const (
	DefaultSegmentSize   = 1 << 30
	DefaultFlushInterval = 500 * time.Millisecond
)

// Options configure a CommitLog.
type Options struct {
	// FS is where the segments live; vfs.Default in production.
	FS vfs.FS
	// Dir is the CommitLog directory.
	Dir string
	// SegmentSize is the size of every segment file (mappedFileSizeCommitLog).
	SegmentSize int64
	// FlushMode is SyncFlush or AsyncFlush (flushDiskType).
	FlushMode FlushMode
	// FlushInterval is the AsyncFlush fsync period (flushIntervalCommitLog).
	FlushInterval time.Duration
	// DisablePrewrite turns off zero-filling the next segment ahead of the
	// writer (for benchmarks that show what it buys).
	DisablePrewrite bool
	// Logger receives recovery reports and errors.
	Logger *slog.Logger
}

func (o *Options) ensureDefaults() error {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Dir == "" {
		return errors.New("commitlog: Options.Dir is empty")
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.SegmentSize < 4096 || o.SegmentSize > 1<<40 {
		return fmt.Errorf("commitlog: segment size %d outside 4 KiB..1 TiB", o.SegmentSize)
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	o.Logger = o.Logger.With("component", "commitlog")
	return nil
}
