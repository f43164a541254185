package queue

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// logFloorKey holds the CommitLog offset below which the store removed its
// segments on purpose (retention, or a replica's rebase): a first segment
// above it is missing. Not derived data: ResetDerived keeps it. Part of the
// format.
var logFloorKey = []byte{prefixMarker, 'f', 'l', 'o', 'o', 'r'}

// LogFloor returns the recorded floor; ok is false when none is recorded
// (a store made before the floor, or a rebuilt meta/).
func (d *DB) LogFloor() (floor int64, ok bool, err error) {
	v, closer, err := d.db.Get(logFloorKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("queue: read the log floor: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0 {
		return 0, false, fmt.Errorf("queue: log floor record of %d bytes is damaged", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), true, nil
}

// SetLogFloor durably records floor: the caller is about to remove the
// segments below it (or has found them gone and said so).
func (d *DB) SetLogFloor(floor int64) error {
	if err := d.db.Set(logFloorKey, binary.BigEndian.AppendUint64(nil, uint64(floor)), pebble.Sync); err != nil {
		return fmt.Errorf("queue: record the log floor %d: %w", floor, err)
	}
	return nil
}
