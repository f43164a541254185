package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"

	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/durable"
)

// Report says what recovery found and did.
type Report struct {
	// Clean is true when the last Close was clean and nothing was scanned.
	Clean bool
	// New is true for a log created by this Open (no segment, no
	// checkpoint): there was no last stop, clean or not.
	New bool
	// From is where the scan started (the checkpoint, or the first segment).
	From int64
	// End is the recovered end of the log.
	End int64
	// Records and Bytes count what the scan verified.
	Records int
	Bytes   int64
	// CutAt is the offset where a torn or corrupt tail was cut, -1 if none.
	CutAt int64
	// CutBytes is the span of non-zero bytes zeroed after CutAt in its
	// segment.
	CutBytes int64
	// Reason says why the scan stopped at CutAt.
	Reason string
	// CutUnitSize is the size the damaged unit at CutAt claims (0 when
	// its header is unreadable).
	CutUnitSize int64
	// SavedTo names the file that keeps the cut bytes, when more than
	// the damaged unit was cut (saveCut); empty otherwise.
	SavedTo string
	// KeptSegments lists the later segments with data that were cut
	// after damage and kept aside (renamed to their CutFileName).
	KeptSegments []string
	// damaged is true when the scan stopped at a damaged unit at CutAt.
	damaged bool
	// RemovedSegments lists later segments removed with the tail.
	RemovedSegments []int64
	// Duration is how long recovery took.
	Duration time.Duration
}

// scanWindow is how much of a segment recovery reads at a time.
const scanWindow = 4 << 20

func (c *CommitLog) recover() error {
	began := time.Now()
	rep := Report{CutAt: -1}
	segs, err := c.openSegments()
	c.segs = segs
	if err != nil {
		return err
	}
	cf, cp, found, err := openCheckpoint(c.fs, c.opts.Dir)
	if err != nil {
		return err
	}
	c.ckpt = cf
	// An unfinished truncation (truncate.go): the log ends at the mark.
	mark, marked, markFile, err := readTruncMark(c)
	if err != nil {
		return err
	}
	if !found && len(segs) > 0 {
		c.opts.Logger.Warn("commitlog checkpoint missing or unreadable: recovering by scanning every segment",
			"file", c.fs.PathJoin(c.opts.Dir, checkpointName))
	}

	var end int64
	switch {
	case len(segs) == 0:
		if found && cp.offset > 0 {
			return fmt.Errorf("%w: checkpoint says %d bytes are durable but there are no segments", ErrCorruption, cp.offset)
		}
		rep.Clean = found && cp.clean
		rep.New = !found
	case found && cp.clean && !marked:
		rep.Clean = true
		rep.From = cp.offset
		end = cp.offset
		if err := c.checkInRange(end); err != nil {
			return err
		}
		if err := c.checkHeld(end); err != nil {
			return err
		}
	default:
		from := segs[0].base
		if found && cp.offset > from {
			from = cp.offset
		}
		if marked {
			// Everything below the mark was synced before the mark was
			// written; from it on, nothing counts.
			if mark < segs[0].base {
				return fmt.Errorf("%w: truncation mark %d below the first segment %d", ErrCorruption, mark, segs[0].base)
			}
			from = min(from, mark)
		}
		if err := c.checkInRange(from); err != nil {
			return err
		}
		if found {
			// The scan starts at from and cannot see bytes missing
			// below it.
			durable := cp.offset
			if marked {
				durable = min(durable, mark)
			}
			if err := c.checkHeld(durable); err != nil {
				return err
			}
		}
		rep.From = from
		end, err = c.scan(from, &rep)
		if err != nil {
			return err
		}
		if marked && end >= mark {
			end = mark
			rep.CutAt = mark
			rep.Reason = "finishing an interrupted truncation"
			rep.damaged = false
		}
	}
	rep.End = end
	if err := c.cutAfter(end, &rep); err != nil {
		return err
	}
	if !rep.Clean {
		if err := c.fillScannedTails(end); err != nil {
			return err
		}
	}
	if err := c.activate(end); err != nil {
		return err
	}
	if err := c.ckpt.write(end, false); err != nil {
		return err
	}
	c.lastCkpt, c.lastCkptAt = time.Now(), end
	if markFile {
		// Only now: the cut is durable and the checkpoint no higher. (A
		// torn mark, never durable, goes too: its cut never began.)
		if err := removeTruncMark(c); err != nil {
			return fmt.Errorf("commitlog: %w", err)
		}
		if marked {
			c.opts.Logger.Warn("commitlog finished a truncation interrupted by a crash", "at", mark, "end", end)
		}
	}
	rep.Duration = time.Since(began)
	c.report = rep
	log := c.opts.Logger
	if rep.CutAt >= 0 {
		log.Warn("commitlog recovery cut a torn tail", "at", rep.CutAt, "bytes", rep.CutBytes,
			"reason", rep.Reason, "removedSegments", len(rep.RemovedSegments), "records", rep.Records)
	}
	if rep.SavedTo != "" {
		log.Error("commitlog recovery cut damage with more bytes after it than the damaged record: records after it, possibly acknowledged (unless the OS crashed and wrote unsynced pages out of order), are cut from the log but kept",
			"at", rep.CutAt, "bytes", rep.CutBytes, "keptIn", rep.SavedTo)
	}
	if rep.New {
		log.Info("commitlog created: new store", "dir", c.opts.Dir, "took", rep.Duration)
		return nil
	}
	log.Info("commitlog opened", "clean", rep.Clean, "from", rep.From, "end", rep.End,
		"scannedRecords", rep.Records, "scannedBytes", rep.Bytes, "took", rep.Duration)
	return nil
}

