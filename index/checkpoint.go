package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

// The checkpoint file is a durable slot file (two alternately written
// checksummed copies, the valid one with the higher sequence number wins)
// whose slot is
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
const checkpointName = "CHECKPOINT"

var checkpointLayout = durable.Layout{
	Prefix:      []byte{'W', 'H', 'C', 'K', 0, 1, 0, 0}, // magic, version 1, zero
	PayloadSize: 8,
	Stride:      headerStride,
	Valid:       func(p []byte) bool { return int64(binary.BigEndian.Uint64(p)) >= 0 },
}

// checkpointFile is the open checkpoint file. The zero value stands for a
// missing file: the first write creates it.
type checkpointFile struct{ sf *durable.SlotFile }

// readCheckpoint opens the checkpoint file in dir, if there is one, and
// returns its value. A file with no valid copy reads as 0 (the caller logs
// it): the index then trusts nothing, which is always safe because the
// engine replays the CommitLog from the checkpoint.
func readCheckpoint(fs vfs.FS, dir string) (c *checkpointFile, value int64, damaged bool, err error) {
	sf, p, exists, err := durable.OpenSlotFile(fs, fs.PathJoin(dir, checkpointName), &checkpointLayout)
	if err != nil {
		return nil, 0, false, fmt.Errorf("index: %w", err)
	}
	if p == nil {
		return &checkpointFile{sf}, 0, exists, nil
	}
	return &checkpointFile{sf}, int64(binary.BigEndian.Uint64(p)), false, nil
}

// readCheckpointReadOnly is readCheckpoint without opening the file for
// writing (a read-only Index).
func readCheckpointReadOnly(fs vfs.FS, dir string) (value int64, damaged bool, err error) {
	p, exists, err := durable.ReadSlotFile(fs, fs.PathJoin(dir, checkpointName), &checkpointLayout)
	if err != nil {
		return 0, false, fmt.Errorf("index: %w", err)
	}
	if p == nil {
		return 0, exists, nil
	}
	return int64(binary.BigEndian.Uint64(p)), false, nil
}

// write makes value the durable checkpoint, creating the file on first use.
func (c *checkpointFile) write(fs vfs.FS, dir string, value int64) error {
	if c.sf == nil {
		sf, _, _, err := durable.OpenSlotFile(fs, fs.PathJoin(dir, checkpointName), &checkpointLayout)
		if err != nil {
			return fmt.Errorf("index: %w", err)
		}
		c.sf = sf
	}
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], uint64(value))
	if err := c.sf.Write(p[:]); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

func (c *checkpointFile) close() error {
	if c.sf == nil {
		return nil
	}
	if err := c.sf.Close(); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}

// RemoveAll deletes the index in dir, files and checkpoint, with no Index
// open on it. The checkpoint goes first, durably: an index without one
// drops all its entries at Open, so a crash between the removals cannot
// leave an index that claims entries it lost. A missing dir is no error.
func RemoveAll(fs vfs.FS, dir string) error {
	if _, err := fs.Stat(dir); err != nil {
		return nil
	}
	if err := fs.Remove(fs.PathJoin(dir, checkpointName)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("index: remove the checkpoint: %w", err)
	}
	if err := durable.SyncDir(fs, dir); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	if err := fs.RemoveAll(dir); err != nil {
		return fmt.Errorf("index: remove %s: %w", dir, err)
	}
	if err := durable.SyncDir(fs, fs.PathDir(dir)); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	return nil
}
