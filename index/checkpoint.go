package index

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The checkpoint file holds two copies of
//
//	offset size field
//	0      4    magic 0x5748434B ("WHCK")
//	4      2    version (1)
//	6      2    zero
//	8      8    sequence number (the valid copy with the higher one wins)
//	16     8    checkpoint: the index is complete for every phys below it
//	24     4    CRC-32C of bytes 0..24
//
// Copy i lives at byte i*headerStride, and writes alternate between them, so
// a torn write can only spoil the copy being replaced. Part of the format.
const (
	checkpointName    = "CHECKPOINT"
	checkpointMagic   = 0x5748434B
	checkpointVersion = 1
	checkpointSize    = 28
)

type checkpointFile struct {
	f   vfs.File // nil until the first write
	seq uint64
}

func decodeCheckpoint(b []byte) (seq uint64, value int64, ok bool) {
	if len(b) < checkpointSize ||
		binary.BigEndian.Uint32(b[0:]) != checkpointMagic ||
		binary.BigEndian.Uint16(b[4:]) != checkpointVersion ||
		binary.BigEndian.Uint16(b[6:]) != 0 ||
		binary.BigEndian.Uint32(b[24:]) != crc32.Checksum(b[:24], castagnoli) {
		return 0, 0, false
	}
	value = int64(binary.BigEndian.Uint64(b[16:]))
	if value < 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[8:]), value, true
}

// readCheckpoint opens the checkpoint file in dir, if there is one, and
// returns its value. A file with no valid copy reads as 0 (the caller logs
// it): the index then trusts nothing, which is always safe because the
// engine replays the CommitLog from the checkpoint.
func readCheckpoint(fs vfs.FS, dir string) (c *checkpointFile, value int64, damaged bool, err error) {
	path := fs.PathJoin(dir, checkpointName)
	if _, err := fs.Stat(path); err != nil {
		return &checkpointFile{}, 0, false, nil
	}
	fh, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, 0, false, fmt.Errorf("index: open %s: %w", path, err)
	}
	c = &checkpointFile{f: fh}
	found := false
	var buf [checkpointSize]byte
	for i := int64(0); i < 2; i++ {
		n, err := fh.ReadAt(buf[:], i*headerStride)
		if err != nil && err != io.EOF {
			_ = fh.Close()
			return nil, 0, false, fmt.Errorf("index: read %s: %w", path, err)
		}
		seq, v, ok := decodeCheckpoint(buf[:n])
		if ok && (!found || seq > c.seq) {
			c.seq, value, found = seq, v, true
		}
	}
	return c, value, !found, nil
}

// write makes value the durable checkpoint, creating the file on first use.
func (c *checkpointFile) write(fs vfs.FS, dir string, value int64) error {
	path := fs.PathJoin(dir, checkpointName)
	created := false
	if c.f == nil {
		fh, err := fs.Create(path, vfs.WriteCategoryUnspecified)
		if err != nil {
			return fmt.Errorf("index: create %s: %w", path, err)
		}
		c.f = fh
		created = true
	}
	seq := c.seq + 1
	var b [checkpointSize]byte
	binary.BigEndian.PutUint32(b[0:], checkpointMagic)
	binary.BigEndian.PutUint16(b[4:], checkpointVersion)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint64(b[16:], uint64(value))
	binary.BigEndian.PutUint32(b[24:], crc32.Checksum(b[:24], castagnoli))
	if _, err := c.f.WriteAt(b[:], int64(seq%2)*headerStride); err != nil {
		return fmt.Errorf("index: write %s: %w", path, err)
	}
	if err := c.f.Sync(); err != nil {
		return fmt.Errorf("index: sync %s: %w", path, err)
	}
	c.seq = seq
	if created {
		// The file's name must be durable before the checkpoint counts.
		return syncDir(fs, dir)
	}
	return nil
}

func (c *checkpointFile) close() error {
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	if err != nil {
		return fmt.Errorf("index: close %s: %w", checkpointName, err)
	}
	return nil
}
