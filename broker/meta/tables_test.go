package meta

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting/body"
	"github.com/wharfmq/wharf/systopic"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engine.Store is the store both tables are kept in.
var _ Store = (*engine.Store)(nil)

const rw = body.PermRead | body.PermWrite

// openStore opens a small real store in dir; the caller may close it to
// reopen dir.
func openStore(t *testing.T, dir string) *engine.Store {
	t.Helper()
	return testkit.OpenStore(t, func(o *engine.Options) { o.Dir = dir })
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestTopicsPersistAndReload: puts, removes and auto-created groups are in
// the store; reopening finds them, skips a malformed document, and keeps a
// built-in topic that already exists as it was stored.
func TestTopicsPersistAndReload(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	sys := System{Cluster: "C", Broker: "b", ScheduleQueues: 3, AutoCreate: true, DefaultQueueNums: 8}
	tm, err := OpenTopics(s, TopicsOptions{Builtins: sys.Builtins()}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Put(NewTopicConfig("A", 4, rw)); err != nil {
		t.Fatal(err)
	}
	if err := tm.Put(NewTopicConfig("Gone", 1, rw)); err != nil {
		t.Fatal(err)
	}
	if ok, err := tm.Remove("Gone"); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if ok, err := tm.Remove("Gone"); ok || err != nil {
		t.Fatalf("second remove: %v %v, want false", ok, err)
	}
	tbw := NewTopicConfig(systopic.AutoCreate, 2, rw) // changed by an admin
	if err := tm.Put(tbw); err != nil {
		t.Fatal(err)
	}
	gm, err := OpenGroups(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := gm.GetOrCreate("NoAuto", false); ok {
		t.Fatal("GetOrCreate without autoCreate created a group")
	}
	if gc, ok, err := gm.GetOrCreate("G", true); !ok || err != nil || gc != NewGroupConfig("G") {
		t.Fatalf("GetOrCreate: %+v %v %v", gc, ok, err)
	}
	if err := s.PutTopicConfig("Bad", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTopicConfig("Other", []byte(`{"topicName":"NotOther"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	tm, err = OpenTopics(s, TopicsOptions{Builtins: sys.Builtins()}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	table, _ := tm.Snapshot()
	if tc, ok := table["A"]; !ok || tc != NewTopicConfig("A", 4, rw) {
		t.Errorf("A after reopen: %+v %v", tc, ok)
	}
	for _, name := range []string{"Gone", "Bad", "Other"} {
		if _, ok := table[name]; ok {
			t.Errorf("%s is in the table after reopen", name)
		}
	}
	if tc, _ := tm.Get(systopic.AutoCreate); tc != tbw {
		t.Errorf("TBW102 after reopen: %+v, want the stored %+v", tc, tbw)
	}
	if len(table) != len(sys.Builtins())+1 {
		t.Errorf("%d topics after reopen, want the %d built-ins and A", len(table), len(sys.Builtins()))
	}
	gm, err = OpenGroups(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := gm.Get("G"); !ok {
		t.Error("group G lost on reopen")
	}
}

// TestTopicsCap: the cap refuses a new topic with ErrTooManyTopics, never
// an update of an existing one, and does not apply to the built-ins.
func TestTopicsCap(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	sys := System{Cluster: "C", Broker: "b", ScheduleQueues: 2, TraceTopic: "Trace", AutoCreate: true, DefaultQueueNums: 8}
	n := len(sys.Builtins())
	tm, err := OpenTopics(s, TopicsOptions{Builtins: sys.Builtins(), Max: n - 1}, quiet())
	if err != nil {
		t.Fatalf("built-ins beyond the cap: %v", err)
	}
	if table, _ := tm.Snapshot(); len(table) != n {
		t.Fatalf("%d topics, want the %d built-ins", len(table), n)
	}
	err = tm.Put(NewTopicConfig("New", 1, rw))
	if !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("put beyond the cap: %v, want ErrTooManyTopics", err)
	}
	if _, created, err := tm.GetOrCreate("New", func() (body.TopicConfig, bool) { return NewTopicConfig("New", 1, rw), true }); created || !errors.Is(err, ErrTooManyTopics) {
		t.Fatalf("GetOrCreate beyond the cap: created %v, %v", created, err)
	}
	if err := tm.Put(NewTopicConfig("Trace", 4, rw)); err != nil {
		t.Fatalf("update at the cap: %v", err)
	}
}

// TestTopicsDrain: OnChange rings once per change and not for the
// built-ins; Drain returns the changes once, the whole table when asked
// or after a removal, and the version moves with every change.
func TestTopicsDrain(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	rings := 0
	tm, err := OpenTopics(s, TopicsOptions{Builtins: []body.TopicConfig{NewTopicConfig("B", 1, rw)},
		OnChange: func() { rings++ }}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if rings != 0 {
		t.Fatalf("built-ins rang OnChange %d times", rings)
	}
	d0 := tm.Drain(false)
	if len(d0.Changed) != 1 || d0.Removed || d0.Table != nil {
		t.Fatalf("first drain %+v, want the built-in B only", d0)
	}
	if err := tm.Put(NewTopicConfig("X", 2, rw)); err != nil {
		t.Fatal(err)
	}
	if err := tm.Ensure(NewTopicConfig("X", 9, rw)); err != nil { // exists: no change
		t.Fatal(err)
	}
	if _, _, err := tm.GetOrCreate("Y", func() (body.TopicConfig, bool) { return NewTopicConfig("Y", 1, rw), true }); err != nil {
		t.Fatal(err)
	}
	if rings != 2 {
		t.Fatalf("OnChange rang %d times for 2 changes", rings)
	}
	d1 := tm.Drain(false)
	names := []string{}
	for _, tc := range d1.Changed {
		names = append(names, tc.TopicName)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"X", "Y"}) || d1.Removed || d1.Table != nil || d1.Version.Counter != d0.Version.Counter+2 {
		t.Fatalf("drain after 2 changes: %v %+v (version before %+v)", names, d1, d0.Version)
	}
	if d := tm.Drain(true); len(d.Changed) != 0 || len(d.Table) != 3 || d.Version != d1.Version {
		t.Fatalf("drain with table: %+v", d)
	}
	if _, err := tm.Remove("X"); err != nil {
		t.Fatal(err)
	}
	d2 := tm.Drain(false)
	if !d2.Removed || len(d2.Table) != 2 || d2.Version.Counter != d1.Version.Counter+1 || rings != 3 {
		t.Fatalf("drain after a removal: %+v, rings %d", d2, rings)
	}
}

// TestInherited: a topic created on send inherits the default topic's
// permissions without PermInherit, its filter type and at most its write
// queues; without PermInherit, or without the default topic, there is none.
func TestInherited(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	def := NewTopicConfig(systopic.AutoCreate, 8, rw|body.PermInherit)
	def.TopicFilterType = "MULTI_TAG"
	noInherit := NewTopicConfig("Plain", 8, rw)
	tm, err := OpenTopics(s, TopicsOptions{Builtins: []body.TopicConfig{def, noInherit}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		requested, want int32
	}{{4, 4}, {16, 8}, {0, 1}, {-3, 1}} {
		tc, ok := tm.Inherited("T", systopic.AutoCreate, c.requested)
		want := NewTopicConfig("T", c.want, rw)
		want.TopicFilterType = "MULTI_TAG"
		if !ok || tc != want {
			t.Errorf("requested %d: %+v %v, want %+v", c.requested, tc, ok, want)
		}
	}
	if _, ok := tm.Inherited("T", "Plain", 4); ok {
		t.Error("inherited from a default topic without PermInherit")
	}
	if _, ok := tm.Inherited("T", "Missing", 4); ok {
		t.Error("inherited from a missing default topic")
	}
}

// TestSystem: the built-ins of a broker, and its system topics as systopic
// defines them for its names.
func TestSystem(t *testing.T) {
	sys := System{Cluster: "C", Broker: "b", ScheduleQueues: 18, DefaultQueueNums: 8}
	names := func(s System) []string {
		var out []string
		for _, tc := range s.Builtins() {
			out = append(out, tc.TopicName)
		}
		return out
	}
	base := []string{systopic.SelfTest, systopic.OffsetMoved, "C", "b", systopic.Schedule, "C_REPLY_TOPIC"}
	if got := names(sys); !slices.Equal(got, base) {
		t.Errorf("built-ins %v, want %v", got, base)
	}
	full := sys
	full.TraceTopic, full.AutoCreate = "Trace", true
	if got := names(full); !slices.Equal(got, append(base, "Trace", systopic.AutoCreate)) {
		t.Errorf("built-ins with trace and auto-create: %v", got)
	}
	for _, tc := range full.Builtins() {
		if !full.IsSystem(tc.TopicName) {
			t.Errorf("built-in %s is not a system topic", tc.TopicName)
		}
	}
	if sys.IsSystem("Trace") || sys.IsSystem("TopicTest") || !sys.IsSystem("rmq_sys_x") {
		t.Error("IsSystem: trace off, ordinary topic or rmq_sys_ prefix wrong")
	}
}
