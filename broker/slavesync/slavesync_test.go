package slavesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/offsets"
	"github.com/wharfmq/wharf/broker/schedule"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting/body"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDecide is the merge rule of the package doc, case by case.
func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name           string
		master, last   int64
		lastOK         bool
		local          int64
		localOK        bool
		want           int64
		wantStore      bool
		why            string
		masterAdvances bool
	}{
		{"no local offset", 5, 0, false, 0, false, 5, true, "nothing to protect", false},
		{"no local offset, state remembered", 5, 3, true, 0, false, 5, true, "nothing to protect", false},
		{"first sync, master ahead", 9, 0, false, 4, true, 9, true, "max(local, master)", false},
		{"first sync, slave ahead", 4, 0, false, 9, true, 9, false, "max(local, master): keep the slave's", false},
		{"first sync, equal", 4, 0, false, 4, true, 4, false, "nothing to write", false},
		{"master unchanged, slave committed ahead", 5, 5, true, 8, true, 8, false, "#1094: the returning master's stale value", false},
		{"master unchanged, slave committed back", 5, 5, true, 2, true, 2, false, "the master did not move", false},
		{"master unchanged, nothing new", 5, 5, true, 5, true, 5, false, "in step", false},
		{"master moved forward past the slave", 12, 5, true, 8, true, 12, true, "newer commit on the master", false},
		{"master moved forward, slave in step", 7, 5, true, 5, true, 7, true, "normal replication", false},
		{"master moved to the slave's value", 8, 5, true, 8, true, 8, true, "equal: stored value unchanged", false},
		{"master reset back, slave in step", 1, 5, true, 5, true, 1, true, "an explicit reset on the master", false},
		{"master moved but stays below the slave's commits", 6, 5, true, 8, true, 8, false, "consumer resumed on the stale master", false},
		{"master reset back, slave committed ahead", 0, 5, true, 8, true, 8, false, "the slave's commits win until the master passes them", false},
	} {
		got, store := Decide(c.master, c.last, c.lastOK, c.local, c.localOK)
		if got != c.want || store != c.wantStore {
			t.Errorf("%s (%s): Decide(master %d, last %d/%v, local %d/%v) = %d, %v; want %d, %v",
				c.name, c.why, c.master, c.last, c.lastOK, c.local, c.localOK, got, store, c.want, c.wantStore)
		}
	}
}

// slave is a broker's metadata stores over one directory, wired as the
// broker wires them.
type slave struct {
	st     *engine.Store
	topics *meta.Topics
	groups *meta.Groups
	offs   *offsets.Service
	sched  *schedule.Service
}

var levels = []time.Duration{time.Second, 5 * time.Second, 10 * time.Second}

const builtin = "SYS_BUILTIN"

func openSlave(t *testing.T, dir string) *slave {
	t.Helper()
	log := testkit.Logger(t)
	s := &slave{sched: schedule.New(levels, testkit.StoreHost, log)}
	s.st = testkit.OpenStore(t, func(o *engine.Options) { o.Dir, o.DelayLevels = dir, levels })
	s.sched.SetStore(s.st)
	var err error
	if s.topics, err = meta.OpenTopics(s.st, meta.TopicsOptions{Builtins: []body.TopicConfig{meta.NewTopicConfig(builtin, 1, 6)}}, log); err != nil {
		t.Fatal(err)
	}
	if s.groups, err = meta.OpenGroups(s.st, log); err != nil {
		t.Fatal(err)
	}
	s.offs = offsets.New(s.st, nil, log)
	return s
}

func (s *slave) syncer(t *testing.T, f Fetcher) *Syncer {
	return New(Options{MasterAddr: func() string { return "master:10911" }, Fetcher: f,
		Topics: s.topics, Groups: s.groups, Offsets: s.offs, Delay: s.sched, Logger: testkit.Logger(t)})
}

// view is everything a sync may change, for comparisons.
type view struct {
	Topics   map[string]body.TopicConfig
	TopicsV  body.DataVersion
	Groups   map[string]body.SubscriptionGroupConfig
	GroupsV  body.DataVersion
	Offsets  map[string]map[engine.QueueRef]int64
	Progress map[int32]int64
}

