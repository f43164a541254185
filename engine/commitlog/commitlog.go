package commitlog

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/durable"
)

// Errors.
var (
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("commitlog: closed")
	// ErrTooLarge is returned when a record cannot fit in one segment.
	ErrTooLarge = errors.New("commitlog: record larger than a segment")
	// ErrOutOfRange is returned by reads outside [MinOffset, Readable).
	ErrOutOfRange = errors.New("commitlog: offset out of range")
	// ErrCorruption marks damage that recovery must not cut silently.
	ErrCorruption = errors.New("commitlog: corruption")
	// ErrDiskFull is returned when the next segment cannot be created for
	// lack of space. Nothing was appended; the log stays writable and a
	// later append retries once space is freed.
	ErrDiskFull = errors.New("commitlog: disk full")
)

// diskFull marks ENOSPC errors with ErrDiskFull.
func diskFull(err error) error {
	if err != nil && errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return err
}

// CommitLog is an append-only log of records in segment files. Append is safe
// for concurrent use; so are the read methods.
type CommitLog struct {
	opts    Options
	fs      vfs.FS
	segSize int64

	mu struct {
		sync.Mutex
		pos    int64    // end of the reserved (appended) bytes
		active *segment // segment that pos lies in
		buf    []byte   // appended bytes not yet handed to the flusher
		chunks []chunk  // where each part of buf goes
		err    error    // sticky: set after a write error or Close
	}

	segMu sync.RWMutex
	segs  []*segment // ascending and contiguous; the last one is the active one

	// flushMu makes one goroutine at a time the flusher: an appender
	// waiting for its record, or the background goroutine.
	flushMu sync.Mutex
	// syncGate is held shared by the AsyncFlush interval fsync, which runs
	// outside flushMu, from reading its range until it has advanced the
	// synced mark; TruncateTo holds it exclusively (after flushMu) so that
	// no fsync of bytes it cuts raises the mark past the new end, or syncs
	// a segment it closes.
	syncGate sync.RWMutex
	// syncMu runs the fsyncs of segments holding records one at a time
	// (syncSegment); syncErr, under it, is the first that failed.
	syncMu  sync.Mutex
	syncErr error
	// doneMu and doneCond announce each finished flush (flushGen bumps)
	// to waiters that did not get flushMu.
	doneMu   sync.Mutex
	doneCond sync.Cond
	flushGen uint64
	waitMu   sync.Mutex
	werr     error // sticky write/sync error, seen by waiters
	failed   atomic.Bool
	written  atomic.Int64
	synced   atomic.Int64
	appended atomic.Int64 // c.mu.pos, readable without c.mu (gather)
	appends  atomic.Int64 // appends so far (gather)
	// appendsSeen is c.appends when the last sync leader took the pending
	// bytes, and lastBatch how many appends that flush covered (roughly):
	// a leader gathers only after a flush that covered more than one.
	// REQUIRES: flushMu.
	appendsSeen, lastBatch int64

	// mapped says appends copy into the active segment's shared mapping
	// (mmap.go) instead of buffering for the flusher to pwrite. Set at
	// Open.
	mapped bool
	// activeFilledTo is how far the active segment's file reached at
	// Open, before any growth: startFillActive zero-fills the rest.
	activeFilledTo int64
	// The active-segment filler (startFillActive): fill is held while it
	// writes a chunk; fillTo is the offset it has zeroed up to; filling
	// turns false, under fill, when it stops or is stopped.
	fill    sync.Mutex
	fillSeg *segment // set before the filler starts, then read-only

	// The prefaulter's target (prefault.go): the active mapped segment
	// and how far into it pages are populated. Held while populating, so
	// a segment is not unmapped under it.
	pf struct {
		sync.Mutex
		seg  *segment
		done int64
	}
	// pfWakeAt is the appended offset at which an append wakes the
	// prefaulter (pfWake), which sleeps while far enough ahead.
	pfWakeAt atomic.Int64
	pfWake   chan struct{} // capacity 1
	// replicaFed: the last append came from a master (AppendReplica),
	// whose bytes are written, not stored into the mapping, so the
	// prefaulter rests until a local append comes (after a promotion).
	replicaFed atomic.Bool
	fillTo     atomic.Int64
	filling    atomic.Bool

	// rebased is where Rebase moved an empty log's start (0 if never):
	// iterators positioned below it jump there.
	rebased atomic.Int64

	syncs atomic.Int64 // fsyncs of segment data, for Stats
	// syncHist counts fsync latencies by SyncBounds, for Stats.
	syncHist  [len(SyncBounds) + 1]atomic.Int64
	syncNanos atomic.Int64 // total fsync time, for Stats
	writes    atomic.Int64 // write calls, for Stats

	closing chan struct{}
	wg      sync.WaitGroup

	// flusher-owned state.
	spare    []byte
	lastSeg  *segment // last segment the flusher wrote to
	ckpt     *checkpointFile
	lastCkpt time.Time
	// lastCkptAt is the offset the last checkpoint recorded.
	lastCkptAt int64
	next       *prewrite // the segment being prepared ahead of the writer
	onAppend   func(end int64)
	report     Report
	closeOnce  sync.Once
}

