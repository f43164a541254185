package commitlog

import (
	"fmt"
	"io"
)

// iterWindow is how much an Iterator reads ahead at once.
const iterWindow = 1 << 20

// Iterator walks records in log order from an offset, reading ahead in
// windows. It skips BLANK fillers. It is not safe for concurrent use.
//
// It walks segments with the scanner recovery and Check use. Records below
// the offset recovery's scan started from (Report.From) are held to
// VerifyRecord: nothing in this process has verified them since they were
// written, and a replay must not derive queues from a damaged record.
// Records at or past it were verified by recovery or appended by this
// process, so the dispatcher's hot path does not verify them again.
type Iterator struct {
	c   *CommitLog
	pos int64
	sc  segScanner
	// verifyBelow is Report.From: records below it are verified.
	verifyBelow int64
}

// NewIterator returns an iterator positioned at from, which must be a record
// boundary.
func (c *CommitLog) NewIterator(from int64) *Iterator {
	it := &Iterator{c: c, pos: from, verifyBelow: c.report.From}
	it.sc = segScanner{base: -1, segSize: c.segSize, window: iterWindow, winOff: -1}
	return it
}

// SetPos moves the iterator back to phys, the offset of a record it
// returned, keeping its window.
func (it *Iterator) SetPos(phys int64) { it.pos = phys }

// Pos is the offset of the next record.
func (it *Iterator) Pos() int64 { return it.pos }

// readSeg reads at an offset of the scanner's segment.
func (it *Iterator) readSeg(p []byte, off int64) (int, error) {
	if err := it.c.ReadAt(p, it.sc.base+off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Next returns the next record below limit and its offset. The slice is
// valid until the following call. It returns io.EOF at limit, and an
// ErrCorruption error at a record that fails VerifyRecord or at any other
// damage below limit.
func (it *Iterator) Next(limit int64) (rec []byte, phys int64, err error) {
	segSize := it.c.segSize
	for {
		if it.pos >= limit {
			return nil, it.pos, io.EOF
		}
		if r := it.c.rebased.Load(); it.pos < r {
			it.pos = r // an empty log moved its start (Rebase): nothing lies below
		}
		base := it.pos - it.pos%segSize
		if base != it.sc.base {
			it.sc.reset(base, 0, it.readSeg)
		}
		// The window holds bytes below an earlier limit, which do not
		// change: only how far it may read grows.
		it.sc.avail = min(limit-base, segSize)
		u, err := it.sc.next(it.pos-base, it.pos < it.verifyBelow)
		if err != nil {
			return nil, it.pos, err
		}
		switch u.kind {
		case unitShort, unitBlank:
			it.pos = base + segSize
			continue
		case unitZero:
			return nil, it.pos, fmt.Errorf("%w: %s: zero header below the readable end %d", ErrCorruption, it.where(base), limit)
		case unitBad:
			return nil, it.pos, fmt.Errorf("%w: %s: %s", ErrCorruption, it.where(base), u.bad)
		}
		phys = it.pos
		it.pos += int64(u.size)
		return u.rec, phys, nil
	}
}

// where names the position for a person: the segment file, the offset in
// it, and the log offset (Problem.String's form, with the file's path).
func (it *Iterator) where(base int64) string {
	return fmt.Sprintf("segment %s +%d (offset %d)", it.c.fs.PathJoin(it.c.opts.Dir, SegmentName(base)), it.pos-base, it.pos)
}
