package commitlog

import (
	"fmt"
	"time"

	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/internal/atomicmax"
)

// checkpointEvery bounds how often the flusher rewrites the checkpoint.
const checkpointEvery = time.Second

// flushLoop is the background flusher: the AsyncFlush interval fsync and
// the final flush at Close. Appenders flush for themselves (Wait).
func (c *CommitLog) flushLoop() {
	defer c.wg.Done()
	var tick <-chan time.Time
	if c.opts.FlushMode == AsyncFlush {
		t := time.NewTicker(c.opts.FlushInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			if !c.intervalSync() {
				return
			}
		case <-c.closing:
			c.flushMu.Lock()
			c.flush(true)
			c.unlockFlush()
			return
		}
	}
}

// intervalSync is the AsyncFlush timer's fsync. It writes what is pending
// under flushMu but fsyncs outside it: appenders are acknowledged after
// their write, and must not wait behind an fsync of up to an interval's
// worth of dirty pages. Older segments were synced when the flusher left
// them, so syncing the last one written covers everything written. It
// returns false after a failure.
func (c *CommitLog) intervalSync() bool {
	c.flushMu.Lock()
	ok := c.flush(false)
	from, target := c.synced.Load(), c.written.Load()
	if !ok || from >= target {
		c.unlockFlush()
		return ok
	}
	c.syncGate.RLock() // taken under flushMu: no cut between the read and it
	c.unlockFlush()
	c.syncs.Add(1)
	err := c.syncRange(from, target)
	if err == nil {
		c.advanceSynced(target)
	}
	c.syncGate.RUnlock()
	if err != nil {
		c.fail(err)
		return false
	}
	c.flushMu.Lock()
	defer c.unlockFlush()
	return c.maybeCheckpoint()
}

// advanceSynced moves the synced mark up to to, never back: the interval
// sync and a WaitSynced flush may finish in either order.
func (c *CommitLog) advanceSynced(to int64) { atomicmax.Raise(&c.synced, to) }

// maybeCheckpoint rewrites the checkpoint when the last one is old enough,
// or at once when the synced mark left the segment it was in: recovery
// scans from the checkpoint and cuts at the first damaged record, so a
// sealed segment must lie below it, where damage is corruption to report
// (Check), not a torn tail to cut with every record after it.
// REQUIRES: c.flushMu held.
func (c *CommitLog) maybeCheckpoint() bool {
	synced := c.synced.Load()
	if time.Since(c.lastCkpt) < checkpointEvery && synced/c.segSize == c.lastCkptAt/c.segSize {
		return true
	}
	if err := c.ckpt.write(synced, false); err != nil {
		c.fail(err)
		return false
	}
	c.lastCkpt, c.lastCkptAt = time.Now(), synced
	return true
}

// syncRange fdatasyncs every segment holding bytes of [from, to). Usually
// that is one; after a roll in the mapped mode it is the sealed segment too.
func (c *CommitLog) syncRange(from, to int64) error {
	var arr [2]*segment
	segs := arr[:0]
	c.segMu.RLock()
	for _, s := range c.segs {
		if s.base < to && s.base+c.segSize > from {
			segs = append(segs, s)
		}
	}
	c.segMu.RUnlock()
	start := time.Now()
	defer func() { c.observeSync(time.Since(start)) }()
	for _, s := range segs {
		if err := c.syncSegment(s); err != nil {
			return err
		}
	}
	return nil
}

// flush writes what is pending and fsyncs if the mode or forceSync asks. It
// returns false after a write error.
// REQUIRES: c.flushMu held.
func (c *CommitLog) flush(forceSync bool) bool {
	if c.failed.Load() {
		// After a failed write the bytes after it must not be written
		// and synced: the synced mark (and a checkpoint) would pass the
		// hole, and recovery would trust it.
		return false
	}
	wrote := false
	if !c.mapped {
		// (In the mapped mode appends copied their records into the
		// mapping themselves; only the fsync is left to do.)
		var ok bool
		if wrote, ok = c.writePending(); !ok {
			return false
		}
	}
	if invariants.Enabled {
		s, w, a := c.synced.Load(), c.written.Load(), c.appended.Load()
		invariants.Check(s <= w && (w <= a || a == 0), "marks out of order: synced %d written %d appended %d", s, w, a)
	}
	synced := false
	if from, target := c.synced.Load(), c.written.Load(); (c.opts.FlushMode == SyncFlush || forceSync) && from < target {
		c.syncs.Add(1)
		if err := c.syncRange(from, target); err != nil {
			c.fail(err)
			return false
		}
		c.advanceSynced(target)
		synced = true
	}
	if wrote || synced {
		if c.onAppend != nil {
			c.onAppend(c.Readable())
		}
	}
	if synced {
		return c.maybeCheckpoint()
	}
	return true
}

// writePending writes the appended bytes not yet in the files (the
// buffered mode). It returns whether it wrote anything, and false after a
// write error.
// REQUIRES: c.flushMu held.
func (c *CommitLog) writePending() (wrote, ok bool) {
	c.mu.Lock()
	buf, chunks, end := c.mu.buf, c.mu.chunks, c.mu.pos
	c.mu.buf = c.spare[:0]
	c.mu.chunks = nil
	c.mu.Unlock()

	for _, ch := range chunks {
		if c.lastSeg != nil && c.lastSeg != ch.seg {
			// The previous segment is sealed: make it durable before
			// moving on, in both modes, so the loss window stays bounded.
			if err := c.syncSegment(c.lastSeg); err != nil {
				c.fail(fmt.Errorf("commitlog: sealed segment: %w", err))
				return false, false
			}
		}
		c.lastSeg = ch.seg
		c.claimFill(ch.seg.base + ch.fileOff + int64(ch.end-ch.start))
		c.writes.Add(1)
		if _, err := ch.seg.file.WriteAt(buf[ch.start:ch.end], ch.fileOff); err != nil {
			c.fail(diskFull(fmt.Errorf("commitlog: write %d bytes at %s+%d: %w", ch.end-ch.start, ch.seg, ch.fileOff, err)))
			return false, false
		}
	}
	c.spare = buf[:0]
	if len(chunks) == 0 {
		return false, true
	}
	c.written.Store(end)
	return true, true
}
