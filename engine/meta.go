package engine

// The queue and metadata methods the broker needs beyond Put, Get and the
// offset commits of query.go.

import "github.com/wharfmq/wharf/engine/queue"

// Queues lists every queue with its offset range.
func (s *Store) Queues() map[QueueRef]QueueState { return s.qdb.Queues() }

// QueueCounts returns each topic's queue count by its highest queue id
// (queue.DB.QueueCounts).
func (s *Store) QueueCounts() map[string]int32 { return s.qdb.QueueCounts() }

// ScanQueue calls fn for the entries of a queue from offset from, in order,
// until fn returns false or to (exclusive) is reached. Offsets with no
// entry (trimmed, or a hole) are passed over.
func (s *Store) ScanQueue(topic string, queueID int32, from, to int64, fn func(offset int64, e QueueEntry) bool) error {
	return s.qdb.Scan(topic, queueID, from, to, fn)
}

// EntryAt returns the entry at offset of a queue; ok is false when there
// is none (trimmed, or past the end).
func (s *Store) EntryAt(topic string, queueID int32, offset int64) (e QueueEntry, ok bool, err error) {
	return s.qdb.EntryAt(topic, queueID, offset)
}

// DeleteTopicQueues drops every consume queue of a deleted topic. Its
// records stay in the CommitLog until retention removes them, and a replay
// of the log does not bring the queues back.
func (s *Store) DeleteTopicQueues(topic string) error { return s.qdb.DeleteQueues(topic) }

// GroupOffsets returns every offset a consumer group committed, as stored
// (not clamped as ConsumerOffset does).
func (s *Store) GroupOffsets(group string) (map[QueueRef]int64, error) {
	all, err := s.qdb.ConsumerOffsets()
	if err != nil {
		return nil, err
	}
	return all[group], nil
}

// DeleteGroupOffsets removes every offset a consumer group committed.
func (s *Store) DeleteGroupOffsets(group string) error { return s.qdb.DeleteGroupOffsets(group) }

// TopicConfigs returns the stored topic config documents by topic name.
func (s *Store) TopicConfigs() (map[string][]byte, error) { return s.qdb.Topics() }

// CheckName returns an error (queue.ErrBadName) when the store cannot hold
// name as a topic or group name (empty, or holding 0x00):
// callers that take names from elsewhere, as a slave's metadata sync does,
// can skip such a name rather than fail on it.
func CheckName(name string) error { return queue.CheckName(name) }

// PutTopicConfig durably stores a topic's config document.
func (s *Store) PutTopicConfig(name string, doc []byte) error { return s.qdb.PutTopic(name, doc) }

// DeleteTopicConfig removes a topic's config document.
func (s *Store) DeleteTopicConfig(name string) error { return s.qdb.DeleteTopic(name) }

// GroupConfigs returns the stored subscription group documents by name.
func (s *Store) GroupConfigs() (map[string][]byte, error) { return s.qdb.Groups() }

// PutGroupConfig durably stores a subscription group's document.
func (s *Store) PutGroupConfig(name string, doc []byte) error { return s.qdb.PutGroup(name, doc) }

// DeleteGroupConfig removes a subscription group's document.
func (s *Store) DeleteGroupConfig(name string) error { return s.qdb.DeleteGroup(name) }

// ConsumerOffsets returns every committed offset of every group, as stored
// (not clamped as ConsumerOffset does; a negative value means none).
func (s *Store) ConsumerOffsets() (map[string]map[QueueRef]int64, error) {
	return s.qdb.ConsumerOffsets()
}

// StoredConsumerOffset returns a group's committed offset as stored, not
// clamped into the queue's range: a slave whose queue lags its master's
// still holds the offset the master sent. ok is false when there is none.
func (s *Store) StoredConsumerOffset(group, topic string, queueID int32) (int64, bool, error) {
	return s.qdb.ConsumerOffset(group, topic, queueID)
}
