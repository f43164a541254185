package acl_test

import (
	"testing"

	"github.com/wharfmq/wharf/internal/testkit"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine of ours behind
// (the Go client's own are ignored).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.IgnoreGoClient()...)
}
