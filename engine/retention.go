package engine

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
)

// retentionState is what retention remembers between rounds.
type retentionState struct {
	// keptLogged is 1 + the base of the segment last logged as kept for
	// its unconsumed messages (0: none), so the warning is not repeated
	// every round.
	keptLogged atomic.Int64
	// retentionRemoved counts the segments removed (LogStats).
	retentionRemoved atomic.Int64
}

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

// CleanExpired removes whole CommitLog segments, oldest first, stopping at
// the first one it keeps, and only segments that the dispatcher and the
// index have moved past. A segment goes when
//   - it is older than FileReservedTime (RocketMQ's expiry), or
//   - the disk is fuller than DiskMaxUsedRatio and every consumer group
//     has consumed every message in it, or
//   - CleanFileForcibly is set and the disk is fuller than
//     DiskCleanForciblyRatio (RocketMQ's forcible clean: unconsumed
//     messages are lost).
//
// Otherwise a segment with unconsumed messages stays, and once the disk
// passes DiskFullRatio sends are refused (diskGuard). Queue entries and
// index files pointing into removed segments go too. It returns the number
// of segments removed.
func (s *Store) CleanExpired(now time.Time) (int, error) {
	safe := min(s.disp.Pos(), s.idx.Checkpoint())
	removed := 0
	var err error
	counter := &unconsumedCounter{s: s}
	for _, info := range s.cl.Segments() {
		if info.Base+info.Size > safe {
			break
		}
		age := segmentAge(now, info)
		var reason string
		var un unconsumed
		if reason, un, err = s.removable(counter, info, age); err != nil || reason == "" {
			break
		}
		// The floor first: a log found starting above it at the next
		// Open lost segments some other way (checkLogFloor).
		if err = s.setLogFloor(info.Base + info.Size); err != nil {
			break
		}
		var gone []int64
		gone, err = s.cl.RemoveSegmentsBefore(info.Base + info.Size)
		removed += len(gone)
		s.retentionRemoved.Add(int64(len(gone)))
		if err != nil || len(gone) == 0 {
			break
		}
		s.keptLogged.Store(0)
		s.log.Warn("segment removed by retention", "segment", commitlog.SegmentName(info.Base),
			"reason", reason, "age", age.Round(time.Second), "unconsumed", un.total, "unconsumedByGroup", un.String())
	}
	if err != nil {
		err = fmt.Errorf("engine: retention: %w", err)
	}
	if removed == 0 {
		return 0, err
	}
	min := s.cl.MinOffset()
	if terr := s.qdb.TrimBelow(min); terr != nil {
		return removed, fmt.Errorf("engine: retention: %w", terr)
	}
	if derr := s.idx.DeleteBefore(min); derr != nil {
		return removed, fmt.Errorf("engine: retention: %w", derr)
	}
	return removed, err
}

// segmentAge is how old info's segment is at now. A segment whose
// modification time could not be read (ModTime zero: its Stat failed)
// counts as new: an I/O error must keep a segment, never make it look
// decades old and expire it.
func segmentAge(now time.Time, info commitlog.SegmentInfo) time.Duration {
	if info.ModTime.IsZero() {
		return 0
	}
	return now.Sub(info.ModTime)
}

// removable says why the segment may go ("" keeps it) and, when it had to
// count them, the unconsumed messages in it. Counting reads queue entries,
// so it is done only once the disk is under pressure: expiry alone needs
// no count.
func (s *Store) removable(counter *unconsumedCounter, info commitlog.SegmentInfo, age time.Duration) (string, unconsumed, error) {
	if age >= s.opts.FileReservedTime {
		un, err := counter.count(info.Base, info.Base+info.Size)
		return "expired", un, err
	}
	ratio, ok := s.diskRatio()
	if !ok || ratio <= s.opts.DiskMaxUsedRatio {
		s.keptLogged.Store(0) // the next episode of pressure logs again
		return "", unconsumed{}, nil
	}
	un, err := counter.count(info.Base, info.Base+info.Size)
	switch {
	case err != nil:
		return "", un, err
	case un.total == 0:
		return fmt.Sprintf("disk %.1f%% used (over %.0f%%) and every message consumed", ratio*100, s.opts.DiskMaxUsedRatio*100), un, nil
	case s.opts.CleanFileForcibly && ratio > s.opts.DiskCleanForciblyRatio:
		return fmt.Sprintf("disk %.1f%% used (over %.0f%%) and cleanFileForciblyEnable", ratio*100, s.opts.DiskCleanForciblyRatio*100), un, nil
	}
	if s.keptLogged.Swap(info.Base+1) != info.Base+1 {
		// Once per segment kept, not once per retention round.
		s.log.Warn("disk under pressure, keeping a segment with unconsumed messages until it expires; sends are refused above the full ratio",
			"segment", commitlog.SegmentName(info.Base), "used", fmt.Sprintf("%.1f%%", ratio*100),
			"age", age.Round(time.Second), "expiresIn", (s.opts.FileReservedTime - age).Round(time.Second),
			"unconsumed", un.total, "unconsumedByGroup", un.String(), "fullRatio", fmt.Sprintf("%.0f%%", s.opts.DiskFullRatio*100))
	}
	return "", un, nil
}

// diskRatio is the used fraction of the store's disk; ok is false when the
// file system cannot tell.
func (s *Store) diskRatio() (float64, bool) {
	u, err := s.opts.FS.GetDiskUsage(s.opts.Dir)
	if err != nil || u.TotalBytes == 0 {
		return 0, false
	}
	return float64(u.UsedBytes) / float64(u.TotalBytes), true
}
