package slavesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting/body"
)

// Defaults of Options.
const (
	// DefaultInterval is the time between two rounds (RocketMQ: 10 s).
	DefaultInterval = 3 * time.Second
	// DefaultTimeout bounds each request, as RocketMQ's 3 s.
	DefaultTimeout = 3 * time.Second
)

// StateGroupPrefix starts the reserved consumer groups under which a slave
// remembers its master's offsets (see the package doc); clients may not use
// a group under meta.ReservedGroupPrefix.
const StateGroupPrefix = meta.ReservedGroupPrefix + "sync:"

// Reserved reports whether group is internal to Wharf and is not sent in
// GET_ALL_CONSUMER_OFFSET: the slave's merge state, the scheduler's
// progress (GET_ALL_DELAY_OFFSET carries it) and the transaction checker's.
// The checker's progress is not a consumer's: merged as one (never moved
// back) it could pass halves a promoted slave never checked; without it a
// promoted slave checks its halves from the start (checks are idempotent).
func Reserved(group string) bool {
	return strings.HasPrefix(group, StateGroupPrefix) || group == schedule.OffsetGroup || group == transaction.OffsetGroup
}

// Table names one of the four tables a round pulls.
type Table int

// The tables, in the order a round applies them.
const (
	TopicConfigs       Table = iota // GET_ALL_TOPIC_CONFIG (21)
	SubscriptionGroups              // GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201)
	ConsumerOffsets                 // GET_ALL_CONSUMER_OFFSET (43)
	DelayOffsets                    // GET_ALL_DELAY_OFFSET (45)
	numTables
)

func (t Table) String() string {
	switch t {
	case TopicConfigs:
		return "topic configs"
	case SubscriptionGroups:
		return "subscription groups"
	case ConsumerOffsets:
		return "consumer offsets"
	case DelayOffsets:
		return "delay offsets"
	}
	return fmt.Sprintf("table %d", int(t))
}

// ErrEmpty is returned by a Fetcher when the master answered that it has
// no such table (Java: SYSTEM_ERROR "No ... in this broker").
var ErrEmpty = errors.New("slavesync: the master has no such table")

// ErrNoMaster is returned by SyncOnce while the master's address is not
// known.
var ErrNoMaster = errors.New("slavesync: master address not known")

// Fetcher asks the master at addr for a table's body (package broker
// implements it with its remoting client).
type Fetcher interface {
	Fetch(ctx context.Context, addr string, t Table) ([]byte, error)
}

// Topics is the slave's topic table (meta.Topics).
type Topics interface {
	Snapshot() (map[string]body.TopicConfig, body.DataVersion)
	Replace(table map[string]body.TopicConfig, v body.DataVersion) (bool, error)
}

// Groups is the slave's subscription group table (meta.Groups).
type Groups interface {
	Snapshot() (map[string]body.SubscriptionGroupConfig, body.DataVersion)
	Replace(table map[string]body.SubscriptionGroupConfig, v body.DataVersion) (bool, error)
}

// Offsets is the slave's consumer offsets (offsets.Service).
type Offsets interface {
	// All returns every stored offset, negative meaning none.
	All() (map[string]map[engine.QueueRef]int64, error)
	// Merge reads the stored value and stores what decide returns, with
	// no commit of the key in between.
	Merge(group, topic string, queueID int32, decide func(local int64, ok bool) (int64, bool)) error
}

// Delay is the slave's delay progress (schedule.Service).
type Delay interface {
	SetProgress(levels map[int32]int64) (int, error)
}

