package index

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testOpts(fs vfs.FS, slots, entries int) Options {
	return Options{FS: fs, Dir: "idx", SlotCount: slots, EntriesPerFile: entries, Logger: quietLogger()}
}

func mustOpen(t testing.TB, o Options) *Index {
	t.Helper()
	x, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return x
}

func mustAdd(t testing.TB, x *Index, key string, phys, ts int64) {
	t.Helper()
	if err := x.Add(key, phys, ts); err != nil {
		t.Fatalf("Add(%q, %d, %d): %v", key, phys, ts, err)
	}
}

func mustQuery(t testing.TB, x *Index, key string, max int, begin, end int64) []Hit {
	t.Helper()
	h, err := x.Query(key, max, begin, end)
	if err != nil {
		t.Fatalf("Query(%q): %v", key, err)
	}
	return h
}

// model is the reference the index is compared with: every Add in order.
type model struct {
	entries []modelEntry
}

type modelEntry struct {
	key  string
	phys int64
	ts   int64
}

func (m *model) add(key string, phys, ts int64) {
	m.entries = append(m.entries, modelEntry{key, phys, ts})
}

// truncate drops entries at phys >= from.
func (m *model) truncate(from int64) {
	m.entries = slices.DeleteFunc(m.entries, func(e modelEntry) bool { return e.phys >= from })
}

// query answers like Index.Query over the entries with phys < below.
func (m *model) query(key string, max int, begin, end, below int64) []Hit {
	var hits []Hit
	for i := len(m.entries) - 1; i >= 0 && len(hits) < max; i-- {
		e := m.entries[i]
		if e.key == key && e.phys < below && e.ts >= begin && e.ts <= end {
			hits = append(hits, Hit{Phys: e.phys, StoreTime: e.ts})
		}
	}
	return hits
}

func (m *model) keys() []string {
	var ks []string
	seen := map[string]bool{}
	for _, e := range m.entries {
		if !seen[e.key] {
			seen[e.key] = true
			ks = append(ks, e.key)
		}
	}
	return ks
}

const (
	minTime = -1 << 62
	maxTime = 1 << 62
)

// checkAgainst compares every key of m (plus one never added) between x and
// m, below the phys bound.
func checkAgainst(t testing.TB, x *Index, m *model, below int64, ctx string) {
	t.Helper()
	for _, k := range append(m.keys(), "never-added") {
		got := mustQuery(t, x, k, 1<<30, minTime, maxTime)
		want := m.query(k, 1<<30, minTime, maxTime, below)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: key %q:\n got  %v\n want %v", ctx, k, got, want)
		}
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	if a := x.mu.active; a != nil {
		if err := a.checkChains(); err != nil {
			t.Fatalf("%s: %v", ctx, err)
		}
	}
}

// repairStats is a slog.Handler that adds up the slot repairs Open reports,
// so crash tests can show that the repair paths ran.
type repairStats struct {
	mu              sync.Mutex
	byChain, byScan int64
	removedFiles    int64
}

func (r *repairStats) Enabled(context.Context, slog.Level) bool { return true }
func (r *repairStats) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *repairStats) WithGroup(string) slog.Handler            { return r }
func (r *repairStats) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rec.Message == "index file removed" {
		r.removedFiles++
	}
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "slotsByChain":
			r.byChain += a.Value.Int64()
		case "slotsByScan":
			r.byScan += a.Value.Int64()
		}
		return true
	})
	return nil
}
