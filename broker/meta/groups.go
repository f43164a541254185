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

// GroupStore keeps the subscription group documents (engine.Store).
type GroupStore interface {
	GroupConfigs() (map[string][]byte, error)
	PutGroupConfig(name string, doc []byte) error
	DeleteGroupConfig(name string) error
}

// Store is both tables' storage, as engine.Store provides it.
type Store interface {
	TopicStore
	GroupStore
}

// defaultRetryQueueNums is the retry queue count of a new group.
const defaultRetryQueueNums = 1

// NewGroupConfig is the config a group gets when it is created on use.
func NewGroupConfig(name string) body.SubscriptionGroupConfig {
	return body.SubscriptionGroupConfig{GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true,
		ConsumeBroadcastEnable: true, RetryQueueNums: defaultRetryQueueNums, RetryMaxTimes: 16,
		WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true}
}

// Groups holds subscription group configs, persisted in the engine's
// metadata.
type Groups struct {
	store GroupStore
	log   *slog.Logger

	mu      sync.RWMutex
	groups  map[string]body.SubscriptionGroupConfig
	version body.DataVersion
}

// OpenGroups loads the stored group table, skipping (and logging) a
// malformed document.
func OpenGroups(store GroupStore, log *slog.Logger) (*Groups, error) {
	docs, err := store.GroupConfigs()
	if err != nil {
		return nil, fmt.Errorf("broker: load groups: %w", err)
	}
	return &Groups{store: store, log: log,
		groups:  loadTable(docs, func(gc *body.SubscriptionGroupConfig) string { return gc.GroupName }, "group", log),
		version: body.DataVersion{Timestamp: time.Now().UnixMilli()}}, nil
}

// Get returns a group's config.
func (g *Groups) Get(name string) (body.SubscriptionGroupConfig, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	gc, ok := g.groups[name]
	return gc, ok
}

// GetOrCreate returns the group's config, creating a default one when
// autoCreate is set. ok is false when the group does not exist.
func (g *Groups) GetOrCreate(name string, autoCreate bool) (body.SubscriptionGroupConfig, bool, error) {
	if gc, ok := g.Get(name); ok || !autoCreate {
		return gc, ok, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if gc, ok := g.groups[name]; ok {
		return gc, true, nil
	}
	gc := NewGroupConfig(name)
	doc, err := json.Marshal(gc)
	if err != nil {
		return gc, false, err
	}
	if err := g.store.PutGroupConfig(name, doc); err != nil {
		return gc, false, fmt.Errorf("broker: store group %s: %w", name, err)
	}
	g.groups[name] = gc
	bump(&g.version)
	g.log.Info("subscription group created", "group", name)
	return gc, true, nil
}

// Put creates or replaces a group's config (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP).
func (g *Groups) Put(gc body.SubscriptionGroupConfig) error {
	if remark, ok := ValidateGroup(gc.GroupName); !ok {
		return errors.New(remark)
	}
	doc, err := json.Marshal(gc)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.store.PutGroupConfig(gc.GroupName, doc); err != nil {
		return fmt.Errorf("broker: store group %s: %w", gc.GroupName, err)
	}
	g.groups[gc.GroupName] = gc
	bump(&g.version)
	return nil
}

// Remove deletes a group's config; it reports whether there was one.
func (g *Groups) Remove(name string) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.groups[name]; !ok {
		return false, nil
	}
	if err := g.store.DeleteGroupConfig(name); err != nil {
		return false, fmt.Errorf("broker: delete group %s: %w", name, err)
	}
	delete(g.groups, name)
	bump(&g.version)
	return true, nil
}

// Snapshot returns a copy of the table and its version.
func (g *Groups) Snapshot() (map[string]body.SubscriptionGroupConfig, body.DataVersion) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return maps.Clone(g.groups), g.version
}

// Replace makes the table the master's (a slave's SlaveSynchronize), as
// Java does: groups absent from table are deleted, and the table takes the
// master's data version. Only documents that change are written; a failed
// write leaves the version unchanged, so the next sync repeats it.
func (g *Groups) Replace(table map[string]body.SubscriptionGroupConfig, v body.DataVersion) (changed bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, gc := range table {
		if cur, ok := g.groups[name]; (ok && cur == gc) || gc.GroupName != name {
			continue
		}
		doc, err := json.Marshal(gc)
		if err != nil {
			return changed, err
		}
		if err := g.store.PutGroupConfig(name, doc); err != nil {
			return changed, fmt.Errorf("broker: store group %s: %w", name, err)
		}
		g.groups[name], changed = gc, true
	}
	for name := range g.groups {
		if _, ok := table[name]; ok {
			continue
		}
		if err := g.store.DeleteGroupConfig(name); err != nil {
			return changed, fmt.Errorf("broker: delete group %s: %w", name, err)
		}
		delete(g.groups, name)
		changed = true
	}
	g.version = v
	return changed, nil
}

// WrapperJSON is the table as Java's SubscriptionGroupWrapper
// (GET_ALL_SUBSCRIPTIONGROUP_CONFIG).
func (g *Groups) WrapperJSON() ([]byte, error) {
	table, v := g.Snapshot()
	return json.Marshal(body.SubscriptionGroupWrapper{SubscriptionGroupTable: table, DataVersion: v})
}
