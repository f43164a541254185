package engine

import (
	"fmt"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
)

func (s *Store) retentionLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetentionInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			if n, err := s.CleanExpired(now); err != nil {
				s.log.Error("retention failed", "err", err)
			} else if n > 0 {
				s.log.Info("retention removed segments", "segments", n)
			}
		}
	}
}

// CleanExpired removes whole CommitLog segments older than FileReservedTime,
// or the oldest ones while the disk is fuller than DiskMaxUsedRatio, but only
// segments that the dispatcher and the index have moved past. Queue entries
// and index files pointing into them go too. It returns the segments removed.
func (s *Store) CleanExpired(now time.Time) (int, error) {
	safe := min(s.disp.Pos(), s.idx.Checkpoint())
	full := s.diskFull()
	removed, err := s.cl.RemoveSegmentsBefore(safe, func(info commitlog.SegmentInfo) bool {
		return !full && now.Sub(info.ModTime) < s.opts.FileReservedTime
	})
	if err != nil {
		return len(removed), fmt.Errorf("engine: retention: %w", err)
	}
	if len(removed) == 0 {
		return 0, nil
	}
	min := s.cl.MinOffset()
	if err := s.qdb.TrimBelow(min); err != nil {
		return len(removed), fmt.Errorf("engine: retention: %w", err)
	}
	if err := s.idx.DeleteBefore(min); err != nil {
		return len(removed), fmt.Errorf("engine: retention: %w", err)
	}
	return len(removed), nil
}

func (s *Store) diskFull() bool {
	u, err := s.opts.FS.GetDiskUsage(s.opts.Dir)
	if err != nil || u.TotalBytes == 0 {
		return false
	}
	return float64(u.UsedBytes)/float64(u.TotalBytes) > s.opts.DiskMaxUsedRatio
}