// openSegments opens every segment file in the directory, oldest first, and
// checks that they are contiguous.
func (c *CommitLog) openSegments() ([]*segment, error) {
	names, err := c.fs.List(c.opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("commitlog: list %s: %w", c.opts.Dir, err)
	}
	var bases []int64
	for _, n := range names {
		if base, ok := ParseSegmentName(n); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	if bases, err = c.dropRebasedFrom(bases); err != nil {
		return nil, err
	}
	var segs []*segment
	for i, base := range bases {
		if base%c.segSize != 0 {
			return segs, fmt.Errorf("%w: segment %s is not a multiple of the segment size %d", ErrCorruption, SegmentName(base), c.segSize)
		}
		if i > 0 && base != bases[i-1]+c.segSize {
			return segs, fmt.Errorf("%w: segments missing between %s and %s", ErrCorruption, SegmentName(bases[i-1]), SegmentName(base))
		}
		path := c.fs.PathJoin(c.opts.Dir, SegmentName(base))
		f, err := c.fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
		if err != nil {
			return segs, fmt.Errorf("commitlog: open %s: %w", path, err)
		}
		segs = append(segs, &segment{base: base, file: f})
		st, err := f.Stat()
		if err != nil {
			return segs, fmt.Errorf("commitlog: stat %s: %w", path, err)
		}
		if st.Size() > c.segSize {
			return segs, fmt.Errorf("%w: segment %s is %d bytes, larger than the segment size %d", ErrCorruption, SegmentName(base), st.Size(), c.segSize)
		}
	}
	return segs, nil
}

// dropRebasedFrom removes the empty segment at 0 that a Rebase
// interrupted by a crash left beside the segment it created (Rebase creates
// the new one first): the log then starts at the new one. A segment at 0
// holding any non-zero byte is left for openSegments to refuse.
func (c *CommitLog) dropRebasedFrom(bases []int64) ([]int64, error) {
	if len(bases) < 2 || bases[0] != 0 || bases[1] == c.segSize {
		return bases, nil
	}
	path := c.fs.PathJoin(c.opts.Dir, SegmentName(0))
	f, err := c.fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("commitlog: open %s: %w", path, err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, rerr := f.ReadAt(buf, off)
		if slices.ContainsFunc(buf[:n], func(b byte) bool { return b != 0 }) {
			f.Close()
			return bases, nil
		}
		off += int64(n)
		if rerr == io.EOF || n == 0 {
			break
		}
		if rerr != nil {
			f.Close()
			return nil, fmt.Errorf("commitlog: read %s: %w", path, rerr)
		}
	}
	f.Close()
	if err := c.fs.Remove(path); err != nil {
		return nil, fmt.Errorf("commitlog: remove %s: %w", path, err)
	}
	if err := durable.SyncDir(c.fs, c.opts.Dir); err != nil {
		return nil, err
	}
	c.opts.Logger.Warn("removed the empty first segment an interrupted rebase left", "segment", path, "logStarts", SegmentName(bases[1]))
	return bases[1:], nil
}

func (c *CommitLog) checkInRange(off int64) error {
	first, last := c.segs[0].base, c.segs[len(c.segs)-1].base+c.segSize
	if off < first || off > last {
		return fmt.Errorf("%w: checkpoint %d outside the segments [%d, %d]", ErrCorruption, off, first, last)
	}
	return nil
}

// checkHeld refuses a log whose segment files lack bytes below durable, the
// offset the checkpoint says was synced: every segment wholly below it must
// be full-size (a sealed segment ends in a BLANK written in full, and a
// mapped or pre-written one is full-size from the start), and the one
// holding it must reach it. Such a file was cut short after the fact (a
// copy or restore gone wrong): nothing recovery can redo, and reading it
// would serve zeros as records. One Stat per segment.
func (c *CommitLog) checkHeld(durable int64) error {
	for _, s := range c.segs {
		need := min(c.segSize, durable-s.base)
		if need <= 0 {
			break
		}
		path := c.fs.PathJoin(c.opts.Dir, SegmentName(s.base))
		st, err := s.file.Stat()
		if err != nil {
			return fmt.Errorf("commitlog: stat %s: %w", path, err)
		}
		if st.Size() >= need {
			continue
		}
		if need == c.segSize {
			lost, err := c.blankTailLost(s, st.Size())
			if err != nil {
				return err
			}
			if lost {
				// A crash kept the tail of its closing BLANK off the
				// disk, and a recovery before this version accepted
				// that: the zeros it lacks are nothing lost.
				if err := c.fillTail(s, st.Size(), need); err != nil {
					return err
				}
				continue
			}
		}
		return fmt.Errorf("%w: segment file %s is %d bytes, but the log is durable up to offset %d, which needs %d bytes of it (the file was cut short, perhaps by a copy or restore)",
			ErrCorruption, path, st.Size(), durable, need)
	}
	return nil
}

// blankTailLost says whether seg's file, size bytes long, ends inside the
// BLANK that closes the segment, its header whole: its records all there,
// only the filler's zeros missing.
func (c *CommitLog) blankTailLost(seg *segment, size int64) (bool, error) {
	sc := segScanner{segSize: c.segSize, window: scanWindow}
	sc.reset(seg.base, c.segSize, func(p []byte, at int64) (int, error) { return readZeroPadded(seg.file, p, at) })
	for off := int64(0); off < size; {
		u, err := sc.next(off, false)
		if err != nil {
			return false, fmt.Errorf("commitlog: read %s: %w", seg, err)
		}
		switch u.kind {
		case unitBlank:
			return off+msg.BlankHeaderSize <= size, nil
		case unitRecord:
			off += int64(u.size)
		default:
			return false, nil
		}
	}
	return false, nil
}

// fillScannedTails makes every segment file below end hold the bytes the
// scan read as zeros past its end: the rest of a sealed segment (the tail
// of its closing BLANK, which a crash kept off the disk) and the part of
// the last one below end. Reads below the end of the log are then never
// short, and ReadAt fails on a short read instead of serving zeros. Only
// after a scan: checkHeld vouched for everything below the checkpoint.
func (c *CommitLog) fillScannedTails(end int64) error {
	for _, s := range c.segs {
		need := min(c.segSize, end-s.base)
		if need <= 0 {
			break
		}
		st, err := s.file.Stat()
		if err != nil {
			return fmt.Errorf("commitlog: stat %s: %w", s, err)
		}
		if st.Size() >= need {
			continue
		}
		if err := c.fillTail(s, st.Size(), need); err != nil {
			return err
		}
	}
	return nil
}

// fillTail writes zeros into seg's file from size to need, synced: bytes
// the scan read as zeros past the file's end.
func (c *CommitLog) fillTail(seg *segment, size, need int64) error {
	if err := zeroFill(seg.file, size, need); err != nil {
		return fmt.Errorf("commitlog: zero-fill the tail of %s: %w", seg, err)
	}
	if err := seg.file.SyncData(); err != nil {
		return fmt.Errorf("commitlog: sync %s: %w", seg, err)
	}
	c.opts.Logger.Info("commitlog segment file extended with the zeros recovery read past its end",
		"segment", seg.String(), "from", size, "to", need)
	return nil
}

// scan verifies records from `from` and returns the end of the last good
// one. It stops at the first zero header (the end of the log) or damage (a
// torn tail, which cutAfter cuts).
func (c *CommitLog) scan(from int64, rep *Report) (int64, error) {
	pos := from
	last := c.segs[len(c.segs)-1].base + c.segSize
	sc := segScanner{segSize: c.segSize, window: scanWindow}
	for pos < last {
		seg := c.segmentForLocked(pos)
		next, reason, err := c.scanSegment(&sc, seg, pos-seg.base, rep)
		if err != nil {
			return 0, err
		}
		if reason != "" || next < 0 {
			// next < 0: stopped inside the segment at -next-1.
			stop := seg.base + (-next - 1)
			if reason != "" {
				rep.CutAt = stop
				rep.Reason = reason
			}
			return stop, nil
		}
		pos = seg.base + next
	}
	return pos, nil
}

// scanSegment verifies records in seg from off. It returns next >= 0, the
// offset in the segment where the following segment's records begin (the
// segment ended in a BLANK or exactly), or next = -(stop+1) with a reason
// when the log ends at stop (reason empty: a clean zero end).
func (c *CommitLog) scanSegment(sc *segScanner, seg *segment, off int64, rep *Report) (next int64, reason string, err error) {
	sc.reset(seg.base, c.segSize, func(p []byte, at int64) (int, error) { return readZeroPadded(seg.file, p, at) })
	for {
		u, err := sc.next(off, true)
		if err != nil {
			return 0, "", fmt.Errorf("commitlog: %w", err)
		}
		switch u.kind {
		case unitShort, unitBlank:
			return c.segSize, "", nil
		case unitZero:
			return -(off + 1), "", nil
		case unitBad:
			// A size that does not fit (a flipped size field) claims
			// nothing: what follows is kept.
			claimed := int64(u.size)
			if claimed <= 0 || off+claimed > c.segSize {
				claimed = 0
			}
			rep.CutUnitSize, rep.damaged = claimed, true
			return -(off + 1), fmt.Sprintf("at %d: %s", seg.base+off, u.bad), nil
		}
		rep.Records++
		rep.Bytes += int64(u.size)
		off += int64(u.size)
	}
}

// cutAfter makes the log end at end: non-zero bytes after it in its segment
// are zeroed, and later segments removed, so nothing past the end can come
// back after a later crash.
func (c *CommitLog) cutAfter(end int64, rep *Report) error {
	if len(c.segs) == 0 {
		return nil
	}
	keep := len(c.segs)
	if seg := c.segmentForLocked(end); seg != nil {
		keep = int((seg.base-c.segs[0].base)/c.segSize) + 1
		if !rep.Clean {
			if rep.damaged && rep.CutAt == end {
				// Damage: keep what lies past the damaged record.
				span, err := walkNonZero(seg.file, end-seg.base, c.segSize, nil)
				if err != nil {
					return fmt.Errorf("commitlog: read the tail of %s: %w", seg, err)
				}
				if span > rep.CutUnitSize {
					if rep.SavedTo, err = c.saveCut(seg, end-seg.base, span); err != nil {
						return err
					}
				}
			}
			span, err := zeroNonZero(seg.file, end-seg.base, c.segSize)
			if err != nil {
				return fmt.Errorf("commitlog: zero tail of %s: %w", seg, err)
			}
			if span > 0 {
				if rep.CutAt < 0 {
					rep.CutAt = end
					rep.Reason = "zero header followed by unsynced bytes"
				}
				rep.CutBytes = span
				if err := seg.file.SyncData(); err != nil {
					return fmt.Errorf("commitlog: sync %s: %w", seg, err)
				}
			}
		}
	}
	for _, s := range c.segs[keep:] {
		if rep.damaged {
			// Past damage: a later segment with data is kept aside,
			// as the cut bytes of the damaged one are.
			kept, err := c.keepAside(s)
			if err != nil {
				return err
			}
			if kept != "" {
				rep.KeptSegments = append(rep.KeptSegments, kept)
				continue
			}
		}
		s.file.Close()
		if err := c.fs.Remove(c.fs.PathJoin(c.opts.Dir, SegmentName(s.base))); err != nil {
			return fmt.Errorf("commitlog: remove segment %s past the end: %w", s, err)
		}
		rep.RemovedSegments = append(rep.RemovedSegments, s.base)
	}
	c.segs = c.segs[:keep]
	if len(rep.KeptSegments) > 0 {
		c.opts.Logger.Error("segments past damage cut from the log but kept", "files", rep.KeptSegments)
	}
	if len(rep.RemovedSegments)+len(rep.KeptSegments) > 0 {
		// Past a torn tail (already reported) or pre-written and empty.
		c.opts.Logger.Info("removed segments past the end of the log", "segments", len(rep.RemovedSegments), "end", end)
		return durable.SyncDir(c.fs, c.opts.Dir)
	}
	return nil
}

// zeroNonZero zeroes every 1 MiB block of f in [from, to) that holds a
// non-zero byte and returns the span from `from` to the last non-zero byte.
func zeroNonZero(f vfs.File, from, to int64) (int64, error) {
	return walkNonZero(f, from, to, func(off int64, b []byte) error {
		_, err := f.WriteAt(zeroChunk[:len(b)], off)
		return err
	})
}

// walkNonZero calls fn (if not nil) with every 1 MiB block of f in
// [from, to) that holds a non-zero byte, in order, and returns the span
// from `from` to the last non-zero byte. It reads only the file's data:
// the reserved, never written rest of a segment is a hole to SEEK_DATA
// (ext4, xfs), and reading it would make the kernel allocate and zero up
// to a segment's worth of page cache, which took 0.3-1.9 s after a kill -9
// with 1 GiB segments.
func walkNonZero(f vfs.File, from, to int64, fn func(off int64, b []byte) error) (int64, error) {
	buf := make([]byte, len(zeroChunk))
	var lastNonZero int64 = -1
	for off := from; off < to; {
		dataAt, dataEnd, ok := nextData(f, off, to)
		if !ok {
			break
		}
		off = dataAt - dataAt%int64(len(buf)) // whole blocks, as the writer's pages
		off = max(off, from)
		for off < dataEnd {
			n := int(min(int64(len(buf)), to-off))
			got, err := f.ReadAt(buf[:n], off)
			if err != nil && !errors.Is(err, io.EOF) {
				return 0, err
			}
			if got == 0 {
				return spanTo(lastNonZero, from), nil
			}
			if i := lastNonZeroIndex(buf[:got]); i >= 0 {
				lastNonZero = off + int64(i)
				if fn != nil {
					if err := fn(off, buf[:got]); err != nil {
						return 0, err
					}
				}
			}
			off += int64(got)
		}
	}
	return spanTo(lastNonZero, from), nil
}

// saveCut copies the bytes of seg from off to off+span, which recovery is
// about to zero, to a file of their own beside the segments
// (CutFileName), synced, and returns its path. Recovery calls it when a
// damaged record has more bytes after it than its own size: not the torn
// last record of a crash (appends copy one at a time, so a kill leaves at
// most one record half written) but damage with records behind it, which
// may have been acknowledged. They are cut, as a torn tail is, so the log
// can go on, but kept for an operator to recover.
func (c *CommitLog) saveCut(seg *segment, off, span int64) (string, error) {
	path := c.freeCutPath(seg.base + off)
	out, err := c.fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return "", fmt.Errorf("commitlog: save the cut bytes: %w", err)
	}
	_, err = walkNonZero(seg.file, off, off+span, func(at int64, b []byte) error {
		// Zero blocks are not copied: the file is sparse there.
		_, err := out.WriteAt(b[:min(int64(len(b)), off+span-at)], at-off)
		return err
	})
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = durable.SyncDir(c.fs, c.opts.Dir)
	}
	if err != nil {
		return "", fmt.Errorf("commitlog: save the cut bytes to %s: %w", path, err)
	}
	return path, nil
}

