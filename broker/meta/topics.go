package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
)

// TopicStore keeps the topic config documents (engine.Store).
type TopicStore interface {
	TopicConfigs() (map[string][]byte, error)
	PutTopicConfig(name string, doc []byte) error
	DeleteTopicConfig(name string) error
}

// NewTopicConfig is a topic with queues read and write queues.
func NewTopicConfig(name string, queues int32, perm int) body.TopicConfig {
	return body.TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: body.DefaultTopicFilterType}
}

// ErrTooManyTopics refuses a new topic when the broker holds maxTopicNums.
var ErrTooManyTopics = errors.New("too many topics")

// TopicsOptions configures OpenTopics.
type TopicsOptions struct {
	// Builtins are created at open unless they exist; the cap does not
	// apply to them and they do not ring OnChange.
	Builtins []body.TopicConfig
	// Max caps the number of topics (maxTopicNums); 0: no cap.
	Max int
	// OnChange is called after every later change, outside the lock (the
	// registrar registers what changed at once); it must not block.
	OnChange func()
}

// Topics holds the topic configs, persisted as JSON documents in the
// engine's metadata. Every change bumps the data version, is remembered
// for the next incremental registration (Drain) and rings OnChange.
type Topics struct {
	store    TopicStore
	log      *slog.Logger
	onChange func()
	max      int

	builtins map[string]bool // names of opts.Builtins, which Replace keeps

	mu      sync.RWMutex
	topics  map[string]body.TopicConfig
	version body.DataVersion
	changed map[string]struct{} // created or updated since the last drain
	removed bool                // a topic was removed since the last drain
}

// OpenTopics loads the stored topic table, skipping (and logging) a
// malformed document, and creates the built-in topics.
func OpenTopics(store TopicStore, opts TopicsOptions, log *slog.Logger) (*Topics, error) {
	docs, err := store.TopicConfigs()
	if err != nil {
		return nil, fmt.Errorf("broker: load topics: %w", err)
	}
	t := &Topics{store: store, log: log, onChange: func() {},
		topics:  loadTable(docs, func(tc *body.TopicConfig) string { return tc.TopicName }, "topic", log),
		version: body.DataVersion{Timestamp: time.Now().UnixMilli()}, changed: map[string]struct{}{},
		builtins: map[string]bool{}}
	for _, tc := range opts.Builtins {
		t.builtins[tc.TopicName] = true
		if err := t.Ensure(tc); err != nil {
			return nil, err
		}
	}
	// After the built-in topics, which must exist.
	t.max = opts.Max
	if opts.OnChange != nil {
		t.onChange = opts.OnChange
	}
	return t, nil
}

// Ensure creates tc unless a topic of that name exists.
func (t *Topics) Ensure(tc body.TopicConfig) error {
	_, _, err := t.GetOrCreate(tc.TopicName, func() (body.TopicConfig, bool) { return tc, true })
	return err
}

// Get returns a topic's config.
func (t *Topics) Get(name string) (body.TopicConfig, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	tc, ok := t.topics[name]
	return tc, ok
}

// GetOrCreate returns the topic, creating it with make() when it is absent
// and make says so. created reports a new topic.
func (t *Topics) GetOrCreate(name string, make func() (body.TopicConfig, bool)) (tc body.TopicConfig, created bool, err error) {
	t.mu.RLock()
	tc, ok := t.topics[name]
	t.mu.RUnlock()
	if ok {
		return tc, false, nil
	}
	// make may read other topics (the default topic): call it unlocked.
	tc, ok = make()
	if !ok {
		return body.TopicConfig{}, false, nil
	}
	t.mu.Lock()
	if cur, ok := t.topics[name]; ok {
		t.mu.Unlock()
		return cur, false, nil
	}
	err = t.putLocked(tc)
	t.mu.Unlock()
	if err != nil {
		return body.TopicConfig{}, false, err
	}
	t.log.Info("topic created", "topic", name, "queues", tc.WriteQueueNums, "perm", tc.Perm)
	t.onChange()
	return tc, true, nil
}

// Inherited derives the config of a topic a send creates from the default
// topic (Java createTopicInSendMessageMethod): the default topic must carry
// PermInherit; the new topic gets its permissions without PermInherit, its
// filter type and min(requested, its write queues) queues (at least 1).
// ok is false when the default topic is missing or does not allow it.
func (t *Topics) Inherited(topic, defaultTopic string, requested int32) (body.TopicConfig, bool) {
	def, ok := t.Get(defaultTopic)
	if !ok || def.Perm&body.PermInherit == 0 {
		return body.TopicConfig{}, false
	}
	n := min(max(requested, 1), def.WriteQueueNums)
	tc := NewTopicConfig(topic, n, def.Perm&^body.PermInherit)
	tc.TopicFilterType = def.TopicFilterType
	return tc, true
}