func (s *slave) view(t *testing.T) view {
	t.Helper()
	var v view
	v.Topics, v.TopicsV = s.topics.Snapshot()
	v.Groups, v.GroupsV = s.groups.Snapshot()
	var err error
	if v.Offsets, err = s.offs.All(); err != nil {
		t.Fatal(err)
	}
	if v.Progress, err = s.sched.Progress(); err != nil {
		t.Fatal(err)
	}
	return v
}

func (s *slave) offset(t *testing.T, group, topic string, q int32) int64 {
	t.Helper()
	off, ok, err := s.st.StoredConsumerOffset(group, topic, q)
	if err != nil || !ok {
		t.Fatalf("offset %s %s/%d: %d %v %v", group, topic, q, off, ok, err)
	}
	return off
}

// fakeMaster answers Fetch from bodies it builds from its tables, or
// with the error set for a table.
type fakeMaster struct {
	mu      sync.Mutex
	topics  body.TopicConfigWrapper
	groups  body.SubscriptionGroupWrapper
	offsets body.ConsumerOffsetTable
	delay   map[int32]int64
	errs    map[Table]error
	raw     map[Table][]byte // a body sent as it is
	calls   atomic.Int64
}

func newFakeMaster() *fakeMaster {
	tc := meta.NewTopicConfig("TopicA", 2, 6)
	gc := meta.NewGroupConfig("G1")
	return &fakeMaster{
		topics: body.TopicConfigWrapper{TopicConfigTable: map[string]body.TopicConfig{"TopicA": tc, builtin: meta.NewTopicConfig(builtin, 4, 6)},
			DataVersion: body.DataVersion{Counter: 1, Timestamp: 1000}},
		groups:  body.SubscriptionGroupWrapper{SubscriptionGroupTable: map[string]body.SubscriptionGroupConfig{"G1": gc}, DataVersion: body.DataVersion{Counter: 1, Timestamp: 1000}},
		offsets: body.ConsumerOffsetTable{{Topic: "TopicA", Group: "G1"}: {0: 5, 1: 7}},
		delay:   map[int32]int64{1: 3, 3: 2},
		errs:    map[Table]error{}, raw: map[Table][]byte{},
	}
}

func (m *fakeMaster) Fetch(ctx context.Context, addr string, t Table) ([]byte, error) {
	m.calls.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.errs[t]; err != nil {
		return nil, err
	}
	if b, ok := m.raw[t]; ok {
		return b, nil
	}
	switch t {
	case TopicConfigs:
		return mustJSON(m.topics), nil
	case SubscriptionGroups:
		return mustJSON(m.groups), nil
	case ConsumerOffsets:
		return body.AppendConsumerOffsets(nil, m.offsets), nil
	case DelayOffsets:
		return body.AppendDelayOffsets(nil, m.delay), nil
	}
	return nil, fmt.Errorf("table %d", t)
}

