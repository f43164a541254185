package commitlog

import (
	"fmt"
	"time"
)

// checkpointEvery bounds how often the flusher rewrites the checkpoint.
const checkpointEvery = time.Second

// flushLoop is the group-commit goroutine: it owns writing and fsyncing.
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
		case <-c.kick:
		case <-tick:
			forceSync = true
		case <-c.closing:
			c.flush(true)
			return
		}
		if !c.flush(forceSync) {
			return
		}
	}
}

// flush writes what is pending and fsyncs if the mode or forceSync asks. It
// returns false after a write error.
func (c *CommitLog) flush(forceSync bool) bool {
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
		if _, err := ch.seg.file.WriteAt(buf[ch.start:ch.end], ch.fileOff); err != nil {
			c.fail(fmt.Errorf("commitlog: write %d bytes at %s+%d: %w", ch.end-ch.start, ch.seg, ch.fileOff, err))
			return false
		}
	}
	c.spare = buf[:0]
	wrote := len(chunks) > 0
	if wrote {
		c.written.Store(end)
	}

	c.waitMu.Lock()
	needSync := c.needSync
	c.needSync = false
	c.waitMu.Unlock()

	synced := false
	if (c.opts.FlushMode == SyncFlush || forceSync || needSync) && c.synced.Load() < c.written.Load() {
		target := c.written.Load()
		if err := c.lastSeg.file.SyncData(); err != nil {
			c.fail(fmt.Errorf("commitlog: sync segment %s: %w", c.lastSeg, err))
			return false
		}
		c.synced.Store(target)
		synced = true
	}
	if wrote || synced {
		c.waitMu.Lock()
		c.cond.Broadcast()
		c.waitMu.Unlock()
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
