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
		return false, fmt.Errorf("queue: read marker: %w", corruption(err))
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

// PutTopicsAndMarker durably stores topic config documents and the marker
// in one batch, so a crash leaves all of them or none.
func (d *DB) PutTopicsAndMarker(docs map[string][]byte) error {
	b := d.db.NewBatch()
	defer b.Close()
	for name, doc := range docs {
		if err := CheckName(name); err != nil {
			return err
		}
		if err := b.Set(append([]byte{prefixTopic}, name...), doc, nil); err != nil {
			return fmt.Errorf("queue: store config %q: %w", name, err)
		}
	}
	if err := b.Set(markerKey, []byte{1}, nil); err != nil {
		return fmt.Errorf("queue: write marker: %w", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("queue: store topic configs: %w", err)
	}
	return nil
}
