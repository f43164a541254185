package commitlog

import (
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// segment is one open segment file.
type segment struct {
	base int64
	file vfs.File
	mem  []byte // shared mapping while the segment is active (mapped mode)
}

func (s *segment) String() string { return SegmentName(s.base) }

// readZeroPadded fills p from f at off; bytes past the file's end read as
// zero, as a segment's tail that never reached the disk does. It returns
// how many bytes came from the file.
func readZeroPadded(f vfs.File, p []byte, off int64) (int, error) {
	n, err := f.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	clear(p[n:])
	return n, nil
}

// readHeld fills p from f at off, which must hold every byte of it: a read
// below the end of the log that comes up short is damage (a file cut short
// while open), never zeros to serve as a record.
func readHeld(f vfs.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil // io.ReaderAt may say io.EOF with the last byte
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the file ends at %d, before %d", ErrCorruption, off+int64(n), off+int64(len(p)))
	}
	return err
}

// zeroChunk is shared, read-only zeros for filling files.
var zeroChunk = make([]byte, 1<<20)

// zeroFill writes zeros over [from, to) of f.
func zeroFill(f vfs.File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeroChunk)), to-off)
		if _, err := f.WriteAt(zeroChunk[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}
