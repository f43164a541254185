package slavesync

import (
	"encoding/json"
	"fmt"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting/body"
)

// decodeJSON reads a topic or group wrapper. A body without its table is
// malformed: read as empty, it would delete every local entry.
func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", body.ErrMalformed, err)
	}
	var missing bool
	switch w := v.(type) {
	case *body.TopicConfigWrapper:
		missing = w.TopicConfigTable == nil
	case *body.SubscriptionGroupWrapper:
		missing = w.SubscriptionGroupTable == nil
	}
	if missing {
		return fmt.Errorf("%w: no table in the body", body.ErrMalformed)
	}
	return nil
}

// Decide is the offset merge rule of the package doc for one queue:
// master is the master's value now; last, lastOK the master's value
// remembered from the previous sync; local, localOK the slave's stored
// value. It returns the value to store, and false to leave the local one.
func Decide(master, last int64, lastOK bool, local int64, localOK bool) (int64, bool) {
	switch {
	case !localOK:
		return master, true
	case !lastOK:
		return max(local, master), master > local
	case master == last:
		return local, false
	case master >= local || local == last:
		return master, true
	}
	return local, false
}

// mergeOffsets applies the master's consumer offsets by Decide and then
// remembers them; it returns how many local offsets it changed.
func (s *Syncer) mergeOffsets(master body.ConsumerOffsetTable) (int, error) {
	if len(master) == 0 {
		return 0, nil
	}
	all, err := s.opts.Offsets.All()
	if err != nil {
		return 0, err
	}
	changed := 0
	for k, queues := range master {
		if Reserved(k.Group) || engine.CheckName(k.Topic) != nil || engine.CheckName(k.Group) != nil {
			continue // not ours to take; a name the store cannot hold
		}
		state := all[StateGroupPrefix+k.Group]
		for q, m := range queues {
			if m < 0 || q < 0 {
				continue
			}
			ref := engine.QueueRef{Topic: k.Topic, QueueID: q}
			last, lastOK := state[ref]
			lastOK = lastOK && last >= 0
			if lastOK && last == m {
				continue // the master did not move: nothing to decide, nothing to remember
			}
			err := s.opts.Offsets.Merge(k.Group, k.Topic, q, func(local int64, ok bool) (int64, bool) {
				next, store := Decide(m, last, lastOK, local, ok)
				if store && (!ok || next != local) {
					changed++
				}
				return next, store
			})
			if err != nil {
				return changed, err
			}
			// After the group's own offset: see the package doc.
			err = s.opts.Offsets.Merge(StateGroupPrefix+k.Group, k.Topic, q, func(int64, bool) (int64, bool) { return m, true })
			if err != nil {
				return changed, err
			}
		}
	}
	return changed, nil
}
