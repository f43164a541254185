package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wharfmq/wharf/internal/durable"
)

// Truncation: a replica whose tail diverged from its new master (failover
// mode, issue 12) cuts its log back to the last offset both agree on and
// appends the master's bytes from there.
//
// The cut must survive a crash at any instant without bringing the cut
// records back (RocketMQ's does not: apache/rocketmq#10666). Zeroing the
// tail is not enough on its own: recovery scans from the checkpoint, which
// may lie past the cut, and a lowered checkpoint written before the tail
// is zeroed makes the stale records valid again. So TruncateTo first
// writes a durable truncation mark (the file "truncating", a slot file
// holding the cut offset), then zeroes and removes, lowers the checkpoint,
// and only then removes the mark. Recovery that finds the mark ends the
// log at the mark whatever it scans past it, and finishes the cut before
// it removes the mark.
//
// The mark's slot (part of the format):
//
//	offset size field
//	0      4    magic 0x57485452 ("WHTR")
//	4      8    sequence number
//	12     8    the cut offset (a record boundary)
//	20     4    CRC32-C of bytes 0..19
const truncMarkName = "truncating"

var truncMarkLayout = durable.Layout{
	Prefix:      []byte("WHTR"),
	PayloadSize: 8,
	Stride:      512,
	Valid:       func(p []byte) bool { return int64(binary.BigEndian.Uint64(p)) >= 0 },
}

// ErrNotBoundary is returned by TruncateTo for an offset that is not where
// a record starts (or the log's end).
var ErrNotBoundary = errors.New("commitlog: not a record boundary")

// TruncateTo cuts the log at phys: the records at and past phys are gone,
// durably, and the next append goes to phys. phys must be a record
// boundary between MinOffset and End; anything else is refused and
// nothing changes. Everything below phys is synced first.
//
// locked, if not nil, runs under the append lock after the cut (and also
// when phys is the end and there is nothing to cut), before any later
// append can be placed: the store drops what it derived from the cut
// records there. The cut stands whatever it returns; after a cut, its
// error leaves the log read-only (failed) until a restart.
//
// The caller makes sure nothing appends concurrently that it still wants:
// an append racing with the cut may land past phys and be cut with the
// rest. Readers of bytes below phys are not disturbed; a reader of a cut
// segment gets an error.
func (c *CommitLog) TruncateTo(phys int64, locked func() error) error {
	c.flushMu.Lock()
	defer c.unlockFlush()
	// Everything appended so far reaches the disk: the flusher has nothing
	// pending afterwards, and the bytes below phys are durable before the
	// cut is.
	if !c.flush(true) {
		return c.Err()
	}
	// An interval fsync in flight finishes first (syncGate).
	c.syncGate.Lock()
	c.mu.Lock()
	end, cut, err := c.truncateLocked(phys, locked)
	c.mu.Unlock()
	c.syncGate.Unlock()
	if err != nil && errors.Is(err, errCutFailed) {
		// The mark may be on disk: the next Open finishes the cut. This
		// process must not append past a half-done one.
		c.fail(err)
		return c.Err()
	}
	if err != nil && cut {
		// The log is cut but the caller's derived data may still reach
		// past it: appends would land where those entries point, and a
		// later Open could no longer tell them apart. Read-only until a
		// restart, whose Open drops what lies past the log's end.
		c.fail(fmt.Errorf("commitlog: truncated to %d, but dropping what was derived past it failed: %w", phys, err))
		return c.Err()
	}
	if cut {
		c.opts.Logger.Warn("commitlog truncated", "to", phys, "from", end, "bytes", end-phys)
	}
	return err
}

// errCutFailed marks a failure after the cut began.
var errCutFailed = errors.New("commitlog: truncation failed half way")

// truncateLocked checks phys and cuts; it returns the end before the cut
// and whether it cut anything.
// REQUIRES: c.flushMu and c.mu held.
func (c *CommitLog) truncateLocked(phys int64, locked func() error) (end int64, cut bool, err error) {
	if c.mu.err != nil {
		return 0, false, c.mu.err
	}
	end = c.mu.pos
	if c.synced.Load() < end || len(c.mu.buf) > 0 {
		return end, false, fmt.Errorf("commitlog: truncate to %d: %d bytes appended past the synced end %d", phys, end-c.synced.Load(), c.synced.Load())
	}
	c.segMu.RLock()
	first := c.segs[0].base
	target := c.segmentForLocked(phys)
	c.segMu.RUnlock()
	if phys < first || phys > end || target == nil {
		return end, false, fmt.Errorf("commitlog: truncate to %d: outside the log [%d, %d]", phys, first, end)
	}
	if phys < end {
		if err := c.checkBoundary(target, phys); err != nil {
			return end, false, err
		}
		if err := c.cutLocked(target, phys); err != nil {
			return end, false, fmt.Errorf("%w: to %d: %w", errCutFailed, phys, err)
		}
		cut = true
	}
	if locked != nil {
		// The cut stands whatever locked says: its error is the caller's.
		if err := locked(); err != nil {
			return end, cut, err
		}
	}
	return end, cut, nil
}

