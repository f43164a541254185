package controller

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
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

// TestPeerPortTakesTheNameServersACL: a name server with ACL hosting a
// controller refuses unsigned controller requests on its own port; the
// controller's peer port, which brokers may list in controllerAddr
// instead, must refuse them too. Before, it served anyone.
func TestPeerPortTakesTheNameServersACL(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	nsAddr, peerAddr := ports[0], ports[1]
	aclPath := filepath.Join(t.TempDir(), "plain_acl.yml")
	if err := os.WriteFile(aclPath, []byte("accounts:\n  - {accessKey: brokerAK, secretKey: bkSecret}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	conf := strings.Join([]string{"enableControllerInNamesrv=true", "controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-" + peerAddr, "controllerDLegerSelfId=n0",
		"controllerStorePath=" + filepath.Join(t.TempDir(), "ctl")}, "\n")
	if err := ParseConfig(strings.NewReader(conf), &cfg, testkit.Logger(t)); err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nameserver.New(nameserver.Options{Listen: nsAddr, Logger: testkit.Logger(t), Hosted: c, ACLFile: aclPath})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })

	anon := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	t.Cleanup(func() { anon.Close() })
	signed := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t), Sign: acl.Signer("brokerAK", "bkSecret")})
	t.Cleanup(func() { signed.Close() })
	ctx := testCtx(t)
	next := func(rc *remoting.Client, addr string) *remoting.Command {
		t.Helper()
		req := remoting.NewRequest(api.CodeGetNextBrokerID, api.GetNextBrokerIDRequest{ClusterName: "c", BrokerName: "broker-a"}.Ext(), nil)
		resp, err := rc.Invoke(ctx, addr, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return next(signed, peerAddr).Code == remoting.RespSuccess
	}, "a signed request to be served on the peer port")
	for _, addr := range []string{nsAddr, peerAddr} {
		if resp := next(anon, addr); resp.Code != remoting.RespNoPermission {
			t.Errorf("unsigned GET_NEXT_BROKER_ID on %s: code %d %q, want %d", addr, resp.Code, resp.Remark, remoting.RespNoPermission)
		}
	}
}
