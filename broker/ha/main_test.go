package ha

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (the loopback
// test runs a master and a slave).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