// Options configures a Syncer. MasterAddr, Fetcher and the four stores are
// required.
type Options struct {
	// MasterAddr returns the master's listen address "ip:port", or ""
	// while it is not known (the round is skipped).
	MasterAddr func() string
	// Interval between rounds; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout of each request; 0 means DefaultTimeout.
	Timeout time.Duration
	Fetcher Fetcher
	Topics  Topics
	Groups  Groups
	Offsets Offsets
	Delay   Delay
	// Forget, if set, removes what the slave holds of a topic the master's
	// table no longer has (its queues and offsets), as the master's delete
	// did: called after the table is applied, once per dropped topic.
	Forget func(topic string) error
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Syncer runs SlaveSynchronize rounds: once per SyncOnce, and every
// Interval between Start and Close on a goroutine it owns.
type Syncer struct {
	opts Options
	log  *slog.Logger

	// round serialises rounds (the loop and SyncOnce) and guards state.
	round struct {
		sync.Mutex
		state string // the last round's outcome, "" when good, for logging changes
	}

	startOnce sync.Once
	stopOnce  sync.Once
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop returns; nil if never started
}

// New returns a Syncer that does nothing until Start or SyncOnce.
func New(opts Options) *Syncer {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Syncer{opts: opts, log: opts.Logger.With("component", "slavesync")}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.round.state = "not run"
	return s
}

// Start runs a round at once, then one every Interval, until Close. A
// second Start, or a Start after Close, does nothing.
func (s *Syncer) Start() {
	s.startOnce.Do(func() {
		if s.ctx.Err() != nil {
			return
		}
		s.done = make(chan struct{})
		go s.loop()
	})
}

// Close stops the loop, cancelling a round in flight, and waits for it.
func (s *Syncer) Close() {
	s.stopOnce.Do(s.cancel)
	// No Start can begin after this: Start checks ctx inside startOnce.
	s.startOnce.Do(func() {})
	if s.done != nil {
		<-s.done
	}
}

func (s *Syncer) loop() {
	defer close(s.done)
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		_ = s.SyncOnce(s.ctx) // logged by SyncOnce
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SyncOnce runs one round: it fetches the four tables from the master and,
// only if all arrived and decoded, applies them. It logs when its outcome
// differs from the previous round's and returns the round's error.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	s.round.Lock()
	defer s.round.Unlock()
	addr := s.opts.MasterAddr()
	err := ErrNoMaster
	var st stats
	if addr != "" {
		st, err = s.syncFrom(ctx, addr)
	}
	state := ""
	if err != nil {
		state = err.Error()
	}
	if state != s.round.state {
		if err != nil {
			s.log.Warn("metadata sync from the master failing; local metadata left as it was", "master", addr, "err", err)
		} else {
			s.log.Info("metadata sync from the master working", "master", addr)
		}
		s.round.state = state
	}
	if st.any() {
		s.log.Info("metadata synced from the master", "master", addr, "topics", st.topics, "groups", st.groups,
			"offsets", st.offsets, "delayLevels", st.delay)
	}
	return err
}

// stats counts what a round changed.
type stats struct {
	topics, groups bool
	offsets, delay int
}

func (st stats) any() bool { return st.topics || st.groups || st.offsets > 0 || st.delay > 0 }

// fetched is the decoded content of a round; a nil table means the master
// has none (ErrEmpty).
type fetched struct {
	topics  *body.TopicConfigWrapper
	groups  *body.SubscriptionGroupWrapper
	offsets body.ConsumerOffsetTable
	delay   map[int32]int64
}

func (s *Syncer) syncFrom(ctx context.Context, addr string) (stats, error) {
	f, err := s.fetchAll(ctx, addr)
	if err != nil {
		return stats{}, err
	}
	var st stats
	if f.topics != nil {
		if before, v := s.opts.Topics.Snapshot(); v != f.topics.DataVersion {
			if st.topics, err = s.opts.Topics.Replace(s.acceptTopics(f.topics.TopicConfigTable), f.topics.DataVersion); err != nil {
				return st, fmt.Errorf("slavesync: apply topic configs: %w", err)
			}
			if err := s.forgetDropped(before); err != nil {
				return st, err
			}
		}
	}
	if f.groups != nil {
		if _, v := s.opts.Groups.Snapshot(); v != f.groups.DataVersion {
			if st.groups, err = s.opts.Groups.Replace(s.acceptGroups(f.groups.SubscriptionGroupTable), f.groups.DataVersion); err != nil {
				return st, fmt.Errorf("slavesync: apply subscription groups: %w", err)
			}
		}
	}
	if st.offsets, err = s.mergeOffsets(f.offsets); err != nil {
		return st, fmt.Errorf("slavesync: apply consumer offsets: %w", err)
	}
	if f.delay != nil {
		if st.delay, err = s.opts.Delay.SetProgress(f.delay); err != nil {
			return st, fmt.Errorf("slavesync: apply delay offsets: %w", err)
		}
	}
	return st, nil
}

// forgetDropped calls Forget for each topic of before that the table no
// longer has. A deleted topic's queues otherwise stayed on the slave, and
// its messages were served again once a topic of that name was created.
func (s *Syncer) forgetDropped(before map[string]body.TopicConfig) error {
	if s.opts.Forget == nil {
		return nil
	}
	after, _ := s.opts.Topics.Snapshot()
	for name := range before {
		if _, ok := after[name]; ok {
			continue
		}
		if err := s.opts.Forget(name); err != nil {
			return fmt.Errorf("slavesync: remove the queues of deleted topic %s: %w", name, err)
		}
		s.log.Info("topic deleted on the master: its queues and offsets removed here", "topic", name)
	}
	return nil
}

// acceptTopics returns the master's topic table without the topics whose
// name the slave's store cannot hold (engine.CheckName) or whose queue
// numbers this broker refuses (body.MaxQueueNums), each named in a
// warning: one bad entry must not fail the table's Replace, and with it
// every later table of every round, nor make the slave's per-queue loops
// run for ever; the other topics still replicate. The table is applied
// only when the master's version changes, so the warning is not repeated
// every round.
func (s *Syncer) acceptTopics(table map[string]body.TopicConfig) map[string]body.TopicConfig {
	return accept(s, "topic", table, func(name string, tc body.TopicConfig) error {
		if err := engine.CheckName(name); err != nil {
			return err
		}
		return tc.CheckQueueNums()
	})
}

// acceptGroups returns the master's subscription group table without the
// groups whose name the slave's store cannot hold, as acceptTopics does:
// Replace failed on such a name, so consumer and delay offsets, applied
// after the groups, never synced again.
func (s *Syncer) acceptGroups(table map[string]body.SubscriptionGroupConfig) map[string]body.SubscriptionGroupConfig {
	return accept(s, "group", table, func(name string, _ body.SubscriptionGroupConfig) error {
		return engine.CheckName(name)
	})
}

// accept returns table without the entries check refuses, each named in
// a warning; table itself when it keeps them all.
func accept[V any](s *Syncer, kind string, table map[string]V, check func(name string, v V) error) map[string]V {
	var out map[string]V
	for name, v := range table {
		err := check(name, v)
		if err == nil {
			continue
		}
		s.log.Warn("master's "+kind+" config refused; the slave does not take this "+kind, kind, name, "err", err)
		if out == nil {
			out = maps.Clone(table)
		}
		delete(out, name)
	}
	if out == nil {
		return table
	}
	return out
}

// fetchAll fetches and decodes the four tables, or fails.
func (s *Syncer) fetchAll(ctx context.Context, addr string) (fetched, error) {
	var f fetched
	for t := range numTables {
		b, err := s.fetch(ctx, addr, t)
		if errors.Is(err, ErrEmpty) {
			continue
		}
		if err != nil {
			return f, fmt.Errorf("slavesync: fetch %s from %s: %w", t, addr, err)
		}
		switch t {
		case TopicConfigs:
			f.topics = new(body.TopicConfigWrapper)
			err = decodeJSON(b, f.topics)
		case SubscriptionGroups:
			f.groups = new(body.SubscriptionGroupWrapper)
			err = decodeJSON(b, f.groups)
		case ConsumerOffsets:
			f.offsets, err = body.DecodeConsumerOffsets(b)
		case DelayOffsets:
			f.delay, err = body.DecodeDelayOffsets(b)
		}
		if err != nil {
			return f, fmt.Errorf("slavesync: decode %s from %s: %w", t, addr, err)
		}
	}
	return f, nil
}

func (s *Syncer) fetch(ctx context.Context, addr string, t Table) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	return s.opts.Fetcher.Fetch(ctx, addr, t)
}
