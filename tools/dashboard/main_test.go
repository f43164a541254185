package dashboard

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind (the server runs an HTTP listener that Close must stop).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