// Put creates or replaces a topic.
func (t *Topics) Put(tc body.TopicConfig) error {
	t.mu.Lock()
	err := t.putLocked(tc)
	t.mu.Unlock()
	if err == nil {
		t.onChange()
	}
	return err
}

// REQUIRES: t.mu held for writing.
func (t *Topics) putLocked(tc body.TopicConfig) error {
	if _, ok := t.topics[tc.TopicName]; !ok && t.max > 0 && len(t.topics) >= t.max {
		return fmt.Errorf("broker: cannot create topic %s: %w: the broker already holds %d topics (maxTopicNums)",
			tc.TopicName, ErrTooManyTopics, len(t.topics))
	}
	doc, err := json.Marshal(tc)
	if err != nil {
		return err
	}
	if err := t.store.PutTopicConfig(tc.TopicName, doc); err != nil {
		return fmt.Errorf("broker: store topic %s: %w", tc.TopicName, err)
	}
	t.topics[tc.TopicName] = tc
	t.changed[tc.TopicName] = struct{}{}
	bump(&t.version)
	return nil
}

// Remove deletes a topic's config; it reports whether it existed.
func (t *Topics) Remove(name string) (bool, error) {
	t.mu.Lock()
	_, ok := t.topics[name]
	if ok {
		if err := t.store.DeleteTopicConfig(name); err != nil {
			t.mu.Unlock()
			return false, fmt.Errorf("broker: delete topic %s: %w", name, err)
		}
		delete(t.topics, name)
		delete(t.changed, name)
		t.removed = true
		bump(&t.version)
	}
	t.mu.Unlock()
	if ok {
		t.onChange()
	}
	return ok, nil
}

// Snapshot returns a copy of the table and its version.
func (t *Topics) Snapshot() (map[string]body.TopicConfig, body.DataVersion) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return maps.Clone(t.topics), t.version
}

// Delta is what changed in the topic table since the previous drain.
type Delta struct {
	Changed []body.TopicConfig          // created or updated topics
	Removed bool                        // some topic was removed: only a whole table says so
	Version body.DataVersion            // the table's version after these changes
	Table   map[string]body.TopicConfig // the whole table, when asked for or Removed
}

// Drain returns and forgets the changes since the previous drain, with a
// copy of the whole table when withTable or a topic was removed, all as of
// one instant. Its cost is the number of changes unless a table is copied.
func (t *Topics) Drain(withTable bool) Delta {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := Delta{Removed: t.removed, Version: t.version}
	for name := range t.changed {
		d.Changed = append(d.Changed, t.topics[name])
	}
	clear(t.changed)
	t.removed = false
	if withTable || d.Removed {
		d.Table = maps.Clone(t.topics)
	}
	return d
}

// WrapperJSON is the table as Java's TopicConfigSerializeWrapper
// (GET_ALL_TOPIC_CONFIG).
func (t *Topics) WrapperJSON() ([]byte, error) {
	table, v := t.Snapshot()
	return json.Marshal(body.TopicConfigWrapper{TopicConfigTable: table, DataVersion: v})
}

// Replace makes the table the master's (a slave's SlaveSynchronize) and
// takes its data version, so the next sync of an unchanged master does
// nothing. Topics that differ are written, topics absent from table are
// deleted, except this broker's built-in topics, which it needs whatever
// its master runs with (Java clears the whole table). Only documents that
// change are written; a failed write leaves the table partly replaced and
// the version unchanged, so the next sync repeats it. The cap (Max) does
// not apply: the master's table is what it is. It reports whether any
// topic changed.
func (t *Topics) Replace(table map[string]body.TopicConfig, v body.DataVersion) (bool, error) {
	t.mu.Lock()
	changed, err := t.replaceLocked(table, v)
	t.mu.Unlock()
	if changed {
		t.onChange()
	}
	return changed, err
}

// REQUIRES: t.mu held for writing.
func (t *Topics) replaceLocked(table map[string]body.TopicConfig, v body.DataVersion) (changed bool, err error) {
	for name, tc := range table {
		if cur, ok := t.topics[name]; (ok && cur == tc) || tc.TopicName != name {
			continue
		}
		doc, err := json.Marshal(tc)
		if err != nil {
			return changed, err
		}
		if err := t.store.PutTopicConfig(name, doc); err != nil {
			return changed, fmt.Errorf("broker: store topic %s: %w", name, err)
		}
		t.topics[name], t.changed[name], changed = tc, struct{}{}, true
	}
	for name := range t.topics {
		if _, ok := table[name]; ok || t.builtins[name] {
			continue
		}
		if err := t.store.DeleteTopicConfig(name); err != nil {
			return changed, fmt.Errorf("broker: delete topic %s: %w", name, err)
		}
		delete(t.topics, name)
		delete(t.changed, name)
		t.removed, changed = true, true
	}
	t.version = v
	return changed, nil
}
