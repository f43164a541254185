package commitlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The checkpoint file: two slots, each
//
//	offset size field
//	0      4    magic 0x57484350 ("WHCP")
//	4      8    sequence number (the higher valid one wins)
//	12     8    durable offset (a record boundary)
//	20     1    clean (1 = closed cleanly, offset is the exact end)
//	21     4    CRC32-C of bytes 0..20
//
// Slot i lives at byte i*checkpointSlotStride, so the two never share a
// sector. Part of the format.
const (
	checkpointName       = "checkpoint"
	checkpointMagic      = 0x57484350
	checkpointSlotSize   = 25
	checkpointSlotStride = 4096
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type checkpoint struct {
	seq    uint64
	offset int64
	clean  bool
}

func (c checkpoint) encode() []byte {
	b := make([]byte, checkpointSlotSize)
	binary.BigEndian.PutUint32(b[0:], checkpointMagic)
	binary.BigEndian.PutUint64(b[4:], c.seq)
	binary.BigEndian.PutUint64(b[12:], uint64(c.offset))
	if c.clean {
		b[20] = 1
	}
	binary.BigEndian.PutUint32(b[21:], crc32.Checksum(b[:21], castagnoli))
	return b
}

func decodeCheckpoint(b []byte) (checkpoint, bool) {
	if len(b) < checkpointSlotSize ||
		binary.BigEndian.Uint32(b[0:]) != checkpointMagic ||
		binary.BigEndian.Uint32(b[21:]) != crc32.Checksum(b[:21], castagnoli) ||
		b[20] > 1 {
		return checkpoint{}, false
	}
	c := checkpoint{
		seq:    binary.BigEndian.Uint64(b[4:]),
		offset: int64(binary.BigEndian.Uint64(b[12:])),
		clean:  b[20] == 1,
	}
	return c, c.offset >= 0
}

// checkpointFile writes checkpoints to alternate slots.
type checkpointFile struct {
	f    vfs.File
	last checkpoint
}

// openCheckpoint opens (creating if needed) the checkpoint file and returns
// the newest valid checkpoint, ok=false when there is none.
func openCheckpoint(fs vfs.FS, dir string) (*checkpointFile, checkpoint, bool, error) {
	path := fs.PathJoin(dir, checkpointName)
	_, statErr := fs.Stat(path)
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, checkpoint{}, false, fmt.Errorf("commitlog: open checkpoint: %w", err)
	}
	if statErr != nil {
		// Newly created: make its directory entry durable.
		if err := syncDir(fs, dir); err != nil {
			f.Close()
			return nil, checkpoint{}, false, err
		}
	}
	var best checkpoint
	found := false
	buf := make([]byte, checkpointSlotSize)
	for slot := int64(0); slot < 2; slot++ {
		n, err := f.ReadAt(buf, slot*checkpointSlotStride)
		if err != nil && err != io.EOF {
			f.Close()
			return nil, checkpoint{}, false, fmt.Errorf("commitlog: read checkpoint: %w", err)
		}
		if c, ok := decodeCheckpoint(buf[:n]); ok && (!found || c.seq > best.seq) {
			best, found = c, true
		}
	}
	return &checkpointFile{f: f, last: best}, best, found, nil
}

// write stores offset and clean durably in the older slot.
func (cf *checkpointFile) write(offset int64, clean bool) error {
	c := checkpoint{seq: cf.last.seq + 1, offset: offset, clean: clean}
	slot := int64(c.seq % 2)
	if _, err := cf.f.WriteAt(c.encode(), slot*checkpointSlotStride); err != nil {
		return fmt.Errorf("commitlog: write checkpoint: %w", err)
	}
	if err := cf.f.Sync(); err != nil {
		return fmt.Errorf("commitlog: sync checkpoint: %w", err)
	}
	cf.last = c
	return nil
}

func (cf *checkpointFile) close() error { return cf.f.Close() }
