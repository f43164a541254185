// Package schedule delivers delayed messages (RocketMQ's
// ScheduleMessageService). A message sent with DELAY=n is stored in the
// schedule topic (systopic.Schedule), queue n-1, with its real topic and
// queue in REAL_TOPIC/REAL_QID (Service.Route); one goroutine per level
// writes it to its real topic when it is due, and keeps its progress as a
// consumer offset of OffsetGroup. The delay-level table and the due time of
// an entry are engine's (engine.ParseDelayLevels, engine.DeliverTime).
//
// The service holds no locks: each level's state belongs to its goroutine.
package schedule

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/loglimit"
	"github.com/wharfmq/wharf/systopic"
)

// OffsetGroup is the reserved consumer group under which the
// scheduler stores, per level, the offset of the next delayed message to
// deliver (Java keeps these in config/delayOffset.json). Clients may not use
// a group under meta.ReservedGroupPrefix.
const OffsetGroup = meta.ReservedGroupPrefix + "schedule"

// delayTopic is the topic of the delay queues, one queue per level.
const delayTopic = systopic.Schedule

// Store is what the service needs of the engine (engine.Store).
type Store interface {
	ConsumerOffset(group, topic string, queueID int32) (int64, bool, error)
	StoredConsumerOffset(group, topic string, queueID int32) (int64, bool, error)
	CommitOffset(group, topic string, queueID int32, offset int64) error
	QueueState(topic string, queueID int32) (engine.QueueState, bool)
	ScanQueue(topic string, queueID int32, from, to int64, fn func(offset int64, e engine.QueueEntry) bool) error
	MinPhysOffset() int64
	ReadRecord(phys int64) ([]byte, error)
	Put(m *msg.Message) (engine.PutResult, error)
	WaitDurable(end int64) error
}

// Scheduler tuning.
const (
	// scheduleBatch is the number of consume-queue entries read at once.
	scheduleBatch = 64
	// scheduleRounds bounds the batches delivered before the level's loop
	// looks at quit again.
	scheduleRounds = 16
	// scheduleRetry is the pause after a failed delivery or offset load.
	scheduleRetry = time.Second
)

// Service delivers delayed messages (RocketMQ's ScheduleMessageService).
// A message sent with DELAY=n is stored in the schedule topic, queue n-1, with
// its real topic and queue in REAL_TOPIC/REAL_QID; its delivery time is its
// store time plus the level's delay (engine.DeliverTime, which is also the
// entry's consume-queue tags code, as in RocketMQ). One owned
// goroutine per level reads its queue in order from a durable offset: when
// the head is due it writes a copy to the real topic, otherwise it sleeps on
// a timer until the head's delivery time or until the dispatcher reports a
// new entry for the level (notify).
type Service struct {
	store     Store // set by SetStore after the store opens
	log       *slog.Logger
	keptBack  loglimit.Limit // "offset kept back": each batch while a slave is away
	levels    []time.Duration
	storeHost netip.AddrPort

	kicks []chan struct{} // per level; capacity 1

	// run serializes Start, Stop and Close. quit is replaced by Start
	// only while no level goroutine runs (Stop waits for them), so the
	// goroutines read it without a lock.
	run     sync.Mutex
	running bool
	closed  bool
	quit    chan struct{}
	wg      sync.WaitGroup
}

// New returns a service for the delay levels levels; storeHost is the
// store host of the delivered copies. It needs its store (SetStore) before
// Start; Notify may be called before.
func New(levels []time.Duration, storeHost netip.AddrPort, log *slog.Logger) *Service {
	s := &Service{log: log.With("component", "schedule"), levels: levels, storeHost: storeHost,
		kicks: make([]chan struct{}, len(levels))}
	for i := range s.kicks {
		s.kicks[i] = make(chan struct{}, 1)
	}
	return s
}

// SetStore sets the store, which opens after the service exists: the
// store's dispatcher calls Notify during its open.
func (s *Service) SetStore(st Store) { s.store = st }

// QueueNums is the number of schedule-topic queues: one per level.
func (s *Service) QueueNums() int32 { return int32(len(s.levels)) }

// Notify wakes the level whose queue just got entries. It runs on the
// dispatcher goroutine, also during the store's open: it never blocks.
func (s *Service) Notify(topic string, queueID int32) {
	if topic != delayTopic || queueID < 0 || int(queueID) >= len(s.kicks) {
		return
	}
	select {
	case s.kicks[queueID] <- struct{}{}:
	default:
	}
}

// Route diverts a message carrying DELAY > 0 to its level's queue of
// topic (Java CommitLog.asyncPutMessage): levels past the last are
// clamped to it, DELAY <= 0 means no delay. The real topic and queue go
// into REAL_TOPIC and REAL_QID, replacing any earlier values.
func (s *Service) Route(m *msg.Message) error {
	v, ok := msg.Property(m.Properties, msg.PropDelay)
	if !ok {
		return nil
	}
	level, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
	if err != nil {
		return fmt.Errorf("property DELAY=%q is not a delay level", v)
	}
	if level <= 0 {
		return nil
	}
	level = min(level, int64(len(s.levels)))
	props := msg.RemoveProperty(msg.RemoveProperty(m.Properties, msg.PropRealTopic), msg.PropRealQueue)
	props = msg.AppendProperty(props, msg.PropRealTopic, m.Topic)
	m.Properties = msg.AppendProperty(props, msg.PropRealQueue, strconv.Itoa(int(m.QueueID)))
	m.Topic, m.QueueID = delayTopic, int32(level-1)
	return nil
}

