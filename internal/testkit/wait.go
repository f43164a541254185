package testkit

import (
	"fmt"
	"testing"
	"time"
)

// Poll is how often Eventually checks its condition.
const Poll = 5 * time.Millisecond

// Eventually checks cond every Poll until it holds and fails the test if it
// does not within timeout. cond must read observable state (a queue
// offset, a registry entry, a counter): it replaces sleeps that guess how
// long something takes. msg and args describe what was awaited.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	if !Within(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, fmt.Sprintf(msg, args...))
	}
}

// Within reports whether cond holds within timeout, checking every Poll;
// for callers that handle the failure themselves (in a goroutine, or to
// print more state).
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Poll)
	}
	return true
}

// Never checks cond every Poll for d and fails the test as soon as it
// holds. It is for checks that something does not happen (no
// notification, no second delivery), which have no event to wait for:
// it watches for a bounded time instead of sleeping blind.
func Never(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	if Within(d, cond) {
		t.Fatalf("within %v: %s", d, fmt.Sprintf(msg, args...))
	}
}

// MilliAfter waits until the wall clock's Unix millisecond is past ms and
// returns it: for tests that need store timestamps (milliseconds) on
// either side of a moment.
func MilliAfter(ms int64) int64 {
	for {
		if now := time.Now().UnixMilli(); now > ms {
			return now
		}
		time.Sleep(100 * time.Microsecond)
	}
}
