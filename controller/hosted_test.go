package controller

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/nameserver"
	"github.com/wharfmq/wharf/remoting"
)

// startHosted starts a name server hosting a controller read from a
// namesrv.conf text.
func startHosted(t *testing.T, conf, listen string) *nameserver.Server {
	t.Helper()
	cfg := DefaultConfig()
	if err := ParseConfig(strings.NewReader(conf), &cfg, testkit.Logger(t)); err != nil {
		t.Fatal(err)
	}
	if !cfg.EnableInNamesrv {
		t.Fatal("enableControllerInNamesrv not read")
	}
	c, err := New(cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nameserver.New(nameserver.Options{Listen: listen, Logger: testkit.Logger(t), Hosted: c})
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	return ns
}

// A name server with enableControllerInNamesrv serves the controller on its
// own port, tells it of closed connections, and the controller's state
// survives a restart on the same store.
func TestHostedInNameServer(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	nsAddr, peerAddr := ports[0], ports[1]
	conf := strings.Join([]string{
		"# namesrv.conf",
		"enableControllerInNamesrv=true",
		"controllerDLegerGroup=group1",
		"controllerDLegerPeers=n0-" + peerAddr,
		"controllerDLegerSelfId=n0",
		"controllerStorePath=" + filepath.Join(t.TempDir(), "ctl"),
		"controllerHeartBeatTimeoutMills=1000",
		"brokerLeaseMillis=600",
		"brokerLeaseMarginMillis=200",
		"controllerRaftHeartbeatTimeoutMillis=300",
		"listenPort=9876", // a name server key: ignored here
	}, "\n")
	ns := startHosted(t, conf, nsAddr)
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	ctx := testCtx(t)

	testkit.Eventually(t, 10*time.Second, func() bool {
		md, err := client.GetMetadata(ctx, rc, nsAddr)
		return err == nil && md.IsLeader && md.ControllerLeaderAddress == peerAddr && md.Peers == "n0-"+peerAddr
	}, "the hosted controller does not lead")

	b := newFakeBroker(t, "127.0.0.1:32911")
	b.register(nsAddr, []string{nsAddr})
	mi, _, code, err := client.ElectMaster(ctx, b.rc, nsAddr, api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: b.id})
	if err != nil || code != 0 || mi.MasterBrokerID != 1 || mi.MasterEpoch != 1 {
		t.Fatalf("elect through the name server port: %+v %d %v", mi, code, err)
	}
	// The name server still answers its own requests.
	if r, err := rc.Invoke(ctx, nsAddr, remoting.NewRequest(remoting.CodeGetBrokerClusterInfo, nil, nil)); err != nil || r.Code != 0 {
		t.Fatalf("name server request: %v %v", r, err)
	}
	// The peer port answers remoting too.
	if md, err := client.GetMetadata(ctx, rc, peerAddr); err != nil || !md.IsLeader {
		t.Fatalf("peer port: %+v %v", md, err)
	}
	alive := func() bool {
		d, err := client.GetSyncStateData(ctx, rc, nsAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		ri := d.ReplicasInfoTable["broker-a"]
		return len(ri.InSyncReplicas) == 1 && ri.InSyncReplicas[0].Alive
	}
	testkit.Eventually(t, 2*time.Second, alive, "registered broker not alive")
	// Its connection to the name server closes: inactive at once.
	b.rc.Close()
	testkit.Eventually(t, 2*time.Second, func() bool { return !alive() }, "closed connection left the broker alive")

	// Restart on the same store: same state, no second bootstrap.
	if err := ns.Close(); err != nil {
		t.Fatal(err)
	}
	startHosted(t, conf, nsAddr)
	rc2 := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc2.Close()
	testkit.Eventually(t, 10*time.Second, func() bool {
		got, _, err := client.GetReplicaInfo(ctx, rc2, nsAddr, "broker-a")
		return err == nil && got.MasterBrokerID == 1 && got.MasterEpoch == 1 && got.MasterAddress == b.addr
	}, "state lost across a restart")
}

// The shared port closes a connection whose first byte is neither Raft's
// nor remoting's, and serves remoting on the same port.
func TestSharedPortDemux(t *testing.T) {
	cs := startGroup(t, 1)
	leader(t, cs)
	nc, err := net.Dial("tcp", cs[0].Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("garbage connection: read %d, %v; want EOF", n, err)
	}
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	if md, err := client.GetMetadata(testCtx(t), rc, cs[0].Addr()); err != nil || !md.IsLeader {
		t.Fatalf("remoting on the peer port: %+v %v", md, err)
	}
}

// Malformed requests get an error reply, never a panic or a silent hang.
func TestMalformedRequests(t *testing.T) {
	cs := startGroup(t, 1)
	l := leader(t, cs)
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	ctx := testCtx(t)
	for _, tc := range []struct {
		code int16
		ext  map[string]string
		body string
	}{
		{api.CodeBrokerHeartbeat, map[string]string{"brokerName": "b"}, ""},
		{api.CodeBrokerHeartbeat, map[string]string{"brokerName": "b", "brokerAddr": "a", "brokerId": "x"}, ""},
		{api.CodeAlterSyncStateSet, map[string]string{"brokerName": "b", "masterBrokerId": "1", "masterEpoch": "1"}, "{not json"},
		{api.CodeAlterSyncStateSet, nil, ""},
		{api.CodeElectMaster, map[string]string{"brokerName": "b", "brokerId": "1e9"}, ""},
		{api.CodeRegisterBroker, map[string]string{"brokerId": "1"}, ""},
		{api.CodeGetReplicaInfo, nil, ""},
		{api.CodeGetSyncStateData, nil, "[1,2"},
		{api.CodeCleanBrokerData, map[string]string{"brokerName": "b", "brokerControllerIdsToClean": "1;x"}, ""},
		{api.CodeGetNextBrokerID, nil, ""},
		{api.CodeApplyBrokerID, map[string]string{"brokerName": "b", "appliedBrokerId": "-5", "registerCheckCode": ""}, ""},
		{api.CodeElectMaster, map[string]string{"brokerName": "unknown", "brokerId": "1"}, ""},
	} {
		r, err := rc.Invoke(ctx, l.Addr(), remoting.NewRequest(tc.code, tc.ext, []byte(tc.body)))
		if err != nil {
			t.Fatalf("code %d %v: %v", tc.code, tc.ext, err)
		}
		if r.Code == remoting.RespSuccess {
			t.Errorf("code %d %v %q: success", tc.code, tc.ext, tc.body)
		}
	}
}

func TestParseConfig(t *testing.T) {
	cfg := DefaultConfig()
	err := ParseConfig(strings.NewReader("controllerDLegerPeers=n0-127.0.0.1:9878;n1-127.0.0.1:9868\ncontrollerDLegerSelfId = n1\nenableElectUncleanMaster=true\n"), &cfg, nil)
	if err != nil || len(cfg.Peers) != 2 || cfg.Peers[1] != (Peer{"n1", "127.0.0.1:9868"}) || !cfg.ElectUnclean || cfg.Validate() != nil {
		t.Fatalf("%+v %v", cfg, err)
	}
	for _, bad := range []string{
		"controllerDLegerPeers=n0127.0.0.1:9878",
		"controllerDLegerPeers=n0-nohost",
		"controllerDLegerPeers=n0-127.0.0.1:1;n0-127.0.0.1:2",
		"brokerLeaseMillis=soon",
		"no separator",
	} {
		c := DefaultConfig()
		if err := ParseConfig(strings.NewReader(bad), &c, nil); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Booleans as broker.conf's (confval.ParseBool): true and false in any
	// case; strconv's 1 and t, which Java reads as false, refused.
	bools := 0
	for _, k := range configKeys {
		on, off := DefaultConfig(), DefaultConfig()
		if ParseConfig(strings.NewReader(k.name+"=tRuE\n"), &on, nil) != nil || ParseConfig(strings.NewReader(k.name+"=FALSE\n"), &off, nil) != nil ||
			k.get(&on) != "true" || k.get(&off) != "false" {
			continue // not a boolean key
		}
		bools++
		for _, v := range []string{"ture", "yes please", "1", "t"} {
			c := DefaultConfig()
			err := ParseConfig(strings.NewReader("# c\n"+k.name+"="+v+"\n"), &c, nil)
			if err == nil || !strings.Contains(err.Error(), "line 2: "+k.name+"=\""+v+"\"") {
				t.Errorf("%s=%s: %v, want an error naming line 2, the key and the value", k.name, v, err)
			}
		}
	}
	if bools != 3 {
		t.Errorf("%d boolean keys found, want 3 (enableControllerInNamesrv, enableElectUncleanMaster, notifyBrokerRoleChanged)", bools)
	}
	c := DefaultConfig()
	c.Peers, c.SelfID = []Peer{{"n0", "127.0.0.1:1"}}, "n9"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "n9") {
		t.Errorf("unknown self id: %v", err)
	}
}
