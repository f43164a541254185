package broker

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
)

// SubscriptionGroupConfig is the wire type of remoting/body; the broker
// keeps no field beside it.
type SubscriptionGroupConfig = body.SubscriptionGroupConfig

func newGroupConfig(name string) SubscriptionGroupConfig {
	return SubscriptionGroupConfig{GroupName: name, ConsumeEnable: true, ConsumeFromMinEnable: true,
		ConsumeBroadcastEnable: true, RetryQueueNums: defaultRetryQueueNum, RetryMaxTimes: 16,
		WhichBrokerWhenConsumeSlowly: 1, NotifyConsumerIDsChangedEnable: true}
}

// groupManager holds subscription group configs, persisted in the engine's
// metadata.
type groupManager struct {
	meta groupStore
	log  *slog.Logger

	mu      sync.RWMutex
	groups  map[string]SubscriptionGroupConfig
	version DataVersion
}

// groupStore keeps the subscription group documents (engine.Store).
type groupStore interface {
	GroupConfigs() (map[string][]byte, error)
	PutGroupConfig(name string, doc []byte) error
}

func newGroupManager(meta groupStore, log *slog.Logger) (*groupManager, error) {
	gm := &groupManager{meta: meta, log: log, groups: map[string]SubscriptionGroupConfig{},
		version: DataVersion{Timestamp: time.Now().UnixMilli()}}
	docs, err := meta.GroupConfigs()
	if err != nil {
		return nil, fmt.Errorf("broker: load groups: %w", err)
	}
	for name, doc := range docs {
		var gc SubscriptionGroupConfig
		if err := json.Unmarshal(doc, &gc); err != nil || gc.GroupName != name {
			log.Error("ignoring malformed stored group config", "group", name, "err", err)
			continue
		}
		gm.groups[name] = gc
	}
	return gm, nil
}

func (gm *groupManager) get(name string) (SubscriptionGroupConfig, bool) {
	gm.mu.RLock()
	defer gm.mu.RUnlock()
	gc, ok := gm.groups[name]
	return gc, ok
}

// getOrCreate returns the group's config, creating a default one when
// autoCreate is set. ok is false when the group does not exist.
func (gm *groupManager) getOrCreate(name string, autoCreate bool) (SubscriptionGroupConfig, bool, error) {
	if gc, ok := gm.get(name); ok || !autoCreate {
		return gc, ok, nil
	}
	gm.mu.Lock()
	defer gm.mu.Unlock()
	if gc, ok := gm.groups[name]; ok {
		return gc, true, nil
	}
	gc := newGroupConfig(name)
	doc, err := json.Marshal(gc)
	if err != nil {
		return gc, false, err
	}
	if err := gm.meta.PutGroupConfig(name, doc); err != nil {
		return gc, false, fmt.Errorf("broker: store group %s: %w", name, err)
	}
	gm.groups[name] = gc
	gm.version.Counter++
	gm.version.Timestamp = time.Now().UnixMilli()
	gm.log.Info("subscription group created", "group", name)
	return gc, true, nil
}

// wrapperJSON is Java's SubscriptionGroupWrapper.
func (gm *groupManager) wrapperJSON() ([]byte, error) {
	gm.mu.RLock()
	table, v := maps.Clone(gm.groups), gm.version
	gm.mu.RUnlock()
	return json.Marshal(body.SubscriptionGroupWrapper{SubscriptionGroupTable: table, DataVersion: v})
}
