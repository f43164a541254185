package commitlog

import (
	"fmt"
	"io"

	"github.com/wharfmq/wharf/engine/msg"
)

// iterWindow is how much an Iterator reads ahead at once.
const iterWindow = 1 << 20

// Iterator walks records in log order from an offset, reading ahead in
// windows. It skips BLANK fillers. It is not safe for concurrent use.
type Iterator struct {
	c       *CommitLog
	pos     int64
	buf     []byte
	bufBase int64 // log offset of buf[0]
}

// NewIterator returns an iterator positioned at from, which must be a record
// boundary.
func (c *CommitLog) NewIterator(from int64) *Iterator {
	return &Iterator{c: c, pos: from, bufBase: -1}
}

// Pos is the offset of the next record.
func (it *Iterator) Pos() int64 { return it.pos }

// Next returns the next record below limit and its offset. The slice is
// valid until the following call. It returns io.EOF at limit.
func (it *Iterator) Next(limit int64) (rec []byte, phys int64, err error) {
	segSize := it.c.segSize
	for {
		if it.pos >= limit {
			return nil, it.pos, io.EOF
		}
		segEnd := it.pos - it.pos%segSize + segSize
		if segEnd-it.pos < msg.BlankHeaderSize {
			it.pos = segEnd
			continue
		}
		h, err := it.read(it.pos, msg.BlankHeaderSize, limit)
		if err != nil {
			return nil, it.pos, err
		}
		size, kind, err := msg.PeekHeader(h)
		if err != nil {
			return nil, it.pos, fmt.Errorf("%w: at %d: %v", ErrCorruption, it.pos, err)
		}
		switch kind {
		case msg.KindBlank:
			it.pos = segEnd
			continue
		case msg.KindEnd:
			return nil, it.pos, fmt.Errorf("%w: zero header at %d below the readable end %d", ErrCorruption, it.pos, limit)
		}
		if it.pos+int64(size) > min(limit, segEnd) {
			return nil, it.pos, fmt.Errorf("%w: record of %d bytes at %d runs past %d", ErrCorruption, size, it.pos, min(limit, segEnd))
		}
		rec, err = it.read(it.pos, size, limit)
		if err != nil {
			return nil, it.pos, err
		}
		phys = it.pos
		it.pos += int64(size)
		return rec, phys, nil
	}
}

// read returns n bytes at off from the window, refilling it from the
// segment when needed. It never reads at or past limit, whose bytes may
// still be changing.
func (it *Iterator) read(off int64, n int, limit int64) ([]byte, error) {
	if it.bufBase >= 0 && off >= it.bufBase && off+int64(n) <= it.bufBase+int64(len(it.buf)) {
		return it.buf[off-it.bufBase : off-it.bufBase+int64(n)], nil
	}
	segSize := it.c.segSize
	segEnd := off - off%segSize + segSize
	want := int(min(max(int64(n), iterWindow), min(limit, segEnd)-off))
	if want < n {
		return nil, fmt.Errorf("%w: %d bytes at %d, readable below %d", ErrOutOfRange, n, off, limit)
	}
	if cap(it.buf) < want {
		it.buf = make([]byte, want)
	}
	it.buf = it.buf[:want]
	if err := it.c.ReadAt(it.buf, off); err != nil {
		it.bufBase = -1
		return nil, err
	}
	it.bufBase = off
	return it.buf[:n], nil
}
