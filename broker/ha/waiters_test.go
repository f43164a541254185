package ha

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"
)

// results collects what each waiter was told, by name.
type results struct {
	mu  sync.Mutex
	got map[string]error
	seq []string
}

func (r *results) done(name string) func(error) {
	return func(err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, dup := r.got[name]; dup {
			panic("waiter " + name + " answered twice")
		}
		r.got[name] = err
		r.seq = append(r.seq, name)
	}
}

func (r *results) get(name string) (error, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	err, ok := r.got[name]
	return err, ok
}

func newResults() *results { return &results{got: map[string]error{}} }

// Advance answers exactly the waiters it covers, in the order they came,
// and a waiter already covered is answered before Add returns.
func TestWaitersAdvance(t *testing.T) {
	w := NewWaiters()
	defer w.Close()
	r := newResults()
	w.Add(300, time.Minute, r.done("c"))
	w.Add(100, time.Minute, r.done("a"))
	w.Add(200, time.Minute, r.done("b"))
	w.Advance(200)
	if len(r.seq) != 2 || r.seq[0] != "a" || r.seq[1] != "b" {
		t.Fatalf("after Advance(200): answered %v, want [a b]", r.seq)
	}
	if err, _ := r.get("a"); err != nil {
		t.Fatalf("a: %v", err)
	}
	w.Advance(150) // going back changes nothing
	if _, ok := r.get("c"); ok {
		t.Fatal("c answered before its end was acknowledged")
	}
	w.Add(180, time.Minute, r.done("d"))
	if err, ok := r.get("d"); !ok || err != nil {
		t.Fatalf("d, already covered: answered %v (%v), want nil at once", ok, err)
	}
	w.Advance(300)
	if err, ok := r.get("c"); !ok || err != nil {
		t.Fatalf("c: answered %v (%v)", ok, err)
	}
}

// A waiter whose time runs out hears ErrSlaveTimeout, also when the
// waiter the timer was set for was answered first; the others keep
// waiting.
func TestWaitersTimeout(t *testing.T) {
	w := NewWaiters()
	defer w.Close()
	r := newResults()
	w.Add(100, 50*time.Millisecond, r.done("first")) // the timer is set for this one
	began := time.Now()
	w.Add(200, 150*time.Millisecond, r.done("late"))
	w.Add(300, time.Minute, r.done("patient"))
	w.Advance(100)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := r.get("late"); ok || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	err, ok := r.get("late")
	if !ok || !errors.Is(err, ErrSlaveTimeout) {
		t.Fatalf("late: answered %v (%v), want ErrSlaveTimeout", ok, err)
	}
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Fatalf("late timed out after %v, before its 150ms", d)
	}
	if _, ok := r.get("patient"); ok {
		t.Fatal("patient answered before its time or its end")
	}
	w.Advance(300)
	if err, ok := r.get("patient"); !ok || err != nil {
		t.Fatalf("patient: answered %v (%v)", ok, err)
	}
}

// Close answers every waiter ErrClosed, and every later one at once.
func TestWaitersClose(t *testing.T) {
	w := NewWaiters()
	r := newResults()
	w.Add(100, time.Minute, r.done("a"))
	w.Close()
	if err, ok := r.get("a"); !ok || !errors.Is(err, ErrClosed) {
		t.Fatalf("a: answered %v (%v), want ErrClosed", ok, err)
	}
	w.Add(50, time.Minute, r.done("b"))
	if err, ok := r.get("b"); !ok || !errors.Is(err, ErrClosed) {
		t.Fatalf("b after Close: answered %v (%v), want ErrClosed", ok, err)
	}
}

