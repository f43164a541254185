package broker

import (
	"testing"

	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine of Wharf's
// behind; the official Go client's own are listed in IgnoreGoClient.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.IgnoreGoClient()...)
}
