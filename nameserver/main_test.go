package nameserver

import (
	"testing"

	"github.com/apache/rocketmq-client-go/v2/rlog"
	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind. The
// one exception is the cache janitor the Go client starts in a package
// init and never stops.
func TestMain(m *testing.M) {
	rlog.SetLogLevel("fatal")
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/patrickmn/go-cache.(*janitor).Run"))
}
