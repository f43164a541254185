package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/retry"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
)

// Topic permission bits (Java PermName).
const (
	PermPriority = body.PermPriority
	PermRead     = body.PermRead
	PermWrite    = body.PermWrite
	PermInherit  = body.PermInherit
)

// Names of built-in and system topics (Java TopicValidator, MixAll; the
// system topics are defined in package systopic).
const (
	AutoCreateTopicKey   = systopic.AutoCreate
	SelfTestTopic        = systopic.SelfTest
	OffsetMovedEvent     = systopic.OffsetMoved
	ScheduleTopic        = systopic.Schedule
	TransHalfTopic       = systopic.TransHalf
	TransOpHalfTopic     = systopic.TransOpHalf
	TransCheckMaxTime    = systopic.TransCheck
	RetryGroupTopicPref  = retry.TopicPrefix
	DLQGroupTopicPrefix  = retry.DLQPrefix
	maxTopicLength       = 127
	defaultRetryQueueNum = 1
)

// topicChars marks the bytes a topic name may hold: Java's pattern
// ^[%|a-zA-Z0-9_-]+$, as a table, since every send checks its topic.
var topicChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "%|_-" {
		t[c] = true
	}
	return t
}()

// legalTopicChars reports whether topic is non-empty and matches
// ^[%|a-zA-Z0-9_-]+$.
func legalTopicChars(topic string) bool {
	for i := 0; i < len(topic); i++ {
		if !topicChars[topic[i]] {
			return false
		}
	}
	return topic != ""
}

// notAllowedSendTopics may not be written by clients (Java
// TopicValidator.isNotAllowedSendTopic).
var notAllowedSendTopics = map[string]bool{
	ScheduleTopic: true, TransHalfTopic: true, TransOpHalfTopic: true, TransCheckMaxTime: true,
}

// validateTopic applies Java's TopicValidator.validateTopic rules and
// returns the remark to send when the name is refused.
func validateTopic(topic string) (remark string, ok bool) {
	switch {
	case strings.TrimSpace(topic) == "":
		return "The specified topic is blank.", false
	case len(topic) > maxTopicLength:
		return fmt.Sprintf("The specified topic is longer than topic max length %d.", maxTopicLength), false
	case !legalTopicChars(topic):
		return fmt.Sprintf("The specified topic[%s] contains illegal characters, allowing only ^[%%|a-zA-Z0-9_-]+$", topic), false
	}
	return "", true
}

// maxGroupLength is Java's Validators.CHARACTER_MAX_LENGTH.
const maxGroupLength = 255

