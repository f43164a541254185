package commitlog

import (
	"fmt"
	"time"
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
		forceSync := false
		select {
		case <-tick:
			forceSync = true
		case <-c.closing:
			c.flushMu.Lock()
			c.flush(true)
			c.flushMu.Unlock()
			return
		}
		c.flushMu.Lock()
		ok := c.flush(forceSync)
		c.flushMu.Unlock()
		if !ok {
			return
		}
	}
}

// flush writes what is pending and fsyncs if the mode or forceSync asks. It
// returns false after a write error.
// REQUIRES: c.flushMu held.
func (c *CommitLog) flush(forceSync bool) bool {
	defer c.flushDone()
	c.mu.Lock()
	buf, chunks, end := c.mu.buf, c.mu.chunks, c.mu.pos
	c.mu.buf = c.spare[:0]
	c.mu.chunks = nil
	c.mu.Unlock()

	for _, ch := range chunks {
		if c.lastSeg != nil && c.lastSeg != ch.seg {
			// The previous segment is sealed: make it durable before
			// moving on, in both modes, so the loss window stays bounded.
			if err := c.lastSeg.file.SyncData(); err != nil {
				c.fail(fmt.Errorf("commitlog: sync sealed segment %s: %w", c.lastSeg, err))
				return false
			}
		}
		c.lastSeg = ch.seg
		c.writes.Add(1)
		if _, err := ch.seg.file.WriteAt(buf[ch.start:ch.end], ch.fileOff); err != nil {
			c.fail(diskFull(fmt.Errorf("commitlog: write %d bytes at %s+%d: %w", ch.end-ch.start, ch.seg, ch.fileOff, err)))
			return false
		}
	}
	c.spare = buf[:0]
	wrote := len(chunks) > 0
	if wrote {
		c.written.Store(end)
	}

	synced := false
	if (c.opts.FlushMode == SyncFlush || forceSync) && c.synced.Load() < c.written.Load() {
		target := c.written.Load()
		c.syncs.Add(1)
		if err := c.lastSeg.file.SyncData(); err != nil {
			c.fail(fmt.Errorf("commitlog: sync segment %s: %w", c.lastSeg, err))
			return false
		}
		c.synced.Store(target)
		synced = true
	}
	if wrote || synced {
		if c.onAppend != nil {
			c.onAppend(c.Readable())
		}
	}
	if synced && time.Since(c.lastCkpt) >= checkpointEvery {
		if err := c.ckpt.write(c.synced.Load(), false); err != nil {
			c.fail(err)
			return false
		}
		c.lastCkpt = time.Now()
	}
	return true
}
