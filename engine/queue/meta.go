package queue

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// CommitOffset durably stores a consumer group's next offset for a queue.
// A negative offset (the Go client commits -1 after "no offset") means none.
func (d *DB) CommitOffset(group, topic string, queueID int32, offset int64) error {
	if err := errors.Join(CheckName(group), CheckName(topic)); err != nil {
		return err
	}
	if err := d.db.Set(offsetKey(group, topic, queueID), be.AppendUint64(nil, uint64(offset)), pebble.Sync); err != nil {
		return fmt.Errorf("queue: commit offset %s %s/%d: %w", group, topic, queueID, err)
	}
	return nil
}

// DeleteGroupOffsets durably removes every offset a consumer group
// committed (DELETE_SUBSCRIPTIONGROUP with cleanOffset).
func (d *DB) DeleteGroupOffsets(group string) error {
	if err := CheckName(group); err != nil {
		return err
	}
	start := append(append([]byte{prefixOffset}, group...), 0)
	if err := d.db.DeleteRange(start, prefixEnd(start), pebble.Sync); err != nil {
		return fmt.Errorf("queue: delete offsets of %s: %w", group, err)
	}
	return nil
}

// deleteTopicOffsets adds to b the deletion of every group's offsets on
// topic (keys are group first, so it reads them all).
func (d *DB) deleteTopicOffsets(b *pebble.Batch, topic string) error {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOffset}, UpperBound: []byte{prefixOffset + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		_, rest, ok := cutZero(it.Key()[1:])
		if !ok {
			continue
		}
		if t, _, ok := cutZero(rest); ok && t == topic {
			if err := b.Delete(it.Key(), nil); err != nil {
				return err
			}
		}
	}
	return corruption(it.Error())
}

// ConsumerOffset returns a group's committed offset; ok is false when there
// is none (or it is negative).
func (d *DB) ConsumerOffset(group, topic string, queueID int32) (offset int64, ok bool, err error) {
	v, closer, err := d.db.Get(offsetKey(group, topic, queueID))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("queue: read offset %s %s/%d: %w", group, topic, queueID, corruption(err))
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, false, fmt.Errorf("queue: offset value of %d bytes", len(v))
	}
	off := int64(be.Uint64(v))
	return off, off >= 0, nil
}

// ConsumerOffsets lists every committed offset: group -> topic -> queue -> offset.
func (d *DB) ConsumerOffsets() (map[string]map[Ref]int64, error) {
	out := map[string]map[Ref]int64{}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixOffset}, UpperBound: []byte{prefixOffset + 1}})
	if err != nil {
		return nil, corruption(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		group, rest, ok := cutZero(it.Key()[1:])
		if !ok {
			continue
		}
		topic, rest, ok := cutZero(rest)
		if !ok || len(rest) != 4 || len(it.Value()) != 8 {
			continue
		}
		if out[group] == nil {
			out[group] = map[Ref]int64{}
		}
		out[group][Ref{topic, int32(be.Uint32(rest))}] = int64(be.Uint64(it.Value()))
	}
	return out, corruption(it.Error())
}

func cutZero(b []byte) (string, []byte, bool) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), b[i+1:], true
		}
	}
	return "", nil, false
}

// PutConfig durably stores a topic ('t') or group ('g') config document.
func (d *DB) putConfig(prefix byte, name string, doc []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := d.db.Set(append([]byte{prefix}, name...), doc, pebble.Sync); err != nil {
		return fmt.Errorf("queue: store config %q: %w", name, err)
	}
	return nil
}

func (d *DB) deleteConfig(prefix byte, name string) error {
	if err := d.db.Delete(append([]byte{prefix}, name...), pebble.Sync); err != nil {
		return fmt.Errorf("queue: delete config %q: %w", name, err)
	}
	return nil
}

func (d *DB) configs(prefix byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return nil, corruption(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key()[1:])] = append([]byte(nil), it.Value()...)
	}
	return out, corruption(it.Error())
}

// PutTopic stores a topic's config document.
func (d *DB) PutTopic(name string, doc []byte) error { return d.putConfig(prefixTopic, name, doc) }

// DeleteTopic removes a topic's config document.
func (d *DB) DeleteTopic(name string) error { return d.deleteConfig(prefixTopic, name) }

// Topics returns every topic config document by name.
func (d *DB) Topics() (map[string][]byte, error) { return d.configs(prefixTopic) }

// PutGroup stores a subscription group's config document.
func (d *DB) PutGroup(name string, doc []byte) error { return d.putConfig(prefixGroup, name, doc) }

// DeleteGroup removes a subscription group's config document.
func (d *DB) DeleteGroup(name string) error { return d.deleteConfig(prefixGroup, name) }

// Groups returns every group config document by name.
func (d *DB) Groups() (map[string][]byte, error) { return d.configs(prefixGroup) }
