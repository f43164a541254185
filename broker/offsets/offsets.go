package offsets

import (
	"log/slog"
	"sync"
	"time"

	"github.com/wharfmq/wharf/engine"
)

// Rule for a group that never committed an offset (trap T7): answer 0
// when the queue still starts at 0 and is young.
const (
	// YoungQueueMaxOffset is the default message count under which a
	// queue starting at 0 is young.
	YoungQueueMaxOffset = 1000
	// YoungQueueMaxAge is the default age under which a queue's first
	// message makes it young.
	YoungQueueMaxAge = 10 * time.Minute
)

// Store is the part of engine.Store the service uses.
type Store interface {
	CommitOffset(group, topic string, queueID int32, offset int64) error
	ConsumerOffset(group, topic string, queueID int32) (int64, bool, error)
	StoredConsumerOffset(group, topic string, queueID int32) (int64, bool, error)
	DeleteGroupOffsets(group string) error
	ConsumerOffsets() (map[string]map[engine.QueueRef]int64, error)
	QueueState(topic string, queueID int32) (engine.QueueState, bool)
	EarliestStoreTime(topic string, queueID int32) (int64, bool, error)
	OffsetByTime(topic string, queueID int32, ts int64) (int64, error)
}

// Groups is the subscription-group table a reset consults.
type Groups interface {
	// Known reports whether the group has a subscription group config.
	Known(group string) bool
	// Create creates the group's subscription group config.
	Create(group string) error
}

type key struct {
	group, topic string
	queueID      int32
}

type slot struct {
	mu    sync.Mutex
	last  int64
	known bool
}

// Service commits and answers consumer offsets.
type Service struct {
	store  Store
	groups Groups
	log    *slog.Logger

	youngMaxOffset int64
	youngMaxAge    time.Duration

	// mu guards slots. Each slot remembers the last offset stored for its
	// key, so the pull's commit bit and the 5-second UPDATE_CONSUMER_OFFSET
	// do not fsync an unchanged value.
	mu    sync.Mutex
	slots map[key]*slot
}

// New returns the offset service over store; groups is consulted by Reset.
func New(store Store, groups Groups, log *slog.Logger) *Service {
	return &Service{
		store: store, groups: groups, log: log,
		youngMaxOffset: YoungQueueMaxOffset, youngMaxAge: YoungQueueMaxAge,
		slots: map[key]*slot{},
	}
}

// SetYoungQueue changes the young-queue limits of the start rule (tests
// use it to make a small queue old); call it before serving.
func (s *Service) SetYoungQueue(maxOffset int64, maxAge time.Duration) {
	s.youngMaxOffset, s.youngMaxAge = maxOffset, maxAge
}

func (s *Service) slot(k key) *slot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[k]
	if sl == nil {
		sl = &slot{}
		s.slots[k] = sl
	}
	return sl
}

// Stored reports whether offset is already the stored value of the key,
// so committing it again would not write.
func (s *Service) Stored(group, topic string, queueID int32, offset int64) bool {
	sl := s.slot(key{group, topic, queueID})
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.known && sl.last == offset
}

// Commit durably stores a consumer offset unless it is already the stored
// value.
func (s *Service) Commit(group, topic string, queueID int32, offset int64) error {
	sl := s.slot(key{group, topic, queueID})
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.known && sl.last == offset {
		return nil
	}
	if err := s.store.CommitOffset(group, topic, queueID, offset); err != nil {
		return err
	}
	sl.last, sl.known = offset, true
	return nil
}

// DeleteGroup removes every offset the group committed. A commit racing
// with it may land after it, as in RocketMQ: delete a group whose
// consumers are stopped.
func (s *Service) DeleteGroup(group string) error {
	s.mu.Lock()
	for k := range s.slots {
		if k.group == group {
			delete(s.slots, k)
		}
	}
	s.mu.Unlock()
	return s.store.DeleteGroupOffsets(group)
}

