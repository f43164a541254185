package queue

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// markerKey marks a meta store created (or first opened) by a version that
// writes it, so a lost meta/ can be told from a new store. Part of the format.
var markerKey = []byte{prefixMarker, 'w', 'h', 'a', 'r', 'f'}

// HasMarker says whether the meta store carries the marker.
func (d *DB) HasMarker() (bool, error) {
	_, closer, err := d.db.Get(markerKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: read marker: %w", err)
	}
	closer.Close()
	return true, nil
}

// PutMarker durably writes the marker.
func (d *DB) PutMarker() error {
	if err := d.db.Set(markerKey, []byte{1}, pebble.Sync); err != nil {
		return fmt.Errorf("queue: write marker: %w", err)
	}
	return nil
}

// Empty says whether the meta store holds no key at all.
func (d *DB) Empty() (bool, error) {
	it, err := d.db.NewIter(nil)
	if err != nil {
		return false, fmt.Errorf("queue: scan: %w", err)
	}
	empty := !it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, fmt.Errorf("queue: scan: %w", err)
	}
	return empty, nil
}