func (m *fakeMaster) setOffset(topic, group string, q int32, off int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offsets[body.ConsumerOffsetKey{Topic: topic, Group: group}][q] = off
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestSyncAppliesDurably: one round replaces the topic table (keeping the
// slave's built-in topic) and the group table, applies offsets and delay
// progress; all of it is still there after the store reopens, and so is
// the merge state: a commit taken on the slave survives a master that
// returns with its old offsets, across the restart.
func TestSyncAppliesDurably(t *testing.T) {
	dir := t.TempDir()
	s := openSlave(t, dir)
	if err := s.topics.Put(meta.NewTopicConfig("LocalOnly", 1, 6)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.groups.GetOrCreate("LocalGroup", true); err != nil {
		t.Fatal(err)
	}
	if err := s.offs.Commit("LocalGroup", "TopicA", 0, 4); err != nil {
		t.Fatal(err)
	}
	m := newFakeMaster()
	sy := s.syncer(t, m)
	if err := sy.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The data versions live in memory (a restarted slave replaces its
	// tables once more, writing only what differs), so only the first
	// check compares them.
	check := func(s *slave, when string, versions bool) {
		t.Helper()
		v := s.view(t)
		if !versions {
			v.TopicsV, v.GroupsV = m.topics.DataVersion, m.groups.DataVersion
		}
		if v.GroupsV != m.groups.DataVersion {
			t.Errorf("%s: group version %v, want %v", when, v.GroupsV, m.groups.DataVersion)
		}
		if len(v.Topics) != 2 || v.Topics["TopicA"] != m.topics.TopicConfigTable["TopicA"] || v.Topics[builtin].WriteQueueNums != 4 || v.TopicsV != m.topics.DataVersion {
			t.Errorf("%s: topics %v version %v, want TopicA and the master's %s (LocalOnly removed), version %v", when, v.Topics, v.TopicsV, builtin, m.topics.DataVersion)
		}
		if !reflect.DeepEqual(v.Groups, m.groups.SubscriptionGroupTable) {
			t.Errorf("%s: groups %v, want %v", when, v.Groups, m.groups.SubscriptionGroupTable)
		}
		want := map[engine.QueueRef]int64{{Topic: "TopicA", QueueID: 0}: 5, {Topic: "TopicA", QueueID: 1}: 7}
		if !maps.Equal(v.Offsets["G1"], want) || !maps.Equal(v.Offsets[StateGroupPrefix+"G1"], want) || v.Offsets["LocalGroup"][engine.QueueRef{Topic: "TopicA"}] != 4 {
			t.Errorf("%s: offsets %v, want G1 and its state %v, LocalGroup kept", when, v.Offsets, want)
		}
		if !maps.Equal(v.Progress, m.delay) {
			t.Errorf("%s: delay progress %v, want %v", when, v.Progress, m.delay)
		}
	}
	check(s, "after the sync", true)
	// The builtin exists after a restart even where the master lacks it.
	s.st.Close()
	s = openSlave(t, dir)
	check(s, "after a restart", false)

	// The master goes away; a consumer commits 9 to the slave. The master
	// returns with its old 5: the slave keeps 9, across a restart too.
	if err := s.offs.Commit("G1", "TopicA", 0, 9); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := s.syncer(t, m).SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if off := s.offset(t, "G1", "TopicA", 0); off != 9 {
			t.Fatalf("round %d with the stale master: offset %d, want the slave's 9", round, off)
		}
		s.st.Close()
		s = openSlave(t, dir)
	}
	// The consumer resumes on the master from 5 and commits 6: still behind.
	m.setOffset("TopicA", "G1", 0, 6)
	if err := s.syncer(t, m).SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if off := s.offset(t, "G1", "TopicA", 0); off != 9 {
		t.Fatalf("master at 6: offset %d, want the slave's 9", off)
	}
	// The master passes the slave: its value wins from then on, and a
	// later reset on the master back to 0 applies.
	m.setOffset("TopicA", "G1", 0, 11)
	m.setOffset("TopicA", "G1", 1, 2)
	sy = s.syncer(t, m)
	if err := sy.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a, b := s.offset(t, "G1", "TopicA", 0), s.offset(t, "G1", "TopicA", 1); a != 11 || b != 2 {
		t.Fatalf("master at 11 and reset to 2: offsets %d %d, want 11 2", a, b)
	}
	m.setOffset("TopicA", "G1", 0, 0)
	if err := sy.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if off := s.offset(t, "G1", "TopicA", 0); off != 0 {
		t.Fatalf("reset on the master to 0: offset %d, want 0", off)
	}
}

// TestFailedRoundChangesNothing: whichever table fails (an error, a
// malformed body, a body without its table), nothing of the round is
// applied; a master with no tables at all (ErrEmpty) changes nothing and
// is not an error.
func TestFailedRoundChangesNothing(t *testing.T) {
	s := openSlave(t, t.TempDir())
	if err := s.offs.Commit("G1", "TopicA", 0, 1); err != nil {
		t.Fatal(err)
	}
	before := s.view(t)
	failures := map[string]func(m *fakeMaster, tb Table){
		"error":     func(m *fakeMaster, tb Table) { m.errs[tb] = errors.New("connection refused") },
		"malformed": func(m *fakeMaster, tb Table) { m.raw[tb] = []byte(`{"offsetTable":{"x":`) },
		"no table":  func(m *fakeMaster, tb Table) { m.raw[tb] = []byte(`{"dataVersion":{"counter":9,"timestamp":9}}`) },
	}
	for name, fail := range failures {
		for tb := range numTables {
			if name == "no table" && (tb == ConsumerOffsets || tb == DelayOffsets) {
				continue // an absent offset table is an empty one
			}
			m := newFakeMaster()
			fail(m, tb)
			if err := s.syncer(t, m).SyncOnce(context.Background()); err == nil {
				t.Errorf("%s on %v: no error", name, tb)
			}
			if after := s.view(t); !reflect.DeepEqual(after, before) {
				t.Fatalf("%s on %v changed the slave:\n got %+v\nwant %+v", name, tb, after, before)
			}
		}
	}
	m := newFakeMaster()
	for tb := range numTables {
		m.errs[tb] = fmt.Errorf("wrapped: %w", ErrEmpty)
	}
	if err := s.syncer(t, m).SyncOnce(context.Background()); err != nil {
		t.Fatalf("a master without tables: %v", err)
	}
	if after := s.view(t); !reflect.DeepEqual(after, before) {
		t.Fatalf("a master without tables changed the slave:\n got %+v\nwant %+v", after, before)
	}
	noMaster := New(Options{MasterAddr: func() string { return "" }, Fetcher: m, Logger: testkit.Logger(t)})
	if err := noMaster.SyncOnce(context.Background()); !errors.Is(err, ErrNoMaster) {
		t.Fatalf("no master address: %v, want ErrNoMaster", err)
	}
}

// countingHandler counts log records by level.
type countingHandler struct {
	mu     sync.Mutex
	counts map[slog.Level]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level]++
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[l]
}

// TestLogsOncePerStateChange: repeated failures with one error log one
// warning; recovery logs once; a different error logs again.
func TestLogsOncePerStateChange(t *testing.T) {
	s := openSlave(t, t.TempDir())
	h := &countingHandler{counts: map[slog.Level]int{}}
	m := newFakeMaster()
	sy := New(Options{MasterAddr: func() string { return "master:10911" }, Fetcher: m,
		Topics: s.topics, Groups: s.groups, Offsets: s.offs, Delay: s.sched, Logger: slog.New(h)})
	ctx := context.Background()
	m.errs[TopicConfigs] = errors.New("connection refused")
	for range 5 {
		_ = sy.SyncOnce(ctx)
	}
	if n := h.count(slog.LevelWarn); n != 1 {
		t.Fatalf("5 equal failures: %d warnings, want 1", n)
	}
	delete(m.errs, TopicConfigs)
	for range 3 {
		if err := sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	info := h.count(slog.LevelInfo)
	m.errs[DelayOffsets] = errors.New("timeout")
	for range 3 {
		_ = sy.SyncOnce(ctx)
	}
	if n := h.count(slog.LevelWarn); n != 2 || h.count(slog.LevelInfo) != info {
		t.Fatalf("a new error: %d warnings (want 2), info %d -> %d (want unchanged)", n, info, h.count(slog.LevelInfo))
	}
}

// TestStartRunsRoundsUntilClose: Start runs a round at once and then every
// Interval; Close stops the goroutine (goleak in TestMain) and a later
// Start does nothing.
func TestStartRunsRoundsUntilClose(t *testing.T) {
	s := openSlave(t, t.TempDir())
	m := newFakeMaster()
	sy := New(Options{MasterAddr: func() string { return "master:10911" }, Fetcher: m, Interval: 5 * time.Millisecond,
		Topics: s.topics, Groups: s.groups, Offsets: s.offs, Delay: s.sched, Logger: testkit.Logger(t)})
	sy.Start()
	sy.Start()
	testkit.Eventually(t, 5*time.Second, func() bool { return m.calls.Load() >= 3*int64(numTables) }, "three rounds")
	sy.Close()
	n := m.calls.Load()
	sy.Start()
	sy.Close()
	if got := m.calls.Load(); got != n {
		t.Fatalf("%d fetches after Close", got-n)
	}
	if off := s.offset(t, "G1", "TopicA", 1); off != 7 {
		t.Fatalf("the loop's rounds applied offset %d, want 7", off)
	}
	never := New(Options{MasterAddr: func() string { return "" }})
	never.Close() // Close without Start returns
}

// TestTopicWithTooManyQueuesIsRefused: a master's table with a topic of
// 2^30 queues (a broken or hostile master) syncs every other topic and
// leaves that one out, with one warning, also on the rounds after it.
func TestTopicWithTooManyQueuesIsRefused(t *testing.T) {
	s := openSlave(t, t.TempDir())
	h := &countingHandler{counts: map[slog.Level]int{}}
	m := newFakeMaster()
	m.topics.TopicConfigTable["Huge"] = meta.NewTopicConfig("Huge", 1<<30, 6)
	syncRounds(t, s, m, h, 3)
	v := s.view(t)
	if _, ok := v.Topics["Huge"]; ok || v.Topics["TopicA"] != m.topics.TopicConfigTable["TopicA"] {
		t.Fatalf("topics %v: want TopicA and not Huge", v.Topics)
	}
	if n := h.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings over 3 rounds, want 1", n)
	}
	if len(m.topics.TopicConfigTable) != 3 {
		t.Fatalf("the master's table was changed: %v", m.topics.TopicConfigTable)
	}
}

// syncRounds runs n rounds of a syncer from m into s, logging to h.
func syncRounds(t *testing.T, s *slave, m *fakeMaster, h *countingHandler, n int) {
	t.Helper()
	sy := New(Options{MasterAddr: func() string { return "master:10911" }, Fetcher: m,
		Topics: s.topics, Groups: s.groups, Offsets: s.offs, Delay: s.sched, Logger: slog.New(h)})
	for range n {
		if err := sy.SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNamesTheStoreCannotHoldAreSkipped: a master's table with topic and
// group names the slave's store refuses (empty, or holding 0x00) syncs
// every other entry and the later tables, with one warning per name, also
// on the rounds after it. The failed Replace stopped the round before the
// consumer and delay offsets, every round.
func TestNamesTheStoreCannotHoldAreSkipped(t *testing.T) {
	s := openSlave(t, t.TempDir())
	h := &countingHandler{counts: map[slog.Level]int{}}
	m := newFakeMaster()
	for _, name := range []string{"", "bad\x00name"} {
		m.topics.TopicConfigTable[name] = meta.NewTopicConfig(name, 1, 6)
		m.groups.SubscriptionGroupTable[name] = meta.NewGroupConfig(name)
	}
	syncRounds(t, s, m, h, 3)
	v := s.view(t)
	if len(v.Topics) != 2 || v.Topics["TopicA"] != m.topics.TopicConfigTable["TopicA"] || v.TopicsV != m.topics.DataVersion {
		t.Fatalf("topics %v %v: want TopicA and the built-in only, at the master's version", v.Topics, v.TopicsV)
	}
	if len(v.Groups) != 1 || v.Groups["G1"] != m.groups.SubscriptionGroupTable["G1"] || v.GroupsV != m.groups.DataVersion {
		t.Fatalf("groups %v %v: want G1 only, at the master's version", v.Groups, v.GroupsV)
	}
	if off := s.offset(t, "G1", "TopicA", 1); off != 7 {
		t.Fatalf("consumer offset %d, want the master's 7", off)
	}
	if !maps.Equal(v.Progress, m.delay) {
		t.Fatalf("delay progress %v, want the master's %v", v.Progress, m.delay)
	}
	if n := h.count(slog.LevelWarn); n != 4 {
		t.Fatalf("%d warnings over 3 rounds, want 4 (one per refused name)", n)
	}
}
