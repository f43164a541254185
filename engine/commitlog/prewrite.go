package commitlog

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

// prewrite is a segment being created ahead of the writer.
type prewrite struct {
	base int64
	done chan struct{}
	seg  *segment // valid after done, when err is nil
	err  error
}

// startPrewrite begins preparing the segment after the active one, once
// the writer is half way through the active one (AppendNoWait asks again
// as it goes).
// REQUIRES: c.mu held, or no concurrent appends (Open).
func (c *CommitLog) startPrewrite() {
	if c.opts.Prewrite != PrewriteOn || c.mu.pos-c.mu.active.base < c.segSize/2 {
		// Not before the writer is half way through the active segment:
		// zero-filling a whole segment at start or right after a roll
		// competes with the writer's fsyncs for the disk for seconds,
		// while half a segment of writing leaves ample time for it.
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
	if err := durable.SyncDir(c.fs, c.opts.Dir); err != nil {
		return nil, err
	}
	return &segment{base: base, file: f}, nil
}

// claimFill makes sure the filler will not write over [.., end): when end
// passes what it has zeroed, it waits for the chunk it may be writing and
// moves it on past end (or stops it, past its segment). Called by the writer before it writes bytes: under flushMu
// (buffered) or c.mu (mapped); the filler takes neither.
func (c *CommitLog) claimFill(end int64) {
	if !c.filling.Load() || end <= c.fillTo.Load() {
		return
	}
	c.fill.Lock()
	if segEnd := c.fillSeg.base + c.segSize; end >= segEnd {
		// The writer is done with the filler's segment.
		c.filling.Store(false)
	} else if end > c.fillTo.Load() {
		// Leapfrog: the filler goes on from the next page past the
		// writer (at a fresh start both begin at 0).
		c.fillTo.Store(min(segEnd, (end+4095)&^4095))
	}
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

// The active-segment filler zeroes fillChunk at a time, and fsyncs it,
// staying at most fillAhead ahead of the writer (polling every fillPoll
// when it is that far ahead).
const (
	fillChunk = 256 << 10
	fillAhead = 64 << 20
	fillPoll  = 20 * time.Millisecond
)

// startFillActive zero-fills the active segment ahead of the writer when it
// was not pre-written (the first segment of a new log, or the active one
// after recovery), so its fsyncs get cheap too.
//
// The filler and the writer never touch the same bytes, and the writer
// waits for the filler only when it catches up with it: the filler zeroes
// and syncs [fillTo, fillTo+fillChunk) holding c.fill and then advances
// fillTo; a write that would end past fillTo first moves fillTo past its
// end (claimFill), waiting at most for the chunk in progress. The filler
// stays within fillAhead of the writer.
func (c *CommitLog) startFillActive() {
	if c.opts.Prewrite != PrewriteOn || c.activeFilledTo >= c.segSize {
		return
	}
	seg := c.mu.active
	c.fillSeg = seg
	c.fillTo.Store(seg.base + (c.activeFilledTo+4095)&^4095)
	c.filling.Store(true)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			// Stay at most fillAhead ahead of the writer: zeroes far
			// ahead only cost disk bandwidth now.
			for c.fillTo.Load()-c.appended.Load() >= fillAhead {
				select {
				case <-c.closing:
					return
				case <-time.After(fillPoll):
				}
				if !c.filling.Load() {
					return
				}
			}
			select {
			case <-c.closing:
				return
			default:
			}
			c.fill.Lock()
			off := c.fillTo.Load() - seg.base // the writer may have moved it on
			if !c.filling.Load() || off >= c.segSize {
				c.filling.Store(false)
				c.fill.Unlock()
				break
			}
			end := min(off+fillChunk, c.segSize)
			// Sync each chunk: zeroes only in the page cache would make
			// the writer's next fdatasync write them out (and convert
			// the extents) itself, which is the cost pre-writing avoids.
			err := zeroFill(seg.file, off, end)
			if err == nil {
				if serr := c.syncSegment(seg); serr != nil {
					// A failed fsync of a file holding records ends
					// the log: the kernel may have dropped their dirty
					// pages and a later fsync may succeed anyway.
					c.filling.Store(false)
					c.fill.Unlock()
					c.fail(fmt.Errorf("commitlog: zero-filled active segment: %w", serr))
					return
				}
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
	}()
}
