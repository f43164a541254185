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

// diskGuard refuses writes while the disk is fuller than a ratio. It asks
// the file system (statfs) at most once per interval, from whichever Put
// finds the last answer stale, so it needs no goroutine of its own and a
// freed disk is noticed within one interval.
type diskGuard struct {
	fs    vfs.FS
	dir   string
	ratio float64
	every time.Duration
	log   *slog.Logger

	next atomic.Int64 // UnixNano after which to check again
	full atomic.Bool
	used atomic.Uint64 // last used-ratio seen, in parts per million (for errors)
}

// check returns ErrDiskFull while the disk is over the ratio.
func (g *diskGuard) check(now time.Time) error {
	if n := now.UnixNano(); n >= g.next.Load() {
		g.next.Store(n + int64(g.every))
		g.refresh()
	}
	if g.full.Load() {
		return fmt.Errorf("%w: %.1f%% of the disk under %s is used, writes resume below %.0f%% "+
			"(retention frees only segments that are expired or consumed by every group, unless cleanFileForciblyEnable)",
			ErrDiskFull, float64(g.used.Load())/1e4, g.dir, g.ratio*100)
	}
	return nil
}

func (g *diskGuard) refresh() {
	u, err := g.fs.GetDiskUsage(g.dir)
	if err != nil || u.TotalBytes == 0 {
		// Unknown usage never blocks writes; a real ENOSPC still
		// surfaces when the CommitLog reserves its next segment.
		return
	}
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
