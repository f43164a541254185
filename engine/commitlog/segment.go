package commitlog

import (
	"errors"
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
