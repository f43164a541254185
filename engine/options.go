package engine

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
)

// Options configure a Store. Zero values take RocketMQ's defaults.
type Options struct {
	// FS holds every file of the store; vfs.Default in production. Tests
	// pass vfs.NewCrashableMem() and crash CommitLog, Pebble and index at
	// the same instant.
	FS vfs.FS
	// Dir is the data directory (storePathRootDir).
	Dir string
	// SegmentSize is the CommitLog segment size (mappedFileSizeCommitLog).
	SegmentSize int64
	// FlushMode is SyncFlush or AsyncFlush (flushDiskType).
	FlushMode FlushMode
	// FlushInterval is the ASYNC_FLUSH fsync period (flushIntervalCommitLog).
	FlushInterval time.Duration
	// Prewrite says whether CommitLog segments are zero-filled ahead of the
	// writer (default: under SYNC_FLUSH only).
	Prewrite commitlog.PrewriteMode
	// MaxMessageSize bounds a message body (maxMessageSize, 4 MiB).
	MaxMessageSize int
	// StoreHost is written into every record and message id.
	StoreHost netip.AddrPort
	// IndexSlots and IndexEntriesPerFile size the key index files.
	IndexSlots          int
	IndexEntriesPerFile int
	// FileReservedTime is how long segments are kept (fileReservedTime).
	FileReservedTime time.Duration
	// DiskMaxUsedRatio is the disk usage above which retention may remove
	// segments younger than FileReservedTime whose every message each
	// consumer group has consumed (diskMaxUsedSpaceRatio, 0.75). A segment
	// holding unconsumed messages stays until it expires, unless
	// CleanFileForcibly is set (see retention.go).
	DiskMaxUsedRatio float64
	// DiskCleanForciblyRatio is the disk usage above which, with
	// CleanFileForcibly, retention removes the oldest segments even if they
	// hold unconsumed messages (diskSpaceCleanForciblyRatio, 0.85).
	DiskCleanForciblyRatio float64
	// CleanFileForcibly takes RocketMQ's trade: over DiskCleanForciblyRatio,
	// unconsumed messages are deleted to make room for new ones
	// (cleanFileForciblyEnable; on in RocketMQ, off by default in Wharf,
	// which refuses sends instead).
	CleanFileForcibly bool
	// DiskFullRatio refuses writes while the disk is fuller than this
	// (diskSpaceWarningLevelRatio, 0.90), so offsets and metadata keep
	// room to be written and reads go on.
	DiskFullRatio float64
	// RetentionInterval is how often retention runs; 0 = 10 s, < 0 = never.
	RetentionInterval time.Duration
	// DispatchInterval spaces the dispatcher's rounds (dispatch.Options
	// MinInterval): 0 = 1 ms, < 0 = each round at once. Under load every
	// round then covers up to 1 ms of appends in one Pebble batch; a
	// consumer sees a message at most this much later.
	DispatchInterval time.Duration
	// Logger receives the store's logs.
	Logger *slog.Logger
	// RecreateMeta lets Open accept a missing or empty meta/ beside a
	// CommitLog that holds records (ErrMetaMissing otherwise), and leaves
	// it unmarked. For RebuildMeta, and tests that delete meta/ on purpose.
	RecreateMeta bool
	// OnDispatch is called (on the dispatcher goroutine) with the queues
	// that just got new entries; the broker wakes long polls from it.
	OnDispatch func(topic string, queueID int32, maxOffset int64)
	// Progress, if set, follows the replay Open runs (Rebuild's progress
	// bar): the span from the dispatch checkpoint to the end of the log.
	Progress *Progress
	// DelayLevels is the delay of each level, 1 first (messageDelayLevel,
	// ParseDelayLevels; nil: DefaultMessageDelayLevel). The consume-queue
	// entry of a delayed message carries its delivery time (DeliverTime),
	// derived from the record and this table alone, so a replay rebuilds
	// the same entries as the live dispatcher wrote.
	DelayLevels []time.Duration
	// HoldUnconfirmed starts the store with a confirm offset
	// (SetConfirmOffset) at what was dispatched before the last stop, so
	// Open replays nothing a consumer could see that the in-sync replicas
	// may not all hold (failover mode; false: dispatch up to the readable
	// end, as always).
	HoldUnconfirmed bool
}

// Defaults.
const (
	DefaultMaxMessageSize   = 4 << 20
	DefaultFileReservedTime = 72 * time.Hour
	DefaultDiskMaxUsedRatio = 0.75
	// DefaultDiskCleanForciblyRatio is RocketMQ's diskSpaceCleanForciblyRatio.
	DefaultDiskCleanForciblyRatio = 0.85
	DefaultDiskFullRatio          = 0.90
	DefaultDispatchInterval       = time.Millisecond
)

func (o *Options) ensureDefaults() error {
	if o.Dir == "" {
		return errors.New("engine: Options.Dir is empty")
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.DispatchInterval == 0 {
		o.DispatchInterval = DefaultDispatchInterval
	}
	if !o.StoreHost.IsValid() {
		o.StoreHost = netip.MustParseAddrPort("127.0.0.1:10911")
	}
	if o.FileReservedTime <= 0 {
		o.FileReservedTime = DefaultFileReservedTime
	}
	if o.DiskMaxUsedRatio <= 0 {
		o.DiskMaxUsedRatio = DefaultDiskMaxUsedRatio
	}
	if o.DiskCleanForciblyRatio <= 0 {
		o.DiskCleanForciblyRatio = DefaultDiskCleanForciblyRatio
	}
	if o.DiskFullRatio <= 0 {
		o.DiskFullRatio = DefaultDiskFullRatio
	}
	if o.RetentionInterval == 0 {
		o.RetentionInterval = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DelayLevels == nil {
		o.DelayLevels = defaultDelayLevels
	}
	return nil
}
