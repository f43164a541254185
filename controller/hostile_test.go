package controller

import (
	"fmt"
	"io"
	"math"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
)

// TestHeartbeatsOfUnknownReplicasAreNotKept: anyone can send
// BROKER_HEARTBEAT, oneway, to every controller. A heartbeat for a broker
// name or id the group never recorded (APPLY_BROKER_ID) is not kept in
// the heartbeat table; before, each invented name stayed there for ever.
func TestHeartbeatsOfUnknownReplicasAreNotKept(t *testing.T) {
	cs := startGroup(t, 1)
	all := addrsOf(cs)
	forger := newFakeBroker(t, "127.0.0.1:1")
	for i := range 300 {
		hb := api.BrokerHeartbeat{ClusterName: "c", BrokerAddr: "127.0.0.1:1", BrokerName: fmt.Sprintf("forged-%d", i),
			BrokerID: int64(i), MaxOffset: 1 << 60, HeartbeatTimeoutMillis: 1 << 40}
		if err := client.Heartbeat(forger.rc, all[0], hb); err != nil {
			t.Fatal(err)
		}
	}
	// A real replica, registered after the forgeries, is kept.
	b := newFakeBroker(t, "127.0.0.1:2")
	b.register("", all)
	b.heartbeatOnce(all)
	waitAlive(t, cs[0], b.id)
	l := cs[0].live
	l.mu.Lock()
	n := len(l.mu.brokers)
	l.mu.Unlock()
	if n != 1 {
		t.Fatalf("the heartbeat table holds %d replicas, want the 1 registered", n)
	}
}

// fromStream is a raft.StreamLayer that dials from a given local IP, with
// the mux's Raft tag: a Raft peer as anyone could run one.
type fromStream struct {
	net.Listener
	local net.IP
}

func (s fromStream) Dial(a raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: s.local}}
	c, err := d.Dial("tcp", string(a))
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{raftTag}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestRaftFromAStrangerIsRefused: Raft believes any AppendEntries with a
// higher term; from a host that is no configured controller it must not
// reach Raft. Before, one such request deposed the leader (and a term of
// 2^64-1 wrapped the next election's to 0).
func TestRaftFromAStrangerIsRefused(t *testing.T) {
	cs := startGroup(t, 1) // its peer is on 127.0.0.1
	l := leader(t, cs)
	term := func() string { return l.raft.Load().Stats()["term"] }
	before := term()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 here: %v", err)
	}
	tr := raft.NewNetworkTransport(fromStream{ln, net.ParseIP("127.0.0.2")}, 1, 2*time.Second, io.Discard)
	t.Cleanup(func() { tr.Close() })
	var resp raft.AppendEntriesResponse
	err = tr.AppendEntries("n9", raft.ServerAddress(l.Addr()), &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("n9"), Addr: []byte(ln.Addr().String())},
		Term:      math.MaxUint64,
	}, &resp)
	if err == nil {
		t.Fatalf("a stranger's AppendEntries was answered: %+v", resp)
	}
	if !l.IsLeader() || term() != before {
		t.Fatalf("after a stranger's AppendEntries: leader %t, term %s (was %s)", l.IsLeader(), term(), before)
	}
}
