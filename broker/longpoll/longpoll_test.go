package longpoll

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// answers records every answer the Hold gives, by pull name.
type answers struct {
	mu  sync.Mutex
	got map[string][]bool // name -> closing flags, one per answer
	ch  chan string
}

func newAnswers() *answers { return &answers{got: map[string][]bool{}, ch: make(chan string, 16)} }

func (a *answers) answer(p string, closing bool) {
	a.mu.Lock()
	a.got[p] = append(a.got[p], closing)
	a.mu.Unlock()
	a.ch <- p
}

func (a *answers) wait(t *testing.T, want string) {
	t.Helper()
	select {
	case p := <-a.ch:
		if p != want {
			t.Fatalf("answered %q, want %q", p, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%q not answered", want)
	}
}

func (a *answers) of(p string) []bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]bool(nil), a.got[p]...)
}

func noQueue(string, int32) (int64, bool) { return 0, false }

// TestNotifyWakesOnlyPullsBelow: a dispatch up to max wakes the pulls
// waiting below it, once each, and leaves the others parked.
func TestNotifyWakesOnlyPullsBelow(t *testing.T) {
	a := newAnswers()
	h := New(noQueue, a.answer)
	defer h.Close()
	h.Park(Wait{Topic: "T", QueueID: 1, Offset: 5, Suspend: time.Minute, ConnID: 7}, "at5")
	h.Park(Wait{Topic: "T", QueueID: 1, Offset: 9, Suspend: time.Minute, ConnID: 8}, "at9")
	h.Park(Wait{Topic: "T", QueueID: 2, Offset: 0, Suspend: time.Minute, ConnID: 9}, "q2")
	if n := len(h.Waiting("T", -1)); n != 3 || h.Held() != 3 {
		t.Fatalf("Waiting(T, -1) = %d, Held = %d; want 3", n, h.Held())
	}
	h.Notify("T", 1, 6)
	a.wait(t, "at5")
	h.Notify("T", 1, 6) // again: nothing left below 6
	if w := h.Waiting("T", 1); len(w) != 1 || w[0] != (Waiter{ConnID: 8, Offset: 9}) {
		t.Fatalf("Waiting(T, 1) = %v, want the pull at 9", w)
	}
	if p := h.Parked("T", 1); len(p) != 1 || p[0] != "at9" {
		t.Fatalf("Parked(T, 1) = %v, want at9", p)
	}
	if got := a.of("at5"); len(got) != 1 || got[0] {
		t.Fatalf("at5 answers %v, want one re-run", got)
	}
}

// TestParkSeesEarlierDispatch: a message dispatched before the park (the
// queue's max already past the offset) wakes the pull at once.
func TestParkSeesEarlierDispatch(t *testing.T) {
	a := newAnswers()
	h := New(func(string, int32) (int64, bool) { return 3, true }, a.answer)
	defer h.Close()
	h.Park(Wait{Topic: "T", Offset: 2, Suspend: time.Minute}, "p")
	a.wait(t, "p")
	if h.Held() != 0 {
		t.Fatalf("Held = %d after the wake", h.Held())
	}
}

// TestExpire: a pull nothing wakes is re-run when its suspend time is up.
func TestExpire(t *testing.T) {
	a := newAnswers()
	h := New(noQueue, a.answer)
	defer h.Close()
	h.Park(Wait{Topic: "T", Suspend: 10 * time.Millisecond}, "p")
	a.wait(t, "p")
	if got := a.of("p"); len(got) != 1 || got[0] || h.Held() != 0 {
		t.Fatalf("answers %v, Held %d; want one re-run and none held", got, h.Held())
	}
}

// TestClose answers every parked pull as closing, once, and refuses new
// ones; a later Notify answers nothing.
func TestClose(t *testing.T) {
	a := newAnswers()
	h := New(noQueue, a.answer)
	h.Park(Wait{Topic: "T", Offset: 1, Suspend: time.Minute}, "a")
	h.Park(Wait{Topic: "U", Offset: 1, Suspend: time.Minute}, "b")
	h.Close()
	if h.Park(Wait{Topic: "T", Suspend: time.Minute}, "late") {
		t.Fatal("Park after Close held the pull")
	}
	h.Notify("T", 0, 100)
	for _, p := range []string{"a", "b"} {
		if got := a.of(p); len(got) != 1 || !got[0] {
			t.Errorf("%s answers %v, want one closing answer", p, got)
		}
	}
	if got := a.of("late"); len(got) != 0 {
		t.Errorf("late answered %v by the Hold; the caller answers it", got)
	}
}