// chunk is a run of buf bound for one segment.
type chunk struct {
	seg        *segment
	fileOff    int64
	start, end int
}

// Open opens or creates the CommitLog in opts.Dir and recovers it.
func Open(opts Options) (*CommitLog, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	c := &CommitLog{
		opts:    opts,
		fs:      opts.FS,
		segSize: opts.SegmentSize,
		closing: make(chan struct{}),
		pfWake:  make(chan struct{}, 1),
	}
	c.doneCond.L = &c.doneMu
	c.pfWakeAt.Store(math.MaxInt64) // no prefaulter waits (buffered mode: never)
	if err := durable.MkdirAll(c.fs, opts.Dir); err != nil {
		return nil, fmt.Errorf("commitlog: %w", err)
	}
	if err := c.recover(); err != nil {
		c.closeFiles()
		return nil, err
	}
	c.wg.Add(1)
	go c.flushLoop()
	c.startFillActive()
	c.startPrewrite()
	if c.mapped {
		c.setPrefaultTarget(c.mu.active, c.mu.pos-c.mu.active.base)
		c.startPrefault()
	}
	return c, nil
}

// Stats counts the flusher's work since Open.
type Stats struct {
	Appends int64 // Append and AppendNoWait calls that stored records
	Writes  int64 // WriteAt calls
	Syncs   int64 // fdatasyncs of segment data
	// SyncHist counts fsync rounds by latency: SyncHist[i] those taking at
	// most SyncBounds[i] (and more than the bound before), the last one
	// the rest. SyncTime is their total time.
	SyncHist [len(SyncBounds) + 1]int64
	SyncTime time.Duration
}

// SyncBounds are the buckets of Stats.SyncHist.
var SyncBounds = [...]time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// Stats returns counters of the flusher's work.
func (c *CommitLog) Stats() Stats {
	st := Stats{Appends: c.appends.Load(), Writes: c.writes.Load(), Syncs: c.syncs.Load(),
		SyncTime: time.Duration(c.syncNanos.Load())}
	for i := range c.syncHist {
		st.SyncHist[i] = c.syncHist[i].Load()
	}
	return st
}

// observeSync records the latency of one fsync round.
func (c *CommitLog) observeSync(d time.Duration) {
	i := 0
	for i < len(SyncBounds) && d > SyncBounds[i] {
		i++
	}
	c.syncHist[i].Add(1)
	c.syncNanos.Add(int64(d))
}

// Report is what the last Open found.
func (c *CommitLog) Report() Report { return c.report }

// SegmentSize is the size of every segment.
func (c *CommitLog) SegmentSize() int64 { return c.segSize }

// FlushMode is the mode the log was opened with.
func (c *CommitLog) FlushMode() FlushMode { return c.opts.FlushMode }

// End is the offset after the last appended record (possibly not yet written).
func (c *CommitLog) End() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.pos
}

// Written is the offset up to which records are in the files (page cache).
func (c *CommitLog) Written() int64 { return c.written.Load() }

// Synced is the offset up to which records are durable.
func (c *CommitLog) Synced() int64 { return c.synced.Load() }