// keepAside renames seg, past a damaged record, to its CutFileName when it
// holds a non-zero byte, and returns the new path ("" for an empty, or
// pre-written, segment, which the caller removes). It closes seg's file
// when it renames it.
func (c *CommitLog) keepAside(seg *segment) (string, error) {
	span, err := walkNonZero(seg.file, 0, c.segSize, nil)
	if err != nil {
		return "", fmt.Errorf("commitlog: read %s past damage: %w", seg, err)
	}
	if span == 0 {
		return "", nil
	}
	seg.file.Close()
	from := c.fs.PathJoin(c.opts.Dir, SegmentName(seg.base))
	to := c.freeCutPath(seg.base)
	if err := c.fs.Rename(from, to); err != nil {
		return "", fmt.Errorf("commitlog: keep segment %s past damage aside: %w", seg, err)
	}
	return to, nil
}

// freeCutPath is the path for bytes cut at phys: CutFileName, with a
// suffix when an earlier recovery kept bytes under that name, which must
// never be overwritten.
func (c *CommitLog) freeCutPath(phys int64) string {
	path := c.fs.PathJoin(c.opts.Dir, CutFileName(phys))
	for n := 1; ; n++ {
		if _, err := c.fs.Stat(path); err != nil {
			return path
		}
		path = c.fs.PathJoin(c.opts.Dir, fmt.Sprintf("%s.%d", CutFileName(phys), n))
	}
}

