package commitlog

import (
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/engine/msg"
)

// unitKind says what starts at an offset of a segment.
type unitKind uint8

const (
	// unitRecord is a record that passed VerifyRecord (or was not
	// verified, when the caller asked so).
	unitRecord unitKind = iota
	// unitBlank is a BLANK filler reaching exactly the segment end.
	unitBlank
	// unitZero is a zero header: the end of the log in its last segment.
	unitZero
	// unitShort is fewer bytes left than a BLANK header: the segment is
	// over.
	unitShort
	// unitBad is damage; unit.bad says what.
	unitBad
)

// unit is one step of a segScanner.
type unit struct {
	kind unitKind
	// size is the header's TOTALSIZE (0 when the header is unreadable).
	size int
	// rec is the record (unitRecord), valid until the next read.
	rec []byte
	// bad says why the unit is damage (unitBad).
	bad string
}

// segScanner reads one segment through a window and says what starts at
// each offset. Recovery, Check and the Iterator all walk segments with it,
// so a record is held to the same rules (VerifyRecord) everywhere.
type segScanner struct {
	base    int64 // log offset of the segment
	segSize int64
	// avail is how many bytes from the segment start may be read: the
	// segment size, or less below the iterator's readable limit.
	avail int64
	// readAt fills p from segment offset off and returns how many bytes
	// came from the file: recovery and Check read zeros past the file's
	// end, the Iterator (CommitLog.ReadAt) fails there.
	readAt func(p []byte, off int64) (int, error)
	window int
	buf    []byte
	winOff int64 // segment offset of buf[0], -1 when empty
	// scanned counts the bytes read from the file.
	scanned int64
}

// reset points the scanner at another segment, keeping its buffer.
func (s *segScanner) reset(base, avail int64, readAt func(p []byte, off int64) (int, error)) {
	s.base, s.avail, s.readAt, s.winOff = base, avail, readAt, -1
}

// read returns n bytes at segment offset at, refilling the window when
// needed; it never reads at or past avail.
func (s *segScanner) read(at int64, n int) ([]byte, error) {
	if s.winOff >= 0 && at >= s.winOff && at+int64(n) <= s.winOff+int64(len(s.buf)) {
		return s.buf[at-s.winOff : at-s.winOff+int64(n)], nil
	}
	want := int(min(int64(max(n, s.window)), s.avail-at))
	if want < n {
		return nil, fmt.Errorf("%w: %d bytes at %d, readable below %d", ErrOutOfRange, n, s.base+at, s.base+s.avail)
	}
	if cap(s.buf) < want {
		s.buf = make([]byte, want)
	}
	s.buf = s.buf[:want]
	got, err := s.readAt(s.buf, at)
	if err != nil {
		s.winOff = -1
		return nil, fmt.Errorf("read segment %s at %d: %w", SegmentName(s.base), at, err)
	}
	s.scanned += int64(got)
	s.winOff = at
	return s.buf[:n], nil
}

// next says what starts at segment offset off. verify false skips
// VerifyRecord (the iterator's records that this process already
// verified or wrote). The error is for failures to read; damage is a
// unitBad.
func (s *segScanner) next(off int64, verify bool) (unit, error) {
	left := s.segSize - off
	if left < msg.BlankHeaderSize {
		return unit{kind: unitShort}, nil
	}
	h, err := s.read(off, msg.BlankHeaderSize)
	if err != nil {
		return unit{}, err
	}
	size, kind, perr := msg.PeekHeader(h)
	switch {
	case perr != nil:
		return unit{kind: unitBad, bad: fmt.Sprintf("bad header: %v", perr)}, nil
	case kind == msg.KindEnd:
		return unit{kind: unitZero}, nil
	case kind == msg.KindBlank && int64(size) != left:
		return unit{kind: unitBad, size: size,
			bad: fmt.Sprintf("BLANK of %d bytes does not end the segment (%d bytes left)", size, left)}, nil
	case kind == msg.KindBlank:
		return unit{kind: unitBlank, size: size}, nil
	case int64(size) > left:
		return unit{kind: unitBad, size: size,
			bad: fmt.Sprintf("record of %d bytes crosses the segment end (%d bytes left)", size, left)}, nil
	case off+int64(size) > s.avail:
		return unit{kind: unitBad, size: size,
			bad: fmt.Sprintf("record of %d bytes runs past the readable end %d", size, s.base+s.avail)}, nil
	}
	rec, err := s.read(off, size)
	if err != nil {
		return unit{}, err
	}
	if verify {
		if verr := VerifyRecord(rec, s.base+off); verr != nil {
			return unit{kind: unitBad, size: size, bad: verr.Error()}, nil
		}
	}
	return unit{kind: unitRecord, size: size, rec: rec}, nil
}

// VerifyRecord checks one stored record at phys, for recovery, Check and
// the Iterator alike: structure (msg.Decode), body CRC, whole-record CRC,
// that a record carrying the checksum property has FlagRecordCRC set (a
// flip of that bit would otherwise turn the whole-record CRC off), and the
// physical offset field naming the record's own position (else a stale
// record).
//
// A record with FlagRecordCRC has its body CRC checked through the
// whole-record CRC, which covers the body and the BODYCRC field the store
// computed from it: one CRC pass instead of two.
func VerifyRecord(rec []byte, phys int64) error {
	r, err := msg.Decode(rec)
	switch {
	case err != nil:
	case msg.WantsCRC(rec):
		err = msg.VerifyRecordCRC(rec)
	default:
		err = r.VerifyCRC()
	}
	if err == nil && !msg.WantsCRC(rec) && msg.HasCRCSlot(rec) {
		err = errors.New("record carries the checksum property but FlagRecordCRC is clear")
	}
	if err == nil && r.PhysOffset != phys {
		err = fmt.Errorf("physical offset field says %d (a stale record)", r.PhysOffset)
	}
	return err
}