// checkBoundary walks seg's records from its start and makes sure one
// starts at phys (or phys is the segment's start).
// REQUIRES: c.mu held, everything synced.
func (c *CommitLog) checkBoundary(seg *segment, phys int64) error {
	want := phys - seg.base
	sc := segScanner{segSize: c.segSize, window: scanWindow}
	sc.reset(seg.base, c.segSize, func(p []byte, at int64) (int, error) { return readZeroPadded(seg.file, p, at) })
	for off := int64(0); off < want; {
		u, err := sc.next(off, false)
		if err != nil {
			return fmt.Errorf("commitlog: truncate to %d: %w", phys, err)
		}
		if u.kind != unitRecord {
			return fmt.Errorf("%w: %d (the records of %s end at %d)", ErrNotBoundary, phys, seg, seg.base+off)
		}
		off += int64(u.size)
		if off > want {
			return fmt.Errorf("%w: %d lies inside the record at %d", ErrNotBoundary, phys, seg.base+off-int64(u.size))
		}
	}
	return nil
}

// cutLocked does the cut: mark, zero and remove, reset the marks and the
// active segment, checkpoint, unmark.
// REQUIRES: c.flushMu and c.mu held; nothing pending.
func (c *CommitLog) cutLocked(target *segment, phys int64) error {
	if err := writeTruncMark(c, phys); err != nil {
		return err
	}
	old := c.mu.active
	// Background helpers of the old active segment stop first: the
	// prewritten next segment and the filler belong to a segment that
	// may be removed.
	if target != old {
		if p := c.next; p != nil {
			<-p.done
			if p.err == nil {
				c.discardSegment(p.seg)
			}
			c.next = nil
		}
		c.claimFill(old.base + c.segSize)
	}
	// Zero the target's tail (a write through the file reaches a shared
	// mapping too: one page cache) and make it durable.
	if _, err := zeroNonZero(target.file, phys-target.base, c.segSize); err != nil {
		return fmt.Errorf("zero %s from %d: %w", target, phys, err)
	}
	if err := c.syncSegment(target); err != nil {
		return err
	}
	// Remove the segments past the target.
	c.segMu.Lock()
	keep := int((target.base-c.segs[0].base)/c.segSize) + 1
	victims := append([]*segment(nil), c.segs[keep:]...)
	c.segs = c.segs[:keep]
	c.segMu.Unlock()
	for _, s := range victims {
		if s == old && c.mapped {
			if err := c.unmapActive(s); err != nil {
				c.opts.Logger.Warn("unmapping a cut segment failed", "err", err)
			}
		}
		s.file.Close()
		if err := c.fs.Remove(c.fs.PathJoin(c.opts.Dir, SegmentName(s.base))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove segment %s: %w", s, err)
		}
	}
	if len(victims) > 0 {
		if err := durable.SyncDir(c.fs, c.opts.Dir); err != nil {
			return err
		}
	}
	if target != old && c.mapped {
		if err := mapSegment(target, c.segSize); err != nil {
			return err
		}
		c.setPrefaultTarget(target, phys-target.base)
	}
	c.mu.active = target
	c.lastSeg = target
	c.mu.pos = phys
	c.mu.buf = c.mu.buf[:0]
	c.mu.chunks = nil
	c.appended.Store(phys)
	c.written.Store(phys)
	c.synced.Store(phys)
	if err := c.ckpt.write(phys, false); err != nil {
		return err
	}
	c.lastCkpt, c.lastCkptAt = time.Now(), phys
	return removeTruncMark(c)
}

// writeTruncMark makes the mark for a cut at phys durable.
func writeTruncMark(c *CommitLog, phys int64) error {
	path := c.fs.PathJoin(c.opts.Dir, truncMarkName)
	sf, _, _, err := durable.OpenSlotFile(c.fs, path, &truncMarkLayout)
	if err != nil {
		return fmt.Errorf("truncation mark: %w", err)
	}
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(phys))
	werr := sf.Write(p[:])
	if cerr := sf.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("truncation mark: %w", werr)
	}
	return nil
}

// removeTruncMark removes the mark durably: a mark that came back after
// later appends would cut them.
func removeTruncMark(c *CommitLog) error {
	if err := c.fs.Remove(c.fs.PathJoin(c.opts.Dir, truncMarkName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove truncation mark: %w", err)
	}
	return durable.SyncDir(c.fs, c.opts.Dir)
}

// readTruncMark returns the cut offset of an unfinished truncation, ok
// false when there is none, and whether a mark file exists at all. A mark
// whose slots are all torn was never durable, and its cut never began.
func readTruncMark(c *CommitLog) (phys int64, ok, exists bool, err error) {
	p, exists, err := durable.ReadSlotFile(c.fs, c.fs.PathJoin(c.opts.Dir, truncMarkName), &truncMarkLayout)
	if err != nil {
		return 0, false, exists, fmt.Errorf("commitlog: truncation mark: %w", err)
	}
	if p == nil {
		return 0, false, exists, nil
	}
	return int64(binary.BigEndian.Uint64(p)), true, true, nil
}

// Locked runs fn under the append lock with the log's end: no append is
// placed meanwhile. The store recomputes its queue offsets in it.
func (c *CommitLog) Locked(fn func(end int64)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fn(c.mu.pos)
}