// CutFileName names the file where recovery keeps the bytes it cut after
// damage at phys (saveCut): not a segment name, so Open ignores it.
func CutFileName(phys int64) string { return "cut-" + SegmentName(phys) }

func spanTo(lastNonZero, from int64) int64 {
	if lastNonZero < 0 {
		return 0
	}
	return lastNonZero + 1 - from
}

// nextData returns the next range of f at or after off, before to, that
// may hold data. Files without a descriptor (the in-memory file system) or
// without SEEK_DATA are all data.
func nextData(f vfs.File, off, to int64) (start, end int64, ok bool) {
	fd := f.Fd()
	if fd == vfs.InvalidFd {
		return off, to, true
	}
	start, err := unix.Seek(int(fd), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return 0, 0, false // no data at or after off
	}
	if err != nil {
		return off, to, true
	}
	if start >= to {
		return 0, 0, false
	}
	end, err = unix.Seek(int(fd), start, unix.SEEK_HOLE)
	if err != nil || end > to {
		end = to
	}
	return start, end, true
}

// lastNonZeroIndex returns the index of the last non-zero byte of b, or -1.
// Whole pages compare at memeq speed.
func lastNonZeroIndex(b []byte) int {
	for hi := len(b); hi > 0; {
		lo := max(hi-len(zeroPage), 0)
		if !bytes.Equal(b[lo:hi], zeroPage[:hi-lo]) {
			for i := hi - 1; i >= lo; i-- {
				if b[i] != 0 {
					return i
				}
			}
		}
		hi = lo
	}
	return -1
}

