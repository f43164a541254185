package bench

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/internal/atomicmax"
)

// Histogram geometry: values below 2^histSubBits ns are exact; above, each
// power of two is split into 2^histSubBits buckets (about 3 % wide).
const (
	histSubBits  = 5
	histSub      = 1 << histSubBits
	histBuckets  = (64 - histSubBits + 1) * histSub
	histMaxValue = 1<<63 - 1
)

// Histogram counts latencies in fixed log-linear buckets. Record is a
// couple of atomic adds, so the goroutines of one producer can share one
// without locks; it never allocates.
type Histogram struct {
	counts [histBuckets]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64
}

func histIndex(v int64) int {
	if v < histSub {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 1   // >= histSubBits
	m := int(v >> (e - histSubBits)) // in [histSub, 2*histSub)
	return (e-histSubBits+1)*histSub + m - histSub
}

// histUpper returns the largest value that falls in bucket i.
func histUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub + histSubBits - 1
	m := int64(i%histSub + histSub)
	shift := e - histSubBits
	if e >= 62 && m == 2*histSub-1 {
		return histMaxValue
	}
	return (m+1)<<shift - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)].Add(1)
	h.n.Add(1)
	atomicmax.Raise(&h.max, v)
}

// Count returns the number of recorded values.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Merge adds the counts of o into h. Call it when o is no longer written.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Quantile returns an upper bound of the q-quantile (0 < q <= 1): the top
// of the bucket holding it, but never more than the exact maximum.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := int64(q*float64(n) + 0.999999)
	rank = min(max(rank, 1), n)
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(histUpper(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Max returns the largest recorded value.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }
