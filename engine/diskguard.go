package engine

import (
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// diskCheckEvery is how often Put looks at the disk's usage again.
const diskCheckEvery = time.Second

// diskCheckBytes is the share of the disk that may be appended between two
// checks: a fast writer on a small disk must not overshoot the full ratio
// by a whole interval's worth of writes (on a 128 MB disk one second of
// SYNC_FLUSH sends went from under 90 % to 96.6 %), nor reach ENOSPC in
// Pebble's WAL.
const diskCheckBytes = 0.005

// diskGuard refuses writes while the disk is fuller than a ratio. It asks
// the file system (statfs) once per interval, or sooner once the log has
// grown by diskCheckBytes of the disk, from whichever Put finds the last
// answer stale, so it needs no goroutine of its own and a freed disk is
// noticed within one interval.
type diskGuard struct {
	fs    vfs.FS
	dir   string
	ratio float64
	every time.Duration
	log   *slog.Logger

	next    atomic.Int64 // UnixNano after which to check again
	nextEnd atomic.Int64 // log end at which to check again
	full    atomic.Bool
	used    atomic.Uint64 // last used-ratio seen, in parts per million (for errors)
}

// check returns ErrDiskFull while the disk is over the ratio; end is how
// far the log is written (an atomic load, unlike its append position).
func (g *diskGuard) check(now time.Time, end int64) error {
	if n := now.UnixNano(); n >= g.next.Load() || end >= g.nextEnd.Load() {
		g.next.Store(n + int64(g.every))
		g.nextEnd.Store(end + 1<<62) // until refresh knows the disk's size
		g.refresh(end)
	}
	if g.full.Load() {
		return fmt.Errorf("%w: %.1f%% of the disk under %s is used, writes resume below %.0f%% "+
			"(retention frees only segments that are expired or consumed by every group, unless cleanFileForciblyEnable)",
			ErrDiskFull, float64(g.used.Load())/1e4, g.dir, g.ratio*100)
	}
	return nil
}

func (g *diskGuard) refresh(end int64) {
	u, err := g.fs.GetDiskUsage(g.dir)
	if err != nil || u.TotalBytes == 0 {
		// Unknown usage never blocks writes; a real ENOSPC still
		// surfaces when the CommitLog reserves its next segment.
		return
	}
	g.nextEnd.Store(end + max(int64(float64(u.TotalBytes)*diskCheckBytes), 64<<10))
	ratio := float64(u.UsedBytes) / float64(u.TotalBytes)
	g.used.Store(uint64(ratio * 1e6))
	full := ratio > g.ratio
	if g.full.Swap(full) != full {
		if full {
			g.log.Error("disk full: refusing writes", "dir", g.dir, "used", fmt.Sprintf("%.1f%%", ratio*100), "limit", fmt.Sprintf("%.0f%%", g.ratio*100))
		} else {
			g.log.Info("disk has room again: accepting writes", "dir", g.dir, "used", fmt.Sprintf("%.1f%%", ratio*100))
		}
	}
}