// activate makes the segment holding end the active one, creating it when
// end is at a segment boundary past the last file.
func (c *CommitLog) activate(end int64) error {
	var active *segment
	if len(c.segs) > 0 {
		active = c.segmentForLocked(end)
	}
	if active == nil {
		base := end - end%c.segSize
		seg, err := c.createSegment(base, false)
		if err != nil {
			return fmt.Errorf("commitlog: create segment: %w", err)
		}
		c.segs = append(c.segs, seg)
		active = seg
	} else if err := active.file.Preallocate(0, c.segSize); err != nil && errors.Is(err, syscall.ENOSPC) {
		// Appends into the unreserved rest may then fail, which makes
		// the log read-only until a restart with space.
		c.opts.Logger.Warn("cannot reserve the rest of the active segment: the disk is full",
			"segment", active.String(), "err", err)
	}
	if st, err := active.file.Stat(); err == nil {
		c.activeFilledTo = st.Size()
	}
	if c.opts.Mmap == MmapOn && canMap(active.file) {
		if err := mapSegment(active, c.segSize); err != nil {
			return fmt.Errorf("commitlog: %w", err)
		}
		c.mapped = true
	}
	c.mu.active = active
	c.mu.pos = end
	c.appended.Store(end)
	c.lastSeg = active
	c.written.Store(end)
	c.synced.Store(end)
	return nil
}