// Many waiters, their ends a little out of order as racing appenders
// register them: every one is answered exactly once, by the report that
// covers it or a later one, and the ones left time out together.
func TestWaitersMany(t *testing.T) {
	w := NewWaiters()
	defer w.Close()
	r := newResults()
	const n = 5000
	for i := range int64(n) {
		end := i + 1
		if i%10 == 3 {
			end += 5 // registered ahead of a few smaller ends
		}
		w.Add(end, time.Minute, r.done("w"+strconv.FormatInt(i, 10)))
	}
	for acked := int64(100); acked <= 4000; acked += 100 {
		w.Advance(acked)
		for i := range acked - 10 { // the reorder window answers these
			if err, ok := r.get("w" + strconv.FormatInt(i, 10)); !ok || err != nil {
				t.Fatalf("after Advance(%d): waiter %d answered %v (%v)", acked, i, ok, err)
			}
		}
	}
	for i := int64(4100); i < n; i++ {
		w.Add(i*1000, 30*time.Millisecond, r.done("t"+strconv.FormatInt(i, 10)))
	}
	w.Advance(n + 5)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.seq)
		r.mu.Unlock()
		if got == n+(n-4100) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := int64(4100); i < n; i++ {
		if err, ok := r.get("t" + strconv.FormatInt(i, 10)); !ok || !errors.Is(err, ErrSlaveTimeout) {
			t.Fatalf("waiter t%d: answered %v (%v), want ErrSlaveTimeout", i, ok, err)
		}
	}
	if len(r.seq) != n+(n-4100) {
		t.Fatalf("%d answers, want %d", len(r.seq), n+(n-4100))
	}
}

// AdvanceFrom answers only the waiters whose end lies in (from, acked]:
// the ones at or below from stay for a report that covers them (or time
// out), however many there are, without holding up the ones above it,
// and Add does not answer a new one below from at once.
func TestWaitersAdvanceFrom(t *testing.T) {
	w := NewWaiters()
	defer w.Close()
	r := newResults()
	for i := range 2 * reorderWindow {
		w.Add(int64(10+i), time.Minute, r.done("low"+strconv.Itoa(i)))
	}
	w.Add(1100, time.Minute, r.done("high"))
	w.AdvanceFrom(1000, 1200)
	if len(r.seq) != 1 || r.seq[0] != "high" {
		t.Fatalf("AdvanceFrom(1000, 1200) answered %v, want [high]", r.seq)
	}
	w.Add(500, time.Minute, r.done("late"))
	if _, ok := r.get("late"); ok {
		t.Fatal("a waiter below the floor answered at once")
	}
	w.AdvanceFrom(0, 600) // another slave, from the start, behind the first
	if len(r.seq) != 2+2*reorderWindow {
		t.Fatalf("AdvanceFrom(0, 600) after it answered %d waiters in all, want %d", len(r.seq), 2+2*reorderWindow)
	}
	for _, name := range r.seq {
		if err, _ := r.get(name); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// Reports whose stretches overlap make one stretch for Add's answer at
// once: slave A (from 0) and slave B (reconnected, from 900) both hold up
// to 1000, in either order, so a send ending at 700 registered after both
// is answered at once rather than waiting for A's next report (its
// heartbeat, after slaveTimeout). A send neither stretch covers waits.
func TestWaitersStretchesOfSeveralSlaves(t *testing.T) {
	cases := []struct {
		name    string
		reports [][2]int64 // from, acked
		end     int64
		atOnce  bool
	}{
		{"reconnected slave first", [][2]int64{{900, 1000}, {0, 1000}}, 700, true},
		{"reconnected slave last", [][2]int64{{0, 1000}, {900, 1000}}, 700, true},
		{"reconnected slave ahead", [][2]int64{{0, 950}, {900, 1000}}, 700, true},
		{"stretch grown downwards", [][2]int64{{900, 1000}, {500, 950}}, 700, true},
		{"apart", [][2]int64{{0, 500}, {900, 1000}}, 700, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := NewWaiters()
			defer w.Close()
			for _, r := range c.reports {
				w.AdvanceFrom(r[0], r[1])
			}
			got := make(chan error, 1)
			w.Add(c.end, time.Minute, func(err error) { got <- err })
			select {
			case err := <-got:
				if !c.atOnce || err != nil {
					t.Fatalf("reports %v: a send ending at %d answered at once (%v)", c.reports, c.end, err)
				}
			default:
				if c.atOnce {
					t.Fatalf("reports %v: a send ending at %d waits", c.reports, c.end)
				}
			}
		})
	}
}
