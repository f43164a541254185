package autoswitch

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (the service tests run masters and slaves that Close must stop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