// validateGroup refuses group names that are blank, longer than 255 bytes
// or hold control characters. It is looser than Java's client-side pattern
// on purpose: Java brokers accept any name, and Go clients send names with
// '.' or ':' that must keep working.
func validateGroup(group string) (remark string, ok bool) {
	switch {
	case strings.TrimSpace(group) == "":
		return "The specified group is blank.", false
	case len(group) > maxGroupLength:
		return fmt.Sprintf("The specified group is longer than group max length %d.", maxGroupLength), false
	case strings.ContainsFunc(group, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Sprintf("The specified group %q contains control characters.", group), false
	}
	return "", true
}

// TopicConfig and DataVersion are the wire types of remoting/body; the
// broker keeps no field beside them, so it uses them as they are.
type (
	TopicConfig = body.TopicConfig
	DataVersion = body.DataVersion
)

func newTopicConfig(name string, queues int32, perm int) TopicConfig {
	return TopicConfig{TopicName: name, ReadQueueNums: queues, WriteQueueNums: queues, Perm: perm, TopicFilterType: body.DefaultTopicFilterType}
}

// topicManager holds the topic configs, persisted as JSON documents in the
// engine's metadata. Every change bumps the data version, is remembered
// for the next incremental registration (drain) and rings onChange (the
// registration loop registers what changed at once).
type topicManager struct {
	meta     topicStore
	log      *slog.Logger
	onChange func()
	// max caps the number of topics (maxTopicNums); 0: no cap.
	max int

	mu      sync.RWMutex
	topics  map[string]TopicConfig
	version DataVersion
	changed map[string]struct{} // created or updated since the last drain
	removed bool                // a topic was removed since the last drain
}

// topicStore keeps the topic config documents (engine.Store).
type topicStore interface {
	TopicConfigs() (map[string][]byte, error)
	PutTopicConfig(name string, doc []byte) error
	DeleteTopicConfig(name string) error
}

// errTooManyTopics refuses a new topic when the broker holds maxTopicNums.
var errTooManyTopics = errors.New("too many topics")

func newTopicManager(meta topicStore, log *slog.Logger) (*topicManager, error) {
	tm := &topicManager{meta: meta, log: log, onChange: func() {}, topics: map[string]TopicConfig{},
		version: DataVersion{Timestamp: time.Now().UnixMilli()}, changed: map[string]struct{}{}}
	docs, err := meta.TopicConfigs()
	if err != nil {
		return nil, fmt.Errorf("broker: load topics: %w", err)
	}
	for name, doc := range docs {
		var tc TopicConfig
		if err := json.Unmarshal(doc, &tc); err != nil || tc.TopicName != name {
			log.Error("ignoring malformed stored topic config", "topic", name, "err", err)
			continue
		}
		tm.topics[name] = tc
	}
	return tm, nil
}

// ensure creates tc unless a topic of that name exists.
func (tm *topicManager) ensure(tc TopicConfig) error {
	_, _, err := tm.getOrCreate(tc.TopicName, func() (TopicConfig, bool) { return tc, true })
	return err
}

func (tm *topicManager) get(name string) (TopicConfig, bool) {
	tm.mu.RLock()
	defer tm.mu.RUnlock()
	tc, ok := tm.topics[name]
	return tc, ok
}

// getOrCreate returns the topic, creating it with make() when it is absent
// and make says so. created reports a new topic.
func (tm *topicManager) getOrCreate(name string, make func() (TopicConfig, bool)) (tc TopicConfig, created bool, err error) {
	tm.mu.RLock()
	tc, ok := tm.topics[name]
	tm.mu.RUnlock()
	if ok {
		return tc, false, nil
	}
	// make may read other topics (the default topic): call it unlocked.
	tc, ok = make()
	if !ok {
		return TopicConfig{}, false, nil
	}
	tm.mu.Lock()
	if cur, ok := tm.topics[name]; ok {
		tm.mu.Unlock()
		return cur, false, nil
	}
	err = tm.putLocked(tc)
	tm.mu.Unlock()
	if err != nil {
		return TopicConfig{}, false, err
	}
	tm.log.Info("topic created", "topic", name, "queues", tc.WriteQueueNums, "perm", tc.Perm)
	tm.onChange()
	return tc, true, nil
}

// put creates or replaces a topic.
func (tm *topicManager) put(tc TopicConfig) error {
	tm.mu.Lock()
	err := tm.putLocked(tc)
	tm.mu.Unlock()
	if err == nil {
		tm.onChange()
	}
	return err
}

// REQUIRES: tm.mu held for writing.
func (tm *topicManager) putLocked(tc TopicConfig) error {
	if _, ok := tm.topics[tc.TopicName]; !ok && tm.max > 0 && len(tm.topics) >= tm.max {
		return fmt.Errorf("broker: cannot create topic %s: %w: the broker already holds %d topics (maxTopicNums)",
			tc.TopicName, errTooManyTopics, len(tm.topics))
	}
	doc, err := json.Marshal(tc)
	if err != nil {
		return err
	}
	if err := tm.meta.PutTopicConfig(tc.TopicName, doc); err != nil {
		return fmt.Errorf("broker: store topic %s: %w", tc.TopicName, err)
	}
	tm.topics[tc.TopicName] = tc
	tm.changed[tc.TopicName] = struct{}{}
	tm.version.Counter++
	tm.version.Timestamp = time.Now().UnixMilli()
	return nil
}

// remove deletes a topic's config; it reports whether it existed.
func (tm *topicManager) remove(name string) (bool, error) {
	tm.mu.Lock()
	_, ok := tm.topics[name]
	if ok {
		if err := tm.meta.DeleteTopicConfig(name); err != nil {
			tm.mu.Unlock()
			return false, fmt.Errorf("broker: delete topic %s: %w", name, err)
		}
		delete(tm.topics, name)
		delete(tm.changed, name)
		tm.removed = true
		tm.version.Counter++
		tm.version.Timestamp = time.Now().UnixMilli()
	}
	tm.mu.Unlock()
	if ok {
		tm.onChange()
	}
	return ok, nil
}

// snapshot returns a copy of the table and its version.
func (tm *topicManager) snapshot() (map[string]TopicConfig, DataVersion) {
	tm.mu.RLock()
	defer tm.mu.RUnlock()
	return maps.Clone(tm.topics), tm.version
}

// topicDelta is what changed in the topic table since the previous drain.
type topicDelta struct {
	changed []TopicConfig          // created or updated topics
	removed bool                   // some topic was removed: only a whole table says so
	version DataVersion            // the table's version after these changes
	table   map[string]TopicConfig // the whole table, when asked for or removed
}

// drain returns and forgets the changes since the previous drain, with a
// copy of the whole table when withTable or a topic was removed, all as of
// one instant. Its cost is the number of changes unless a table is copied.
func (tm *topicManager) drain(withTable bool) topicDelta {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	d := topicDelta{removed: tm.removed, version: tm.version}
	for name := range tm.changed {
		d.changed = append(d.changed, tm.topics[name])
	}
	clear(tm.changed)
	tm.removed = false
	if withTable || d.removed {
		d.table = maps.Clone(tm.topics)
	}
	return d
}

// topicConfigWrapper is Java's TopicConfigSerializeWrapper.
type topicConfigWrapper = body.TopicConfigWrapper

func (tm *topicManager) wrapperJSON() ([]byte, error) {
	table, v := tm.snapshot()
	return json.Marshal(topicConfigWrapper{TopicConfigTable: table, DataVersion: v})
}
