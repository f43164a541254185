package brokerstats

import (
	"sync"
	"time"
)

// Sampler takes the snapshots: the Rates' every second, the Items'
// every 10 s, 10 min and hour. It owns one goroutine, from Start to
// Close.
type Sampler struct {
	rates *Rates
	items func(fn func(*Item)) // visits every Item

	mu                       sync.Mutex // serializes Tick and SnapshotItems
	nextMin, nextHr, nextDay time.Time  // when each ring takes its next snapshot; guarded by mu

	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// NewSampler samples rates (may be nil) and the Items items visits.
func NewSampler(rates *Rates, items func(fn func(*Item))) *Sampler {
	return &Sampler{rates: rates, items: items, quit: make(chan struct{})}
}

// Start takes a first sample and then one every second until Close.
func (s *Sampler) Start() {
	s.Tick(time.Now())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case now := <-t.C:
				s.Tick(now)
			}
		}
	}()
}

// Tick samples what is due at now. The goroutine calls it every second;
// tests call it with chosen times.
func (s *Sampler) Tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rates != nil {
		s.rates.sample(now)
	}
	minute, hour, day := !now.Before(s.nextMin), !now.Before(s.nextHr), !now.Before(s.nextDay)
	if minute || hour || day {
		s.items(func(it *Item) { it.sample(now, minute, hour, day) })
	}
	if minute {
		s.nextMin = now.Add(minuteStep)
	}
	if hour {
		s.nextHr = now.Add(hourStep)
	}
	if day {
		s.nextDay = now.Add(dayStep)
	}
}

// SnapshotItems takes a snapshot of every Item in all three rings at now,
// whatever is due (tests, to read a window without waiting for it).
func (s *Sampler) SnapshotItems(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.items(func(it *Item) { it.sample(now, true, true, true) })
}

// Close stops the goroutine and waits for it.
func (s *Sampler) Close() {
	s.once.Do(func() { close(s.quit) })
	s.wg.Wait()
}