// Readable is the offset below which records may be read and dispatched:
// Synced under SyncFlush, Written under AsyncFlush.
func (c *CommitLog) Readable() int64 {
	if c.opts.FlushMode == SyncFlush {
		return c.synced.Load()
	}
	return c.written.Load()
}

// MinOffset is the first offset still stored.
func (c *CommitLog) MinOffset() int64 {
	c.segMu.RLock()
	defer c.segMu.RUnlock()
	if len(c.segs) == 0 {
		return 0
	}
	return c.segs[0].base
}

// SetAppendHook registers fn, called by the flusher after records up to end
// became readable. Call before the first Append.
func (c *CommitLog) SetAppendHook(fn func(end int64)) { c.onAppend = fn }

// Append stores one or more encoded records (concatenated; a batch stays in
// one segment) and waits until they are acknowledged under the flush mode.
// patch runs under the append lock once per record, with its physical offset
// and its bytes at their final place, so the caller can assign queue offsets
// and the store time in log order. It returns the offset of the first record
// and the end of the last. A record with msg.FlagRecordCRC gets its
// checksum property sealed after patch.
func (c *CommitLog) Append(recs []byte, patch func(phys int64, rec []byte)) (phys, end int64, err error) {
	phys, end, err = c.AppendNoWait(recs, patch)
	if err != nil {
		return phys, end, err
	}
	return phys, end, c.Wait(end)
}

