package broker

import (
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/internal/vfstest"
	"github.com/wharfmq/wharf/remoting"
)

// TestSendRefusedWhileDispatchStalled is issue 9 §4 at the broker: a
// key-index file that cannot be created stalls the dispatcher; sends are
// then refused with SERVICE_NOT_AVAILABLE and a remark naming the cause
// (not acknowledged unseen), broker status shows the stall, and once the
// cause is gone the broker resumes without a restart and every
// acknowledged message can be pulled.
func TestSendRefusedWhileDispatchStalled(t *testing.T) {
	fs := &vfstest.NoCreateFS{FS: vfs.NewMem(), Part: "/index/"}
	cfg := testConfig("data")
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 64, 256
	b := startBroker(t, cfg, WithFS(fs))
	c := newTestClient(t, b.Addr())
	acked, _ := sendUntilRefused(t, c, "Stall", 100, 5)
	waitDispatched(t, b)
	if st := runtimeTable(t, c)["dispatchState"]; st != "ok" {
		t.Fatalf("dispatchState %q before the fault", st)
	}

	fs.Fail.Store(true)
	more, refused := sendUntilRefused(t, c, "Stall", 100, 2000)
	acked = append(acked, more...)
	if refused == nil || refused.Code != remoting.RespServiceNotAvailable ||
		!strings.Contains(refused.Remark, "dispatcher stalled") || !strings.Contains(refused.Remark, "no space left on device") {
		t.Fatalf("after %d sends acknowledged with the index failing: %+v", len(acked), refused)
	}
	if st := runtimeTable(t, c)["dispatchState"]; !strings.HasPrefix(st, "STALLED") || !strings.Contains(st, "no space left") {
		t.Fatalf("broker status while stalled: dispatchState %q", st)
	}

	fs.Fail.Store(false)
	eventually(t, 5*time.Second, "sends accepted again", func() bool {
		resp := c.call(remoting.CodeSendMessage, sendExt("Stall", 0, ""), []byte("after"))
		if resp.Code == remoting.RespSuccess {
			acked = append(acked, "after")
			return true
		}
		return false
	})
	waitDispatched(t, b)
	if st := runtimeTable(t, c)["dispatchState"]; st != "ok" {
		t.Fatalf("dispatchState %q after resuming", st)
	}
	sameBodies(t, pullBodies(t, c, "Stall", 0), acked)
}
