package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/controller"
	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

func TestAdminController(t *testing.T) {
	addr := testkit.FreePort(t)
	cfg := controller.DefaultConfig()
	cfg.Peers = []controller.Peer{{ID: "n0", Addr: addr}}
	cfg.SelfID = "n0"
	cfg.StorePath = filepath.Join(t.TempDir(), "ctl")
	cfg.RaftHeartbeatTimeout = 300 * time.Millisecond
	c, err := controller.New(cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testkit.Eventually(t, 10*time.Second, c.IsLeader, "the controller does not lead")

	// One replica registers and becomes master.
	rc := remoting.NewClient(remoting.ClientOptions{Logger: testkit.Logger(t)})
	defer rc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const baddr = "127.0.0.1:40911"
	hb := api.BrokerHeartbeat{ClusterName: "c", BrokerAddr: baddr, BrokerName: "broker-a", BrokerID: 1, ElectionPriority: 1}
	if err := client.ApplyBrokerID(ctx, rc, addr, api.ApplyBrokerIDRequest{ClusterName: "c", BrokerName: "broker-a",
		AppliedBrokerID: 1, RegisterCheckCode: baddr + ";1"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.RenewLease(ctx, rc, addr, hb); err != nil {
		t.Fatal(err)
	}
	if _, _, err := client.RegisterBroker(ctx, rc, addr, api.RegisterBrokerRequest{ClusterName: "c", BrokerName: "broker-a",
		BrokerID: 1, BrokerAddress: baddr}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := client.ElectMaster(ctx, rc, addr, api.ElectMasterRequest{BrokerName: "broker-a", BrokerID: 1}); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, error) {
		// Keep the replica alive; a two-way heartbeat is recorded before
		// its reply, so the command below sees it.
		if _, _, err := client.RenewLease(ctx, rc, addr, hb); err != nil {
			t.Fatal(err)
		}
		return adminAt("127.0.0.1:1", append([]string{"controller", "-a", addr}, args...)...)
	}
	out, err := run("status")
	if err != nil || !strings.Contains(out, addr+"  true") || !strings.Contains(out, "n0 "+addr) {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = run("sync-state", "broker-a")
	if err != nil || !strings.Contains(out, "master 1 "+baddr) || !strings.Contains(out, "masterEpoch 1") ||
		!hasRow(out, "1", baddr, "true", "true") {
		t.Errorf("sync-state: %v\n%s", err, out)
	}
	out, err = run("elect", "broker-a")
	if err != nil || !strings.Contains(out, "unchanged") {
		t.Errorf("elect: %v\n%s", err, out)
	}
	out, err = run("--json", "elect", "broker-a")
	if err != nil || !strings.Contains(out, `"masterBrokerId": 1`) {
		t.Errorf("elect --json: %v\n%s", err, out)
	}
	if out, err := run("elect", "broker-a", "--broker-id", "9"); err == nil || !strings.Contains(out, "2012") {
		t.Errorf("elect of an unknown replica: %v\n%s", err, out)
	}
	out, err = run("config")
	if err != nil || !strings.Contains(out, "# "+addr+"\n") || !strings.Contains(out, "controllerDLegerPeers=n0-"+addr+"\n") {
		t.Errorf("config: %v\n%s", err, out)
	}
	if out, err := run("sync-state", "nope"); err == nil {
		t.Errorf("sync-state of an unknown name succeeded:\n%s", out)
	}
	if out, err := adminAt("127.0.0.1:1", "controller", "-a", testkit.FreePort(t), "status"); err == nil {
		t.Errorf("status with no controller up succeeded:\n%s", out)
	}
}

// hasRow reports whether a line of out has exactly these fields.
func hasRow(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}
