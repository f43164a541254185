package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/vfstest"
	"github.com/wharfmq/wharf/remoting"
)

// TestSendOnFullDisk is RELIABILITY T26 at the broker: with the disk over
// diskSpaceWarningLevelRatio a send answers SERVICE_NOT_AVAILABLE with a
// "disk full" remark within a second, pulls keep working, and sends resume
// without a restart once the disk has room.
func TestSendOnFullDisk(t *testing.T) {
	fs := &vfstest.UsageFS{FS: vfs.NewMem()}
	fs.UsedPct.Store(40)
	cfg := testConfig("data")
	// In memory: keep the key index small (its files are zero-filled).
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 1024, 4096
	b := startBroker(t, cfg, WithFS(fs))
	c := newTestClient(t, b.Addr())
	expectCode(t, c.send("Full", 0, props("UNIQ_KEY", "A1"), "before"), remoting.RespSuccess, "send")

	fs.UsedPct.Store(96)
	start := time.Now()
	var resp *remoting.Command
	testkit.Within(3*time.Second, func() bool {
		resp = c.call(remoting.CodeSendMessage, sendExt("Full", 0, props("UNIQ_KEY", "A2")), []byte("during"))
		return resp.Code != remoting.RespSuccess
	})
	if took := time.Since(start); resp.Code != remoting.RespServiceNotAvailable || !strings.Contains(resp.Remark, "disk full") || took > 1500*time.Millisecond {
		t.Fatalf("send on a full disk: code %d remark %q after %v", resp.Code, resp.Remark, took)
	}
	waitDispatched(t, b)
	pull := c.call(remoting.CodePullMessage, pullExt("CG", "Full", 0, 0, 2, 0), nil)
	expectCode(t, pull, remoting.RespSuccess, "pull while full")

	fs.UsedPct.Store(70)
	eventually(t, 3*time.Second, "sends resume", func() bool {
		return c.call(remoting.CodeSendMessage, sendExt("Full", 0, props("UNIQ_KEY", "A3")), []byte("after")).Code == remoting.RespSuccess
	})
}
