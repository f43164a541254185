package commitlog

import (
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/durable"
)

// Replica errors. Both mean the bytes offered do not continue this log;
// nothing was appended.
var (
	// ErrReplicaOffset: the bytes start somewhere other than the log's end.
	ErrReplicaOffset = errors.New("commitlog: replicated bytes do not start at the log's end")
	// ErrReplicaLayout: the bytes do not fit this log's segments (a BLANK
	// that does not end a segment, a record that crosses one, a record
	// whose offset field names another place), which is what a master
	// with a different mappedFileSizeCommitLog sends, or damage.
	ErrReplicaLayout = errors.New("commitlog: replicated bytes do not fit this log's segments")
)

// AppendReplica appends bytes copied from a master's CommitLog, which must
// start at this log's end (phys) and hold whole units only: records, and
// BLANK fillers that reach their segment's end. Records keep every byte
// the master gave them (queue offset, store time, offsets): a replica
// assigns nothing. Each record passes VerifyRecord at its offset before it
// is appended, the check recovery makes, so a replica never stores a
// record its own recovery would cut; the units before the first that
// fails are appended, and the error comes with their end. A BLANK rolls to the next
// segment as a local roll does, writing the same filler.
//
// It returns the log's new end. Like AppendNoWait it does not wait: call
// Wait(end) before reporting the bytes as held. When the roll at a BLANK
// fails (a full disk), the records before it stay appended: the error
// comes with the end reached, and the caller resends from there. Every
// error comes with the log's end.
func (c *CommitLog) AppendReplica(phys int64, data []byte) (end int64, err error) {
	// The offset first, so that bytes meant for elsewhere are named as
	// such, not as damage; checked again under the lock.
	if pos := c.End(); phys != pos {
		return pos, fmt.Errorf("%w: bytes for %d, log ends at %d", ErrReplicaOffset, phys, pos)
	}
	// The whole units before a bad one are appended: a large frame with
	// one bad unit keeps the good ones before it, as smaller frames
	// would have, and the error comes after them.
	n, bad := c.checkReplica(phys, data)
	if n == 0 {
		return phys, bad
	}
	data = data[:n]
	c.mu.Lock()
	if c.mu.err != nil {
		err, pos := c.mu.err, c.mu.pos
		c.mu.Unlock()
		return pos, err
	}
	if phys != c.mu.pos {
		pos := c.mu.pos
		c.mu.Unlock()
		return pos, fmt.Errorf("%w: bytes for %d, log ends at %d", ErrReplicaOffset, phys, pos)
	}
	for p := 0; p < len(data); {
		size, kind, _ := msg.PeekHeader(data[p:])
		off := c.mu.pos - c.mu.active.base
		if kind == msg.KindBlank {
			if err := c.rollLocked(off); err != nil {
				// What came before the BLANK stays appended.
				end = c.mu.pos
				c.mu.Unlock()
				c.afterReplicaAppend()
				return end, err
			}
			p += size
			continue
		}
		// A run of records, all in the active segment (checkReplica made
		// sure each fits where it goes).
		q := p
		for q < len(data) {
			s, k, _ := msg.PeekHeader(data[q:])
			if k != msg.KindRecord {
				break
			}
			q += s
		}
		if err := c.placeLocked(off, data[p:q]); err != nil {
			end = c.mu.pos
			c.mu.Unlock()
			c.fail(err)
			c.afterReplicaAppend()
			return end, err
		}
		p = q
	}
	end = c.mu.pos
	c.mu.Unlock()
	c.afterReplicaAppend()
	return end, bad
}

// afterReplicaAppend tells the hook what a mapped async log made readable
// (the buffered mode's flusher does it after writing).
func (c *CommitLog) afterReplicaAppend() {
	if c.mapped && c.opts.FlushMode == AsyncFlush && c.onAppend != nil {
		c.onAppend(c.written.Load())
	}
}

// placeLocked copies whole records to the active segment at off, as
// AppendNoWait does, without touching their bytes. A mapped segment takes
// them with one pwrite, not a copy into the mapping: the page cache is
// the same (Linux keeps a shared mapping and write coherent), but a
// frame of 32 KiB or more then costs one system call instead of a write
// fault per 4 KiB page, and needs no pages populated ahead (a slave
// catching up on 1 GiB of 1 KiB records on the dev box: 322-366 MB/s in
// most runs against 162-224). A failed write is returned
// and nothing is counted as placed.
// REQUIRES: c.mu held; the records fit in the active segment.
func (c *CommitLog) placeLocked(off int64, recs []byte) error {
	n := int64(len(recs))
	phys := c.mu.pos
	if c.mapped {
		c.claimFill(phys + n)
		c.replicaFed.Store(true)
		c.writes.Add(1)
		if _, err := c.mu.active.file.WriteAt(recs, off); err != nil {
			return diskFull(fmt.Errorf("commitlog: write %d replicated bytes at %s+%d: %w", n, c.mu.active, off, err))
		}
	} else {
		start := len(c.mu.buf)
		c.mu.buf = append(c.mu.buf, recs...)
		c.addChunkLocked(c.mu.active, off, start, len(c.mu.buf))
	}
	c.mu.pos += n
	c.appended.Store(c.mu.pos)
	if c.mu.pos >= c.pfWakeAt.Load() {
		c.wakePrefault()
	}
	c.appends.Add(1)
	if c.next == nil && c.opts.Prewrite == PrewriteOn {
		c.startPrewrite()
	}
	if c.mapped {
		c.written.Store(c.mu.pos)
	}
	return nil
}

