package sqlfilter

import "sync"

// Cache remembers compiled expressions, and compile errors, by source text,
// so a consumer that sends its expression with every pull is parsed once
// (RocketMQ's SelectorParser keeps a cache of 100 the same way). It holds at
// most limit expressions and about cacheBudget bytes; when full it starts
// over, which is cheap and bounds memory whatever consumers send.
type Cache struct {
	mu      sync.Mutex
	limit   int
	size    int // weight of the entries
	entries map[string]cacheEntry
}

// cacheBudget bounds a cache's memory; an entry weighs its source plus
// nodeWeight per node.
const (
	cacheBudget = 4 << 20
	nodeWeight  = 192
)

type cacheEntry struct {
	x   *Expr
	err error
}

// NewCache returns a cache of at most limit expressions (at least 1).
func NewCache(limit int) *Cache {
	return &Cache{limit: max(limit, 1), entries: map[string]cacheEntry{}}
}

// Compile returns the compiled src, compiling it on first use.
func (c *Cache) Compile(src string) (*Expr, error) {
	c.mu.Lock()
	e, ok := c.entries[src]
	c.mu.Unlock()
	if ok {
		return e.x, e.err
	}
	x, err := Compile(src)
	c.mu.Lock()
	w := len(src)
	if x != nil {
		w += nodeWeight * len(x.nodes)
	}
	if len(c.entries) >= c.limit || c.size+w > cacheBudget {
		clear(c.entries)
		c.size = 0
	}
	if _, dup := c.entries[src]; !dup {
		c.entries[src] = cacheEntry{x: x, err: err}
		c.size += w
	}
	c.mu.Unlock()
	return x, err
}
