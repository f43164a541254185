package commitlog

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// prewrite is a segment being created ahead of the writer.
type prewrite struct {
	base int64
	done chan struct{}
	seg  *segment // valid after done, when err is nil
	err  error
}

// startPrewrite begins preparing the segment after the active one.
// REQUIRES: c.mu held, or no concurrent appends (Open).
func (c *CommitLog) startPrewrite() {
	if c.opts.Prewrite != PrewriteOn {
		return
	}
	base := c.mu.active.base + c.segSize
	if c.next != nil && c.next.base == base {
		return
	}
	p := &prewrite{base: base, done: make(chan struct{})}
	c.next = p
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(p.done)
		p.seg, p.err = c.createSegment(base, true)
	}()
}

// takeSegment returns the segment at base, ready for writing: the
// prewritten one if there is one, else a newly created one.
// REQUIRES: c.mu held.
func (c *CommitLog) takeSegment(base int64) (*segment, error) {
	if p := c.next; p != nil && p.base == base {
		<-p.done
		c.next = nil
		if p.err == nil {
			return p.seg, nil
		}
		c.opts.Logger.Warn("prewrite failed; creating the segment directly", "segment", SegmentName(base), "err", p.err)
	}
	return c.createSegment(base, false)
}

// createSegment creates the segment file at base, zero-filled to full size
// when fill is set (else its blocks are reserved with fallocate), and makes
// its directory entry durable. Either way its space is allocated up front,
// so a full disk shows here, before any record is placed in the segment,
// and not as a failed write of records already acknowledged in order.
// On failure the file is removed.
func (c *CommitLog) createSegment(base int64, fill bool) (seg *segment, err error) {
	path := c.fs.PathJoin(c.opts.Dir, SegmentName(base))
	f, err := c.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, diskFull(fmt.Errorf("create %s: %w", path, err))
	}
	defer func() {
		if err != nil {
			f.Close()
			if rerr := c.fs.Remove(path); rerr != nil {
				c.opts.Logger.Warn("cannot remove a segment that failed to be created", "path", path, "err", rerr)
			}
			err = diskFull(err)
		}
	}()
	if fill {
		for off := int64(0); off < c.segSize; off += int64(len(zeroChunk)) {
			select {
			case <-c.closing:
				return nil, ErrClosed
			default:
			}
			if err := zeroFill(f, off, min(off+int64(len(zeroChunk)), c.segSize)); err != nil {
				return nil, fmt.Errorf("zero-fill %s: %w", path, err)
			}
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("sync %s: %w", path, err)
		}
	} else if err := f.Preallocate(0, c.segSize); err != nil && errors.Is(err, syscall.ENOSPC) {
		// fallocate with KEEP_SIZE on Linux. Other errors (a file
		// system without fallocate) only lose the reservation.
		return nil, fmt.Errorf("reserve %d bytes for %s: %w", c.segSize, path, err)
	}
	if err := syncDir(c.fs, c.opts.Dir); err != nil {
		return nil, err
	}
	return &segment{base: base, file: f}, nil
}

// claimFill makes sure the filler will not write over [.., end): when end
// passes what it has zeroed, it stops it, waiting for the chunk it may be
// writing. Called by the writer before it writes bytes: under flushMu
// (buffered) or c.mu (mapped); the filler takes neither.
func (c *CommitLog) claimFill(end int64) {
	if !c.filling.Load() || end <= c.fillTo.Load() {
		return
	}
	c.fill.Lock()
	c.filling.Store(false)
	c.fill.Unlock()
}

// discardSegment closes and removes a segment that was never used.
func (c *CommitLog) discardSegment(seg *segment) {
	seg.unmap()
	seg.file.Close()
	path := c.fs.PathJoin(c.opts.Dir, SegmentName(seg.base))
	if err := c.fs.Remove(path); err != nil {
		c.opts.Logger.Warn("cannot remove an unused segment", "path", path, "err", err)
	}
}

// fillChunk is how much of the active segment the filler zeroes at a time.
const fillChunk = 256 << 10

// startFillActive zero-fills the active segment ahead of the writer when it
// was not pre-written (the first segment of a new log, or the active one
// after recovery), so its fsyncs get cheap too.
//
// The filler and the writer never touch the same bytes, and the writer
// never waits for the filler except once, when it catches up: the filler
// zeroes [fillTo, fillTo+fillChunk) holding fill.mu and then advances
// fillTo; a write that would end past fillTo first stops the filler
// (claimFill), waiting at most for the chunk in progress.
func (c *CommitLog) startFillActive() {
	if c.opts.Prewrite != PrewriteOn || c.activeFilledTo >= c.segSize {
		return
	}
	seg := c.mu.active
	from := (c.activeFilledTo + 4095) &^ 4095
	c.fillTo.Store(seg.base + from)
	c.filling.Store(true)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for off := from; off < c.segSize; off += fillChunk {
			select {
			case <-c.closing:
				return
			default:
			}
			end := min(off+fillChunk, c.segSize)
			c.fill.Lock()
			if !c.filling.Load() {
				c.fill.Unlock()
				return // the writer got here first: the rest is its business
			}
			err := zeroFill(seg.file, off, end)
			if err == nil {
				c.fillTo.Store(seg.base + end)
			} else {
				c.filling.Store(false)
			}
			c.fill.Unlock()
			if err != nil {
				c.opts.Logger.Warn("zero-filling the active segment failed", "segment", seg.String(), "err", err)
				return
			}
		}
		if err := seg.file.SyncData(); err != nil {
			// The file holds records: after a failed fsync the kernel
			// may have dropped their dirty pages and a later fsync may
			// succeed anyway, so the log cannot go on.
			c.fail(fmt.Errorf("commitlog: sync zero-filled active segment %s: %w", seg, err))
		}
	}()
}
