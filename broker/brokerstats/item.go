package brokerstats

import (
	"sync"
	"sync/atomic"
	"time"
)

// Ring sizes and steps of Item's snapshots, as RocketMQ's StatsItem: every
// 10 s for the last minute, every 10 min for the last hour, every hour for
// the last day.
const (
	minuteStep, minuteLen = 10 * time.Second, 7
	hourStep, hourLen     = 10 * time.Minute, 7
	dayStep, dayLen       = time.Hour, 25
)

// Item is a counter: a value (messages, bytes) and the number of calls
// that added to it, with snapshots for the per-minute, -hour and -day
// figures of VIEW_BROKER_STATS_DATA.
type Item struct {
	value, times atomic.Int64

	mu                sync.Mutex
	minute, hour, day []snapshot // oldest first; guarded by mu
}

type snapshot struct {
	at           time.Time
	value, times int64
}

// Add adds v in one call.
func (it *Item) Add(v int64) {
	it.value.Add(v)
	it.times.Add(1)
}

// Value is the sum added since start.
func (it *Item) Value() int64 { return it.value.Load() }

// Times is the number of calls to Add.
func (it *Item) Times() int64 { return it.times.Load() }

// Window is one of VIEW_BROKER_STATS_DATA's figures (BrokerStatsItem):
// Sum added over the window, TPS the sum per second, Avgpt the sum per
// call.
type Window struct {
	Sum   int64
	TPS   float64
	Avgpt float64
}

// sample records the snapshots due at now; which says which rings take
// one.
func (it *Item) sample(now time.Time, minute, hour, day bool) {
	s := snapshot{at: now, value: it.value.Load(), times: it.times.Load()}
	it.mu.Lock()
	defer it.mu.Unlock()
	if minute {
		it.minute = push(it.minute, s, minuteLen, minuteStep)
	}
	if hour {
		it.hour = push(it.hour, s, hourLen, hourStep)
	}
	if day {
		it.day = push(it.day, s, dayLen, dayStep)
	}
}

// push appends s to a ring of n. An empty ring first gets a zero
// snapshot one step earlier, as RocketMQ's StatsItem, so what was added
// before the first snapshot counts in the first window.
func push(r []snapshot, s snapshot, n int, step time.Duration) []snapshot {
	if len(r) == 0 {
		r = append(make([]snapshot, 0, n), snapshot{at: s.at.Add(-step)})
	}
	if len(r) == n {
		copy(r, r[1:])
		r = r[:n-1]
	}
	return append(r, s)
}

// Minute, Hour and Day are the figures over the last minute, hour and
// day, from the oldest snapshot kept to the newest (zero before the first
// snapshot).
func (it *Item) Minute() Window { return it.window(func() []snapshot { return it.minute }) }

// Hour is the figure over the last hour (see Minute).
func (it *Item) Hour() Window { return it.window(func() []snapshot { return it.hour }) }

// Day is the figure over the last day (see Minute).
func (it *Item) Day() Window { return it.window(func() []snapshot { return it.day }) }

func (it *Item) window(ring func() []snapshot) Window {
	it.mu.Lock()
	defer it.mu.Unlock()
	r := ring()
	if len(r) < 2 {
		return Window{}
	}
	first, last := r[0], r[len(r)-1]
	w := Window{Sum: last.value - first.value}
	if ms := last.at.Sub(first.at).Milliseconds(); ms > 0 {
		w.TPS = float64(w.Sum) * 1000 / float64(ms)
	}
	if n := last.times - first.times; n > 0 {
		w.Avgpt = float64(w.Sum) / float64(n)
	}
	return w
}
