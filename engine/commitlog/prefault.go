package commitlog

import (
	"errors"
	"math"
	"os"
	"syscall"
	"time"
)

// The mapped mode's prefaulter. The first store into a page of a fresh
// segment faults, and the kernel then reads the page in, which for the
// segment's reserved (never written) blocks means allocating and zeroing
// it: on the dev box that was a third of the broker's CPU under batch
// sends, paid by the appender while it held the append lock. The
// prefaulter asks the kernel to bring the pages in ahead of the writer
// (madvise MADV_POPULATE_READ, clean and read-only), so the appender's
// store only turns a present page writable. It stays prefaultAhead ahead
// of the writer and never touches a page the writer has reached. While
// that far ahead it sleeps until the writer has used half of the lead
// (an append past pfWakeAt wakes it), so an idle broker has no poller.
// Linux only: elsewhere populate is unsupported and the prefaulter stops
// at its first step. It rests while the log is fed by a master
// (replicaFed): replicated bytes are written, not stored into the mapping.
const (
	prefaultChunk = 1 << 20
	prefaultAhead = 32 << 20
	prefaultCheck = time.Second // a wake-up lost in a race costs at most this
)

// pageSize aligns madvise ranges (4 KiB here, 16 or 64 KiB on some arm64).
var pageSize = int64(os.Getpagesize())

// setPrefaultTarget points the prefaulter at seg, the newly active mapped
// segment, from its offset from on.
// REQUIRES: c.mu held (roll) or no appends yet (Open).
func (c *CommitLog) setPrefaultTarget(seg *segment, from int64) {
	c.pf.Lock()
	c.pf.seg, c.pf.done = seg, from&^(pageSize-1)
	c.pf.Unlock()
	c.wakePrefault()
}

// wakePrefault wakes the prefaulter if it sleeps.
func (c *CommitLog) wakePrefault() {
	c.pfWakeAt.Store(math.MaxInt64)
	select {
	case c.pfWake <- struct{}{}:
	default:
	}
}

// unmapActive unmaps a mapped segment that stops being active, after
// waiting for a prefault of it in progress.
func (c *CommitLog) unmapActive(seg *segment) error {
	c.pf.Lock()
	defer c.pf.Unlock()
	if c.pf.seg == seg {
		c.pf.seg = nil
	}
	return seg.unmap()
}

// startPrefault starts the prefaulter (mapped mode only).
func (c *CommitLog) startPrefault() {
	if !c.mapped {
		return
	}
	c.wg.Add(1)
	go c.prefaultLoop()
}

func (c *CommitLog) prefaultLoop() {
	defer c.wg.Done()
	check := time.NewTimer(prefaultCheck)
	defer check.Stop()
	for {
		ahead, err := c.prefaultStep()
		if err != nil {
			// Unsupported (not Linux, or a kernel before 5.14) or
			// refused: appends still work, they fault their pages in
			// themselves.
			c.opts.Logger.Debug("commitlog: prefaulting the mapped segment stopped", "err", err)
			return
		}
		if ahead {
			check.Reset(prefaultCheck)
			select {
			case <-c.closing:
				return
			case <-c.pfWake:
			case <-check.C:
			}
			continue
		}
		select {
		case <-c.closing:
			return
		default:
		}
	}
}

// prefaultStep populates the next chunk of the active mapped segment. It
// returns true when there is nothing to do now: far enough ahead, or the
// segment is done.
func (c *CommitLog) prefaultStep() (ahead bool, err error) {
	c.pf.Lock()
	defer c.pf.Unlock()
	seg := c.pf.seg
	if seg == nil || seg.mem == nil || c.pf.done >= c.segSize || c.replicaFed.Load() {
		return true, nil
	}
	writer := c.appended.Load() - seg.base
	if writer >= c.segSize {
		return true, nil // rolling: the next segment comes with a new target
	}
	if c.pf.done < writer {
		c.pf.done = (writer + pageSize - 1) &^ (pageSize - 1) // start past the writer
	}
	if c.pf.done-writer >= prefaultAhead || c.pf.done >= c.segSize {
		if c.pf.done < c.segSize {
			c.pfWakeAt.Store(seg.base + c.pf.done - prefaultAhead/2)
		}
		return true, nil
	}
	end := min(c.pf.done+prefaultChunk, c.segSize)
	if err := populate(seg.mem[c.pf.done:end]); err != nil {
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.EAGAIN) {
			return false, nil
		}
		return false, err
	}
	c.pf.done = end
	return false, nil
}
