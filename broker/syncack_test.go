package broker

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/testkit"
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

// A pipelined batch of SYNC_MASTER sends is answered per send: a slave's
// report confirms only the bytes its connection was shipped, from where
// the slave said its log ended, so a record ending there is not covered
// by the report that covers the record after it. (A slave whose log
// diverged claims bytes there that are not the master's.)
func TestPipelinedSyncMasterSendsAnsweredEachByItsOwnEnd(t *testing.T) {
	st := testkit.OpenStore(t, nil)
	var ends []int64
	for i := range 2 {
		_, end, err := st.PutBatchNoWait([]*msg.Message{{Topic: "T", Body: []byte{byte(i)}, BornTimestamp: time.Now().UnixMilli()}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.WaitPut(end); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, end)
	}
	m, err := ha.NewMaster(ha.MasterOptions{Listen: "127.0.0.1:0", Log: st, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b := &Broker{}
	b.repl.master.Store(m)
	b.repl.slaveTimeout = 300 * time.Millisecond

	// A slave that says its log ends after the first record, then holds
	// the second: its connection confirms only (ends[0], ends[1]].
	c, err := net.Dial("tcp", m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep [ha.ReportSize]byte
	for _, at := range ends {
		ha.PutReport(&rep, at)
		if _, err := c.Write(rep[:]); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, 5*time.Second, func() bool { s := m.Slaves(); return len(s) == 1 && s[0].Acked == at },
			"the report of %d to be read", at)
	}
	batch := []pendingAck{
		{resp: &remoting.Command{}, end: ends[0], slave: true},
		{resp: &remoting.Command{}, end: ends[1], slave: true},
	}
	(&syncAcker{b: b}).awaitReplicas(batch)
	if got := batch[1].resp.Code; got != remoting.RespSuccess {
		t.Fatalf("the send the report covers: code %d (%s)", got, batch[1].resp.Remark)
	}
	if got := batch[0].resp.Code; got == remoting.RespSuccess {
		t.Fatal("the send ending where the slave's log began was answered SEND_OK by the report covering the next one")
	}
}
