package brokerstats

import (
	"fmt"
	"sync"
	"time"
)

// rateLen is how many one-second samples Rates keeps: enough for the
// 10-minute window, plus the sample it starts from.
const rateLen = 601

// Rates samples a fixed set of monotonic counters once a second and
// answers their rates over the last N seconds.
type Rates struct {
	read func(dst []int64) // fills the current counter values

	mu      sync.Mutex
	samples []rateSample // ring, oldest first; guarded by mu
	n       int          // number of counters
}

type rateSample struct {
	at   time.Time
	vals []int64
}

// NewRates samples n counters, read by read.
func NewRates(n int, read func(dst []int64)) *Rates {
	return &Rates{read: read, n: n}
}

// sample takes one sample at now.
func (r *Rates) sample(now time.Time) {
	s := rateSample{at: now, vals: make([]int64, r.n)}
	r.read(s.vals)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) == rateLen {
		// Reuse the oldest sample's slice rather than grow garbage.
		old := r.samples[0]
		copy(r.samples, r.samples[1:])
		r.samples = r.samples[:rateLen-1]
		copy(old.vals, s.vals)
		old.at = now
		s = old
	}
	r.samples = append(r.samples, s)
}

// Rate is counter i's rate per second over the last secs seconds (or
// over what has been sampled, if less): 0 before two samples exist.
func (r *Rates) Rate(i int, secs int) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.samples) < 2 || i < 0 || i >= r.n {
		return 0
	}
	last := r.samples[len(r.samples)-1]
	first := r.samples[max(len(r.samples)-1-secs, 0)]
	ms := last.at.Sub(first.at).Milliseconds()
	if ms <= 0 {
		return 0
	}
	return float64(last.vals[i]-first.vals[i]) * 1000 / float64(ms)
}

// TPS is counter i's rates over 10 s, 1 min and 10 min as RocketMQ's
// runtime table writes them: "%.2f %.2f %.2f".
func (r *Rates) TPS(i int) string {
	return fmt.Sprintf("%.2f %.2f %.2f", r.Rate(i, 10), r.Rate(i, 60), r.Rate(i, 600))
}
