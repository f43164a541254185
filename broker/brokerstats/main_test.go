package brokerstats

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (the sampler runs a goroutine that Close must stop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
