package meta

import (
	"maps"
	"testing"

	"github.com/wharfmq/wharf/remoting/body"
)

// TestReplace: a slave's Replace makes each table the master's, writes it
// durably, takes the master's data version and tells the registrar (a
// removal makes the next Drain carry the whole table); the topic table
// keeps the broker's own built-in topics; an unchanged table changes
// nothing and rings nothing.
func TestReplace(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rings := 0
	builtin := NewTopicConfig("BUILTIN", 1, rw)
	tm, err := OpenTopics(s, TopicsOptions{Builtins: []body.TopicConfig{builtin}, OnChange: func() { rings++ }}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if err := tm.Put(NewTopicConfig("LocalOnly", 1, rw)); err != nil {
		t.Fatal(err)
	}
	tm.Drain(false)
	rings = 0
	master := map[string]body.TopicConfig{"A": NewTopicConfig("A", 4, rw), "Bad": NewTopicConfig("NotBad", 1, rw)}
	v := body.DataVersion{Counter: 7, Timestamp: 123}
	if changed, err := tm.Replace(master, v); !changed || err != nil || rings != 1 {
		t.Fatalf("replace: %v %v, %d rings", changed, err, rings)
	}
	want := map[string]body.TopicConfig{"A": master["A"], "BUILTIN": builtin}
	if table, got := tm.Snapshot(); !maps.Equal(table, want) || got != v {
		t.Fatalf("topics %v version %v, want %v %v (a mismatched name is skipped)", table, got, want, v)
	}
	if d := tm.Drain(false); !d.Removed || len(d.Changed) != 1 || d.Table == nil {
		t.Fatalf("drain after a replace that removed a topic: %+v", d)
	}
	if changed, err := tm.Replace(master, v); changed || err != nil || rings != 1 {
		t.Fatalf("second replace: %v %v, %d rings", changed, err, rings)
	}

	gm, err := OpenGroups(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gm.GetOrCreate("LocalG", true); err != nil {
		t.Fatal(err)
	}
	groups := map[string]body.SubscriptionGroupConfig{"G": NewGroupConfig("G")}
	if changed, err := gm.Replace(groups, v); !changed || err != nil {
		t.Fatalf("group replace: %v %v", changed, err)
	}
	if table, got := gm.Snapshot(); !maps.Equal(table, groups) || got != v {
		t.Fatalf("groups %v version %v", table, got)
	}

	s.Close()
	s = openStore(t, dir)
	tm, err = OpenTopics(s, TopicsOptions{Builtins: []body.TopicConfig{builtin}}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	if table, _ := tm.Snapshot(); !maps.Equal(table, want) {
		t.Fatalf("topics after reopen %v, want %v", table, want)
	}
	if gm, err = OpenGroups(s, quiet()); err != nil {
		t.Fatal(err)
	}
	if table, _ := gm.Snapshot(); !maps.Equal(table, groups) {
		t.Fatalf("groups after reopen %v, want %v", table, groups)
	}
}
