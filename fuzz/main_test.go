package fuzz

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a fuzz target's servers or clients leave a
// goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
