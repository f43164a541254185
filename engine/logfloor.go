package engine

import (
	"fmt"

	"github.com/wharfmq/wharf/engine/commitlog"
)

// checkLogFloor tells a first segment that is missing from one retention
// removed. Retention (and a replica's rebase) records in meta/ the offset
// it removes the log below before removing anything, so a log that starts
// above the recorded floor lost its oldest segments some other way (a file
// deleted by hand, a bad restore): Open says so in an error line naming the
// files, drops the queue entries that point into them (so every queue's
// minimum offset tells the truth), and goes on serving the rest. The gap
// is not silent, and nothing else is lost.
//
// A store without a recorded floor (made before it, or a rebuilt meta/)
// records its first offset now.
func (s *Store) checkLogFloor() error {
	floor, ok, err := s.qdb.LogFloor()
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	first := s.cl.MinOffset()
	switch {
	case !ok:
		return s.setLogFloor(first)
	case first <= floor:
		// Equal, or a retention that recorded its floor and crashed
		// before removing the segments: it goes on later.
		return nil
	}
	seg := s.cl.SegmentSize()
	s.log.Error("CommitLog segments missing: the log starts above where retention last removed it; their messages are lost",
		"dir", s.opts.FS.PathJoin(s.opts.Dir, "commitlog"),
		"firstMissing", commitlog.SegmentName(floor-floor%seg), "lastMissing", commitlog.SegmentName(first-seg),
		"missingBytes", first-floor)
	if err := s.qdb.TrimBelow(first); err != nil {
		return fmt.Errorf("engine: drop queue entries into missing segments: %w", err)
	}
	return s.setLogFloor(first)
}

// setLogFloor durably records floor (queue.DB.SetLogFloor).
func (s *Store) setLogFloor(floor int64) error {
	if err := s.qdb.SetLogFloor(floor); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
