package commitlog

import (
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

// The checkpoint file is a durable slot file (two alternating checksummed
// slots, the newer valid one wins) whose slot is
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
	checkpointSlotStride = 4096
)

var checkpointLayout = durable.Layout{
	Prefix:      []byte("WHCP"),
	PayloadSize: 9,
	Stride:      checkpointSlotStride,
	Valid: func(p []byte) bool {
		return int64(binary.BigEndian.Uint64(p)) >= 0 && p[8] <= 1
	},
}

type checkpoint struct {
	seq    uint64
	offset int64
	clean  bool
}

func decodeCheckpoint(p []byte) checkpoint {
	return checkpoint{offset: int64(binary.BigEndian.Uint64(p)), clean: p[8] == 1}
}

// checkpointFile writes checkpoints to alternate slots.
type checkpointFile struct{ sf *durable.SlotFile }

// openCheckpoint opens the checkpoint file (the first write creates it)
// and returns the newest valid checkpoint, ok=false when there is none.
func openCheckpoint(fs vfs.FS, dir string) (*checkpointFile, checkpoint, bool, error) {
	sf, p, _, err := durable.OpenSlotFile(fs, fs.PathJoin(dir, checkpointName), &checkpointLayout)
	if err != nil {
		return nil, checkpoint{}, false, fmt.Errorf("commitlog: checkpoint: %w", err)
	}
	if p == nil {
		return &checkpointFile{sf}, checkpoint{}, false, nil
	}
	c := decodeCheckpoint(p)
	c.seq = sf.Seq()
	return &checkpointFile{sf}, c, true, nil
}

// readCheckpoint reads the newest valid checkpoint without opening the
// file for writing.
func readCheckpoint(fs vfs.FS, dir string) (c checkpoint, found, exists bool, err error) {
	p, exists, err := durable.ReadSlotFile(fs, fs.PathJoin(dir, checkpointName), &checkpointLayout)
	if err != nil || p == nil {
		return checkpoint{}, false, exists, err
	}
	return decodeCheckpoint(p), true, true, nil
}

// write stores offset and clean durably in the older slot.
func (cf *checkpointFile) write(offset int64, clean bool) error {
	var p [9]byte
	binary.BigEndian.PutUint64(p[:], uint64(offset))
	if clean {
		p[8] = 1
	}
	if err := cf.sf.Write(p[:]); err != nil {
		return fmt.Errorf("commitlog: checkpoint: %w", err)
	}
	return nil
}

func (cf *checkpointFile) close() error { return cf.sf.Close() }
