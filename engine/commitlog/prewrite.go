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

// discardSegment closes and removes a segment that was never used.
func (c *CommitLog) discardSegment(seg *segment) {
	seg.unmap()
	seg.file.Close()
	path := c.fs.PathJoin(c.opts.Dir, SegmentName(seg.base))
	if err := c.fs.Remove(path); err != nil {
		c.opts.Logger.Warn("cannot remove an unused segment", "path", path, "err", err)
	}
}

// fillChunk is how much of the active segment fillActive zeroes at a time,
// holding flushMu (so appenders wait at most one chunk's write).
const fillChunk = 256 << 10

// startFillActive zero-fills the active segment ahead of the writer when it
// was not pre-written (the first segment of a new log, or the active one
// after recovery), so its fsyncs get cheap too.
func (c *CommitLog) startFillActive() {
	if c.opts.Prewrite != PrewriteOn || c.activeFilledTo >= c.segSize {
		return
	}
	seg := c.mu.active
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		from := (c.activeFilledTo + 4095) &^ 4095
		for off := from; off < c.segSize; off += fillChunk {
			select {
			case <-c.closing:
				return
			default:
			}
			c.flushMu.Lock()
			c.mu.Lock()
			passed := c.mu.active != seg || c.mu.pos > seg.base+off
			if !c.mapped {
				// Buffered appends reach the file under flushMu only.
				c.mu.Unlock()
			}
			if passed {
				// The writer got here first: the rest is its business.
				if c.mapped {
					c.mu.Unlock()
				}
				c.unlockFlush()
				return
			}
			err := zeroFill(seg.file, off, min(off+fillChunk, c.segSize))
			if c.mapped {
				// Mapped appends store under c.mu.
				c.mu.Unlock()
			}
			// Waiters that found flushMu taken sleep until a flushDone.
			c.unlockFlush()
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