// All returns every stored offset, group -> queue -> offset, as stored:
// not clamped into the queue's range, and negative for "none" (the Go
// client commits -1).
func (s *Service) All() (map[string]map[engine.QueueRef]int64, error) {
	return s.store.ConsumerOffsets()
}

// Merge decides and stores a key's offset in one step, so no commit of the
// key lands between the read and the write: decide gets the stored value
// (ok false when there is none) and returns the value to store, or store
// false to leave it. A slave's metadata sync uses it to merge its master's
// offsets with the commits it took itself.
func (s *Service) Merge(group, topic string, queueID int32, decide func(local int64, ok bool) (next int64, store bool)) error {
	sl := s.slot(key{group, topic, queueID})
	sl.mu.Lock()
	defer sl.mu.Unlock()
	local, ok, err := s.store.StoredConsumerOffset(group, topic, queueID)
	if err != nil {
		return err
	}
	next, store := decide(local, ok)
	if !store || (ok && next == local) {
		return nil
	}
	if err := s.store.CommitOffset(group, topic, queueID, next); err != nil {
		return err
	}
	sl.last, sl.known = next, true
	return nil
}

// Query answers QUERY_CONSUMER_OFFSET: the committed offset if there is
// one, else 0 when the queue is young (see the package doc); found is false
// when neither applies and the client must fall back to its
// consumeFromWhere.
//
// A master clamps the committed offset to its queue's end (it may have
// lost its tail in a crash). A slave passes asStored: its queue may lag
// the master that committed the offset, and a clamped answer would send
// the consumer back, to commit the lower value and consume again.
func (s *Service) Query(group, topic string, queueID int32, asStored bool) (offset int64, found bool, err error) {
	read := s.store.ConsumerOffset
	if asStored {
		read = s.store.StoredConsumerOffset
	}
	off, ok, err := read(group, topic, queueID)
	if err != nil {
		return 0, false, err
	}
	if ok {
		return off, true, nil
	}
	if s.queueIsYoung(topic, queueID) {
		return 0, true, nil
	}
	return 0, false, nil
}

// queueIsYoung: the queue still starts at offset 0 and either holds fewer
// than youngMaxOffset messages or its first message is younger than
// youngMaxAge (a missing queue counts as young).
func (s *Service) queueIsYoung(topic string, queueID int32) bool {
	st, ok := s.store.QueueState(topic, queueID)
	if !ok || st.Max == 0 {
		return true
	}
	if st.Min > 0 {
		return false
	}
	if st.Max < s.youngMaxOffset {
		return true
	}
	first, ok, err := s.store.EarliestStoreTime(topic, queueID)
	return err == nil && ok && time.Since(time.UnixMilli(first)) < s.youngMaxAge
}

// Range returns the first and the next-to-be-written offsets of a queue
// (GET_MIN_OFFSET, GET_MAX_OFFSET); both 0 for an unknown queue.
func (s *Service) Range(topic string, queueID int32) (minOffset, maxOffset int64) {
	st, _ := s.store.QueueState(topic, queueID)
	return st.Min, st.Max
}

// SearchByTime returns the first offset stored at or after ts, the max
// offset when all are older, 0 for an unknown queue
// (SEARCH_OFFSET_BY_TIMESTAMP).
func (s *Service) SearchByTime(topic string, queueID int32, ts int64) (int64, error) {
	return s.store.OffsetByTime(topic, queueID, ts)
}

// EarliestStoreTime returns the store time of a queue's first message, -1
// when the queue holds nothing, as Java answers GET_EARLIEST_MSG_STORETIME.
func (s *Service) EarliestStoreTime(topic string, queueID int32) (int64, error) {
	ts, ok, err := s.store.EarliestStoreTime(topic, queueID)
	if err != nil {
		return 0, err
	}
	if !ok {
		return -1, nil
	}
	return ts, nil
}
