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