// AppendNoWait is Append without the wait: call Wait(end) before
// acknowledging.
func (c *CommitLog) AppendNoWait(recs []byte, patch func(phys int64, rec []byte)) (phys, end int64, err error) {
	n := int64(len(recs))
	if n == 0 {
		return 0, 0, errors.New("commitlog: empty append")
	}
	if n+msg.BlankHeaderSize > c.segSize {
		return 0, 0, fmt.Errorf("%w: %d bytes, segment %d", ErrTooLarge, n, c.segSize)
	}
	if err := checkRecords(recs); err != nil {
		return 0, 0, err
	}
	c.mu.Lock()
	if c.mu.err != nil {
		err := c.mu.err
		c.mu.Unlock()
		return 0, 0, err
	}
	off := c.mu.pos - c.mu.active.base
	if off+n+msg.BlankHeaderSize > c.segSize {
		if err := c.rollLocked(off); err != nil {
			// Nothing was appended: the error is this append's alone.
			c.mu.Unlock()
			return 0, 0, err
		}
		off = 0
	}
	phys = c.mu.pos
	var stored []byte
	start := len(c.mu.buf)
	if c.mapped {
		stored = c.mu.active.mem[off : off+n]
		c.claimFill(phys + n)
		if c.replicaFed.Load() {
			c.replicaFed.Store(false)
			c.wakePrefault()
		}
		if invariants.Enabled {
			for i, b := range stored {
				invariants.Check(b == 0, "mapped segment %s not zero at %d before an append", c.mu.active, off+int64(i))
			}
		}
		copy(stored, recs)
	} else {
		c.mu.buf = append(c.mu.buf, recs...)
		stored = c.mu.buf[start:]
	}
	for p := int64(0); p < n; {
		size := int64(beUint32(stored[p:]))
		rec := stored[p : p+size]
		msg.SetOffsets(rec, 0, phys+p)
		if patch != nil {
			patch(phys+p, rec)
		}
		if msg.WantsCRC(rec) {
			msg.SealCRC(rec)
		}
		p += size
	}
	c.mu.pos += n
	end = c.mu.pos
	c.appended.Store(end)
	if end >= c.pfWakeAt.Load() {
		c.wakePrefault()
	}
	c.appends.Add(1)
	if c.next == nil && c.opts.Prewrite == PrewriteOn {
		c.startPrewrite()
	}
	if !c.mapped {
		c.addChunkLocked(c.mu.active, off, start, len(c.mu.buf))
		c.mu.Unlock()
		return phys, end, nil
	}
	// Mapped: the records are in the page cache now.
	c.written.Store(end)
	c.mu.Unlock()
	if c.opts.FlushMode == AsyncFlush && c.onAppend != nil {
		c.onAppend(end)
	}
	return phys, end, nil
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// checkRecords verifies that recs is a whole number of record headers.
func checkRecords(recs []byte) error {
	for p := 0; p < len(recs); {
		size, kind, err := msg.PeekHeader(recs[p:])
		if err != nil || kind != msg.KindRecord || size > len(recs)-p {
			return fmt.Errorf("commitlog: malformed record at %d of %d appended bytes", p, len(recs))
		}
		if rec := recs[p : p+size]; msg.WantsCRC(rec) && !msg.HasCRCSlot(rec) {
			return fmt.Errorf("commitlog: record at %d sets FlagRecordCRC without a checksum slot", p)
		}
		p += size
	}
	return nil
}

func (c *CommitLog) addChunkLocked(seg *segment, fileOff int64, start, end int) {
	if k := len(c.mu.chunks); k > 0 {
		last := &c.mu.chunks[k-1]
		if last.seg == seg && last.fileOff+int64(last.end-last.start) == fileOff && last.end == start {
			last.end = end
			return
		}
	}
	c.mu.chunks = append(c.mu.chunks, chunk{seg: seg, fileOff: fileOff, start: start, end: end})
}

// rollLocked fills the rest of the active segment with a BLANK record and
// makes the next segment active.
// REQUIRES: c.mu held.
// The next segment is taken first, so a failure (typically a full disk)
// leaves the log exactly as it was and a later append tries again.
func (c *CommitLog) rollLocked(off int64) error {
	nextBase := c.mu.active.base + c.segSize
	seg, err := c.takeSegment(nextBase)
	if err != nil {
		err = diskFull(err)
		c.opts.Logger.Error("cannot roll to the next segment; appends that need it fail until it can be created",
			"segment", SegmentName(nextBase), "err", err)
		return fmt.Errorf("commitlog: roll to segment %s: %w", SegmentName(nextBase), err)
	}
	if c.mapped {
		if err := mapSegment(seg, c.segSize); err != nil {
			c.discardSegment(seg)
			c.opts.Logger.Error("cannot map the next segment; appends that need it fail until it can be", "segment", seg.String(), "err", err)
			return fmt.Errorf("commitlog: roll to segment %s: %w", seg, err)
		}
	}
	blank := int(c.segSize - off)
	old := c.mu.active
	if c.mapped {
		c.claimFill(old.base + c.segSize)
		msg.AppendBlank(old.mem[off:off], blank)
		// The blank is in the page cache; the sealed segment's dirty
		// pages stay there after unmapping, and syncRange covers them.
		// (appended before written: synced <= written <= appended at
		// every instant.)
		c.appended.Store(nextBase)
		c.written.Store(nextBase)
		if err := c.unmapActive(old); err != nil {
			c.opts.Logger.Warn("unmapping a sealed segment failed", "err", err)
		}
	} else {
		start := len(c.mu.buf)
		c.mu.buf = msg.AppendBlank(c.mu.buf, blank)
		c.addChunkLocked(old, off, start, len(c.mu.buf))
	}
	c.segMu.Lock()
	c.segs = append(c.segs, seg)
	c.segMu.Unlock()
	c.mu.active = seg
	c.mu.pos = nextBase
	c.appended.Store(nextBase)
	if c.mapped {
		c.setPrefaultTarget(seg, 0)
	}
	c.startPrewrite()
	return nil
}

// Wait blocks until the bytes before end are acknowledged under the flush
// mode, or the log fails. The waiter flushes itself when no one else is
// (leader-follower group commit): a lone appender pays no goroutine
// hand-off, and appenders that arrive during a write or fsync are all
// covered by the next one.
func (c *CommitLog) Wait(end int64) error {
	mark := &c.synced
	if c.opts.FlushMode == AsyncFlush {
		mark = &c.written
	}
	return c.waitFor(mark, end, false)
}

// WaitSynced blocks until the bytes before end are durable, whatever the
// flush mode.
func (c *CommitLog) WaitSynced(end int64) error {
	return c.waitFor(&c.synced, end, true)
}

func (c *CommitLog) waitFor(mark *atomic.Int64, end int64, forceSync bool) error {
	for mark.Load() < end {
		if c.failed.Load() {
			return c.Err()
		}
		c.doneMu.Lock()
		gen := c.flushGen
		c.doneMu.Unlock()
		if c.flushMu.TryLock() {
			if mark.Load() < end && !c.failed.Load() {
				if mark == &c.synced {
					c.gather()
				}
				c.flush(forceSync)
			}
			c.unlockFlush()
			continue
		}
		// Someone else holds flushMu: sleep until they release it (they
		// bump flushGen after releasing), then look again.
		c.doneMu.Lock()
		for c.flushGen == gen && mark.Load() < end && !c.failed.Load() {
			c.doneCond.Wait()
		}
		c.doneMu.Unlock()
	}
	return nil
}

// gatherRounds bounds how long a sync leader lets appenders join.
const gatherRounds = 16

// gather lets appenders that are already running join the coming fsync
// before the leader takes the pending bytes: it yields the processor while
// the appended end keeps moving, and stops as soon as a yield brings
// nothing new. When a flush ends, every appender it acknowledged is woken
// at once; without this step the first of them to append becomes the next
// leader and syncs alone with the few that beat it, and closed-loop
// appenders settle into two cohorts that alternate with half the writers
// each. A lone appender does not yield at all: when the last flush covered
// one append, there is nobody to wait for, and a yield would let unrelated
// goroutines (the dispatcher woken by the last flush) run first.
// REQUIRES: c.flushMu held.
func (c *CommitLog) gather() {
	defer func() {
		n := c.appends.Load()
		c.lastBatch, c.appendsSeen = n-c.appendsSeen, n
	}()
	if c.lastBatch <= 1 {
		return
	}
	last := c.appended.Load()
	for range gatherRounds {
		runtime.Gosched()
		now := c.appended.Load()
		if now == last {
			return
		}
		last = now
	}
}

// unlockFlush releases flushMu and then wakes the waiters. Every holder of
// flushMu releases it this way, whether it flushed or not: a waiter that
// read the generation and then failed TryLock sleeps until the next bump,
// and bumping only after the release means it then finds the lock free.
// (Bumping before the release lost that wake-up: a waiter could read the
// new generation, fail TryLock on the not yet released lock, and sleep
// with nobody left to wake it.)
func (c *CommitLog) unlockFlush() {
	c.flushMu.Unlock()
	c.flushDone()
}

// flushDone bumps the flush generation and wakes every waiter.
func (c *CommitLog) flushDone() {
	c.doneMu.Lock()
	c.flushGen++
	c.doneCond.Broadcast()
	c.doneMu.Unlock()
}

// fail records a terminal write error and wakes every waiter.
func (c *CommitLog) fail(err error) {
	c.waitMu.Lock()
	if c.werr == nil {
		c.werr = err
		if err != ErrClosed {
			c.opts.Logger.Error("commitlog is read-only after a write error", "err", err)
		}
	}
	c.failed.Store(true)
	c.waitMu.Unlock()
	c.doneMu.Lock()
	c.flushGen++
	c.doneCond.Broadcast()
	c.doneMu.Unlock()
	c.mu.Lock()
	if c.mu.err == nil {
		c.mu.err = err
	}
	c.mu.Unlock()
}

// syncSegment fdatasyncs seg. Every fsync of a segment that holds
// records goes through here, one at a time: Linux reports a failed
// write-back once per file descriptor, to whichever fsync comes first, so
// an fsync that returns nil beside one that fails (the filler's, the
// interval sync's) may have lost the report to it. Serialised, a failure
// is on record before the next fsync returns, and that one fails too,
// whatever the kernel said: nothing is acknowledged after a failed fsync.
// The caller fails the log with the error (fail takes locks it may hold).
func (c *CommitLog) syncSegment(seg *segment) error {
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	if err := seg.file.SyncData(); err != nil && c.syncErr == nil {
		c.syncErr = fmt.Errorf("commitlog: sync segment %s: %w", seg, err)
	}
	return c.syncErr
}

// Err is the sticky write error, nil while the log accepts appends.
func (c *CommitLog) Err() error {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	return c.werr
}

// segmentFor returns the segment holding phys.
// REQUIRES: c.segMu held (read).
func (c *CommitLog) segmentForLocked(phys int64) *segment {
	if len(c.segs) == 0 || phys < c.segs[0].base {
		return nil
	}
	i := (phys - c.segs[0].base) / c.segSize
	if i >= int64(len(c.segs)) {
		return nil
	}
	return c.segs[i]
}

// ReadAt reads len(p) bytes at phys. The range must lie in one segment and
// below Readable.
func (c *CommitLog) ReadAt(p []byte, phys int64) error {
	end := phys + int64(len(p))
	if phys < 0 || end > c.Readable() {
		return fmt.Errorf("%w: [%d, %d) readable below %d", ErrOutOfRange, phys, end, c.Readable())
	}
	c.segMu.RLock()
	seg := c.segmentForLocked(phys)
	c.segMu.RUnlock()
	if seg == nil {
		return fmt.Errorf("%w: %d below the first segment", ErrOutOfRange, phys)
	}
	if end > seg.base+c.segSize {
		return fmt.Errorf("%w: [%d, %d) crosses segment %s", ErrOutOfRange, phys, end, seg)
	}
	// Recovery made the files hold every byte below the end (checkHeld,
	// fillScannedTails): a short read is damage, not zeros to serve.
	if err := readHeld(seg.file, p, phys-seg.base); err != nil {
		return fmt.Errorf("commitlog: read %d bytes at %d in segment %s: %w", len(p), phys, seg, err)
	}
	return nil
}

// Segments lists the segments, oldest first.
func (c *CommitLog) Segments() []SegmentInfo {
	c.segMu.RLock()
	defer c.segMu.RUnlock()
	out := make([]SegmentInfo, 0, len(c.segs))
	for _, s := range c.segs {
		info := SegmentInfo{Base: s.base, Size: c.segSize}
		if st, err := s.file.Stat(); err == nil {
			info.ModTime = st.ModTime()
		}
		out = append(out, info)
	}
	return out
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	Base int64
	Size int64
	// ModTime is the file's modification time; zero when it could not
	// be read.
	ModTime time.Time
}

// RemoveSegmentsBefore deletes whole segments that end at or before phys.
// The active segment is never removed. It returns the bases removed.
func (c *CommitLog) RemoveSegmentsBefore(phys int64) ([]int64, error) {
	c.mu.Lock()
	active := c.mu.active
	c.mu.Unlock()
	var victims []*segment
	c.segMu.Lock()
	for len(c.segs) > 1 && c.segs[0] != active && c.segs[0].base+c.segSize <= phys {
		victims = append(victims, c.segs[0])
		c.segs = slices.Delete(c.segs, 0, 1)
	}
	c.segMu.Unlock()
	var removed []int64
	for _, s := range victims {
		s.file.Close()
		if err := c.fs.Remove(c.fs.PathJoin(c.opts.Dir, SegmentName(s.base))); err != nil {
			return removed, fmt.Errorf("commitlog: remove segment %s: %w", s, err)
		}
		removed = append(removed, s.base)
		// The store logs why, with the segment's age and unconsumed counts.
		c.opts.Logger.Debug("segment file removed", "segment", s.String())
	}
	if len(removed) > 0 {
		if err := durable.SyncDir(c.fs, c.opts.Dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// Close flushes and fsyncs everything appended, marks the checkpoint clean
// and closes the files. Appends after Close fail with ErrClosed.
func (c *CommitLog) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.mu.err == nil {
			c.mu.err = ErrClosed
		}
		c.mu.Unlock()
		close(c.closing)
		c.wg.Wait()
		werr := c.Err()
		c.fail(ErrClosed)
		if werr == nil {
			err = c.ckpt.write(c.synced.Load(), true)
		} else {
			err = werr
		}
		if cerr := c.closeFiles(); err == nil {
			err = cerr
		}
	})
	return err
}

func (c *CommitLog) closeFiles() error {
	var err error
	c.segMu.Lock()
	for _, s := range c.segs {
		if uerr := s.unmap(); err == nil {
			err = uerr
		}
		if cerr := s.file.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("commitlog: close segment %s: %w", s, cerr)
		}
	}
	c.segs = nil
	c.segMu.Unlock()
	if c.next != nil && c.next.seg != nil {
		c.next.seg.file.Close()
	}
	if c.ckpt != nil {
		if cerr := c.ckpt.close(); err == nil {
			err = cerr
		}
	}
	return err
}
