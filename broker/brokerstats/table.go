package brokerstats

import (
	"sync"
	"sync/atomic"
)

// DefaultMaxKeys bounds a Table: topics (or topic and group pairs) beyond
// it are counted under the table's overflow key.
const DefaultMaxKeys = 1000

// Table maps keys to counters. Get is a lock-free lookup of an immutable
// map (copy-on-write on insert), so the hot paths pay one atomic load and
// a map access, and no allocation once a key exists.
type Table[K comparable, V any] struct {
	m        atomic.Pointer[map[K]*V]
	mu       sync.Mutex // serializes inserts
	max      int
	overflow K
	newV     func() *V
}

// NewTable returns a table of at most max keys (DefaultMaxKeys when
// max <= 0); keys past that share the entry of overflow.
func NewTable[K comparable, V any](max int, overflow K, newV func() *V) *Table[K, V] {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	t := &Table[K, V]{max: max, overflow: overflow, newV: newV}
	m := map[K]*V{}
	t.m.Store(&m)
	return t
}

// Get returns the entry of k, creating it (or, when the table is full,
// returning the overflow entry).
func (t *Table[K, V]) Get(k K) *V {
	if v, ok := (*t.m.Load())[k]; ok {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if v, ok := old[k]; ok {
		return v
	}
	if len(old) >= t.max {
		k = t.overflow
		if v, ok := old[k]; ok {
			return v
		}
	}
	next := make(map[K]*V, len(old)+1)
	for kk, vv := range old {
		next[kk] = vv
	}
	v := t.newV()
	next[k] = v
	t.m.Store(&next)
	return v
}

// Lookup returns the entry of k if it has one.
func (t *Table[K, V]) Lookup(k K) (*V, bool) {
	v, ok := (*t.m.Load())[k]
	return v, ok
}

// Range calls fn for every entry, in no order.
func (t *Table[K, V]) Range(fn func(k K, v *V)) {
	for k, v := range *t.m.Load() {
		fn(k, v)
	}
}

// Len is the number of keys (the overflow key included once used).
func (t *Table[K, V]) Len() int { return len(*t.m.Load()) }