// checkReplica verifies, before any lock, that data is whole units that
// fit this log's segments when placed at phys. It returns the length of
// the units before the first that fails, and why that one fails.
func (c *CommitLog) checkReplica(phys int64, data []byte) (n int, err error) {
	if len(data) == 0 {
		return 0, errors.New("commitlog: empty replica append")
	}
	if phys < 0 {
		return 0, fmt.Errorf("%w: offset %d", ErrReplicaOffset, phys)
	}
	for p := 0; p < len(data); {
		at := phys + int64(p)
		left := c.segSize - at%c.segSize
		size, kind, err := msg.PeekHeader(data[p:])
		switch {
		case err != nil:
			return p, fmt.Errorf("%w: at %d: %v", ErrReplicaLayout, at, err)
		case size > len(data)-p:
			return p, fmt.Errorf("%w: at %d: a unit of %d bytes with only %d offered", ErrReplicaLayout, at, size, len(data)-p)
		case kind == msg.KindBlank && int64(size) != left:
			return p, fmt.Errorf("%w: at %d: BLANK of %d bytes where the segment has %d left (is mappedFileSizeCommitLog %d on the master too?)",
				ErrReplicaLayout, at, size, left, c.segSize)
		case kind == msg.KindBlank:
		case kind != msg.KindRecord:
			return p, fmt.Errorf("%w: at %d: not a record", ErrReplicaLayout, at)
		case int64(size)+msg.BlankHeaderSize > left:
			return p, fmt.Errorf("%w: at %d: record of %d bytes crosses the segment end (%d bytes left; is mappedFileSizeCommitLog %d on the master too?)",
				ErrReplicaLayout, at, size, left, c.segSize)
		default:
			if verr := VerifyRecord(data[p:p+size], at); verr != nil {
				return p, fmt.Errorf("%w: record at %d: %v", ErrReplicaLayout, at, verr)
			}
		}
		p += size
	}
	return len(data), nil
}

// Rebase moves the start of an empty log to base, a segment start above
// 0: a slave that copies its master from the master's oldest retained
// segment (or its last one, syncFromLastFile) begins its own log at the
// same offset, so every byte keeps its place. It refuses a log that holds
// anything or was ever rebased.
func (c *CommitLog) Rebase(base int64) error {
	if base <= 0 || base%c.segSize != 0 {
		return fmt.Errorf("commitlog: rebase to %d: not a segment start above 0 (segment size %d)", base, c.segSize)
	}
	// Lock order as in Wait: flushMu, then mu. Holding flushMu keeps the
	// flusher off the segment being replaced.
	c.flushMu.Lock()
	defer c.unlockFlush()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.err != nil {
		return c.mu.err
	}
	c.segMu.RLock()
	empty := c.mu.pos == 0 && len(c.segs) == 1 && c.segs[0] == c.mu.active && c.mu.active.base == 0
	c.segMu.RUnlock()
	if !empty {
		return fmt.Errorf("commitlog: rebase to %d: the log is not empty (end %d)", base, c.mu.pos)
	}
	if p := c.next; p != nil {
		<-p.done
		if p.err == nil {
			c.discardSegment(p.seg)
		}
		c.next = nil
	}
	seg, err := c.createSegment(base, false)
	if err != nil {
		return fmt.Errorf("commitlog: rebase to %d: %w", base, err)
	}
	if c.mapped {
		if err := mapSegment(seg, c.segSize); err != nil {
			c.discardSegment(seg)
			return fmt.Errorf("commitlog: rebase to %d: %w", base, err)
		}
	}
	old := c.mu.active
	c.claimFill(old.base + c.segSize) // stops the old segment's filler
	if c.mapped {
		if err := c.unmapActive(old); err != nil {
			c.opts.Logger.Warn("unmapping the replaced empty segment failed", "err", err)
		}
	}
	c.segMu.Lock()
	c.segs = []*segment{seg}
	c.segMu.Unlock()
	c.discardSegment(old)
	if err := durable.SyncDir(c.fs, c.opts.Dir); err != nil {
		return fmt.Errorf("commitlog: rebase to %d: %w", base, err)
	}
	c.mu.active = seg
	c.lastSeg = seg
	c.mu.pos = base
	c.appended.Store(base)
	c.written.Store(base)
	c.synced.Store(base)
	c.rebased.Store(base)
	if c.mapped {
		c.setPrefaultTarget(seg, 0)
	}
	if err := c.ckpt.write(base, false); err != nil {
		return fmt.Errorf("commitlog: rebase to %d: %w", base, err)
	}
	c.opts.Logger.Info("empty CommitLog now starts at the master's offset", "from", base)
	return nil
}