// Start launches one goroutine per level. It does nothing while they run
// or after Close; after Stop it starts them again, each from its stored
// offset (a broker that becomes master again).
func (s *Service) Start() {
	s.run.Lock()
	defer s.run.Unlock()
	if s.running || s.closed {
		return
	}
	s.running = true
	s.quit = make(chan struct{})
	for q := range s.QueueNums() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runLevel(q)
		}()
	}
}

// Stop ends the level goroutines and waits for them; a delivery under way
// completes first. Start may run them again (a master that becomes a
// slave stops delivering: its new master delivers).
func (s *Service) Stop() {
	s.run.Lock()
	defer s.run.Unlock()
	if !s.running {
		return
	}
	close(s.quit)
	s.wg.Wait()
	s.running = false
}

// Close stops the service for good. The store must still be open.
func (s *Service) Close() {
	s.Stop()
	s.run.Lock()
	s.closed = true
	s.run.Unlock()
}

// sleep waits d or until stop; it reports false on stop.
func (s *Service) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.quit:
		return false
	case <-t.C:
		return true
	}
}

// runLevel delivers the messages of one level, in queue order.
func (s *Service) runLevel(q int32) {
	off, err := s.loadOffset(q)
	for err != nil {
		s.log.Error("cannot read the delay offset; retrying", "level", q+1, "err", err)
		if !s.sleep(scheduleRetry) {
			return
		}
		off, err = s.loadOffset(q)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var entries []scheduleEntry
	for {
		wait := s.deliverDue(q, &off, &entries)
		kick := s.kicks[q]
		if wait >= 0 {
			timer.Reset(wait)
			// The head is pending: entries added behind it are due
			// later, so a new-entry kick cannot change the wait.
			if wait > 0 {
				kick = nil
			}
		}
		select {
		case <-s.quit:
			return
		case <-kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// loadOffset returns where level q resumes: the stored offset clamped into
// the queue's range, or the queue's start.
func (s *Service) loadOffset(q int32) (int64, error) {
	off, ok, err := s.store.ConsumerOffset(OffsetGroup, delayTopic, q)
	if err != nil {
		return 0, err
	}
	st, _ := s.store.QueueState(delayTopic, q)
	if !ok || off < st.Min {
		off = st.Min
	}
	if st.Max > off {
		s.log.Info("delayed messages pending", "level", q+1, "delay", s.levels[q], "from", off, "count", st.Max-off)
	}
	return off, nil
}

type scheduleEntry struct {
	off int64
	e   engine.QueueEntry
}

// deliverDue delivers the due messages at the head of level q, advancing
// *off and storing it durably after each batch. It returns how long to wait
// for the next head (0: more to do at once), or -1 when the queue is
// drained.
func (s *Service) deliverDue(q int32, off *int64, buf *[]scheduleEntry) time.Duration {
	delayMs := s.levels[q].Milliseconds()
	lastEnd := int64(-1) // CommitLog end of the last delivered record
	stored := *off
	persist := func() {
		if *off != stored {
			s.persist(q, *off, lastEnd)
			stored = *off
		}
	}
	defer persist()
	for range scheduleRounds {
		persist()
		select {
		case <-s.quit:
			return -1
		default:
		}
		st, ok := s.store.QueueState(delayTopic, q)
		if !ok || *off >= st.Max {
			return -1
		}
		if *off < st.Min {
			s.log.Warn("delayed messages removed by retention before delivery", "level", q+1, "lost", st.Min-*off)
			*off = st.Min
		}
		to := min(*off+scheduleBatch, st.Max)
		entries := (*buf)[:0]
		err := s.store.ScanQueue(delayTopic, q, *off, to, func(o int64, e engine.QueueEntry) bool {
			entries = append(entries, scheduleEntry{o, e})
			return true
		})
		*buf = entries
		if err != nil {
			s.log.Error("reading the delay queue failed", "level", q+1, "offset", *off, "err", err)
			return scheduleRetry
		}
		if len(entries) == 0 {
			s.log.Warn("hole in the delay queue skipped", "level", q+1, "from", *off, "to", to)
			*off = to
			continue
		}
		now := time.Now().UnixMilli()
		for _, se := range entries {
			// From the entry's store time and the level, not its tags
			// code: the due time then holds whatever level table the
			// queues were last rebuilt with (a replay run without the
			// broker's table).
			due, _ := engine.DeliverTime(s.levels, q, se.e.StoreTime)
			if due > now+delayMs {
				// Later than any message of this level can be due (the
				// clock went back): deliver now, as Java's
				// correctDeliverTimestamp does.
				due = now
			}
			if due > now {
				return time.Duration(due-now) * time.Millisecond
			}
			end, err := s.deliver(q, se)
			if err != nil {
				s.log.Error("delivering a delayed message failed; retrying", "level", q+1, "offset", se.off, "err", err)
				return scheduleRetry
			}
			lastEnd = max(lastEnd, end)
			*off = se.off + 1
		}
	}
	return 0
}

// deliver writes the delayed message of entry se to its real topic and
// queue. It returns the CommitLog end of the new record (-1 when the entry
// was skipped). An error means "try again later"; entries that can never be
// delivered are logged and skipped.
func (s *Service) deliver(q int32, se scheduleEntry) (int64, error) {
	if se.e.Phys < s.store.MinPhysOffset() {
		s.log.Warn("delayed message removed by retention before delivery", "level", q+1, "offset", se.off)
		return -1, nil
	}
	rec, err := s.store.ReadRecord(se.e.Phys)
	if errors.Is(err, engine.ErrCorruption) {
		s.log.Error("delayed message unreadable; skipped", "level", q+1, "offset", se.off, "err", err)
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	r, err := msg.Decode(rec)
	if err != nil {
		s.log.Error("delayed message undecodable; skipped", "level", q+1, "offset", se.off, "err", err)
		return -1, nil
	}
	topic, _ := r.Property(msg.PropRealTopic)
	qidStr, _ := r.Property(msg.PropRealQueue)
	qid, qerr := strconv.ParseInt(qidStr, 10, 32)
	if topic == "" || qerr != nil || qid < 0 {
		s.log.Error("delayed message without a valid REAL_TOPIC/REAL_QID; skipped", "level", q+1, "offset", se.off,
			"realTopic", topic, "realQueue", qidStr)
		return -1, nil
	}
	props, sysFlag := msg.CopyOf(&r)
	m := msg.Message{
		Topic: topic, QueueID: int32(qid), Flag: r.Flag, Body: r.Body,
		Properties: msg.RemoveProperty(props, msg.PropDelay), SysFlag: sysFlag,
		BornTimestamp: r.BornTimestamp, BornHost: r.BornHost, StoreHost: s.storeHost,
		ReconsumeTimes: r.ReconsumeTimes, PreparedTransactionOffset: r.PreparedTransactionOffset,
	}
	res, err := s.store.Put(&m)
	if errors.Is(err, engine.ErrIllegal) || errors.Is(err, engine.ErrMessageTooLarge) {
		s.log.Error("delayed message refused by the store; skipped", "level", q+1, "offset", se.off, "topic", topic, "err", err)
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	return res.Phys + int64(m.EncodedSize()), nil
}

// persist stores level q's offset once the records delivered before it are
// durable, so a crash can repeat a delivery but never lose one.
func (s *Service) persist(q int32, off, lastEnd int64) {
	if lastEnd > 0 {
		if err := s.store.WaitDurable(lastEnd); err != nil {
			s.keptBack.Warn(s.log, 10*time.Second, "delivered delayed messages not durable (or not on a slave under SYNC_MASTER); offset kept back",
				"level", q+1, "err", err)
			return
		}
	}
	if err := s.store.CommitOffset(OffsetGroup, delayTopic, q, off); err != nil {
		s.log.Error("storing the delay offset failed", "level", q+1, "offset", off, "err", err)
	}
}

// Progress returns, per delay level (from 1, as Java numbers them), the
// stored offset of the level's next message to deliver; levels that never
// stored one are absent. It is the master's GET_ALL_DELAY_OFFSET table.
// A running level's offset is stored after each delivered batch, so this
// trails the goroutines by at most one batch.
func (s *Service) Progress() (map[int32]int64, error) {
	out := map[int32]int64{}
	for q := range s.QueueNums() {
		off, ok, err := s.store.StoredConsumerOffset(OffsetGroup, delayTopic, q)
		if err != nil {
			return nil, fmt.Errorf("schedule: level %d offset: %w", q+1, err)
		}
		if ok {
			out[q+1] = off
		}
	}
	return out, nil
}

// SetProgress durably stores the master's progress on a slave, which
// delivers nothing itself (its levels must not run): a level this broker
// does not have is ignored, and a level the table lacks keeps its value.
// It reports the number of levels whose stored offset changed.
func (s *Service) SetProgress(levels map[int32]int64) (int, error) {
	n := 0
	for level, off := range levels {
		q := level - 1
		if q < 0 || q >= s.QueueNums() || off < 0 {
			continue
		}
		cur, ok, err := s.store.StoredConsumerOffset(OffsetGroup, delayTopic, q)
		if err != nil {
			return n, fmt.Errorf("schedule: level %d offset: %w", level, err)
		}
		if ok && cur == off {
			continue
		}
		if err := s.store.CommitOffset(OffsetGroup, delayTopic, q, off); err != nil {
			return n, fmt.Errorf("schedule: store level %d offset: %w", level, err)
		}
		n++
	}
	return n, nil
}
