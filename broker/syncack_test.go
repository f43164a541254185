package broker

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
)

// TestSyncAckerPaths: under SYNC_FLUSH a lone send is answered by its
// reader (no acker), a pipelined burst gets an acker that answers every
// send, and the acker leaves once the connection has been idle.
func TestSyncAckerPaths(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushDiskType = config.SyncFlush
	b := startBroker(t, cfg)
	tc := newTestClient(t, b.Addr())

	next := int64(0)
	for i := range 20 {
		resp := tc.send("AckT", 0, "", fmt.Sprintf("lone %d", i))
		if off, _ := strconv.ParseInt(resp.ExtFields["queueOffset"], 10, 64); off != next {
			t.Fatalf("lone send %d at offset %d, want %d", i, off, next)
		}
		next++
	}
	if n := countAckers(b); n != 0 {
		t.Fatalf("%d ackers after one-at-a-time sends; the reader should answer them", n)
	}

	burst := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		offsets := make([]int64, 64)
		for i := range offsets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp := tc.call(remoting.CodeSendMessage, sendExt("AckT", 0, ""), []byte(fmt.Sprintf("burst %d/%d", round, i)))
				if resp.Code != remoting.RespSuccess {
					t.Errorf("burst send: code %d %s", resp.Code, resp.Remark)
					return
				}
				offsets[i], _ = strconv.ParseInt(resp.ExtFields["queueOffset"], 10, 64)
			}()
		}
		wg.Wait()
		seen := map[int64]bool{}
		for _, off := range offsets {
			if off < next || off >= next+64 || seen[off] {
				t.Fatalf("burst %d: offsets %v not a permutation of [%d, %d)", round, offsets, next, next+64)
			}
			seen[off] = true
		}
		next += 64
	}
	sawAcker := false
	for round := 0; round < 10 && !sawAcker; round++ {
		burst(round)
		sawAcker = countAckers(b) > 0
	}
	if !sawAcker {
		t.Fatal("no acker after 10 bursts of 64 concurrent sends on one connection")
	}
	eventually(t, ackerIdle+5*time.Second, "the acker to leave when idle", func() bool { return countAckers(b) == 0 })
	burst(99) // a new acker takes over
	tc.send("AckT", 0, "", "after")
}
