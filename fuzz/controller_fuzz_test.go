package fuzz

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/controller"
	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/remoting"
)

// controllerCodes are the requests a controller serves.
var controllerCodes = []int16{
	api.CodeBrokerHeartbeat, api.CodeAlterSyncStateSet, api.CodeElectMaster, api.CodeRegisterBroker,
	api.CodeGetReplicaInfo, api.CodeGetMetadataInfo, api.CodeGetSyncStateData, api.CodeCleanBrokerData,
	api.CodeGetNextBrokerID, api.CodeApplyBrokerID,
}

// FuzzControllerRequests sends arbitrary headers and bodies to a real
// single-node controller over the wire: every request gets a reply, and no
// handler panics (the remoting layer would turn a panic into a reply whose
// remark says "internal error").
func FuzzControllerRequests(f *testing.F) {
	addr := testkit.FreePort(f)
	cfg := controller.DefaultConfig()
	cfg.Peers = []controller.Peer{{ID: "n0", Addr: addr}}
	cfg.SelfID = "n0"
	cfg.StorePath = filepath.Join(f.TempDir(), "ctl")
	cfg.RaftHeartbeatTimeout = 200 * time.Millisecond
	c, err := controller.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	if err := c.Start(); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	testkit.Eventually(f, 10*time.Second, c.IsLeader, "the controller does not lead")
	rc := remoting.NewClient(remoting.ClientOptions{Logger: slog.New(slog.DiscardHandler)})
	f.Cleanup(func() { rc.Close() })

	f.Add(uint8(12), "brokerName", "b", "appliedBrokerId", "1", "")
	f.Add(uint8(9), "brokerName", "b", "registerCheckCode", "a;1", "")
	f.Add(uint8(1), "brokerName", "b", "masterBrokerId", "1", `{"syncStateSet":[1,2],"syncStateSetEpoch":1}`)
	f.Add(uint8(2), "brokerName", "b", "designateElect", "true", "")
	f.Add(uint8(6), "", "", "", "", `["b",null,1]`)
	f.Add(uint8(7), "brokerName", "b", "brokerControllerIdsToClean", ";;-1;", "")
	f.Add(uint8(0), "brokerName", "b", "brokerAddr", "a", "")
	f.Fuzz(func(t *testing.T, which uint8, k1, v1, k2, v2, body string) {
		code := controllerCodes[int(which)%len(controllerCodes)]
		ext := map[string]string{k1: v1, k2: v2, "brokerId": "1", "clusterName": "c", "masterEpoch": "1"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := rc.Invoke(ctx, addr, remoting.NewRequest(code, ext, []byte(body)))
		if err != nil {
			t.Fatalf("code %d: no reply: %v", code, err)
		}
		if strings.Contains(resp.Remark, "internal error") {
			t.Fatalf("code %d %v %q: handler panicked: %s", code, ext, body, resp.Remark)
		}
	})
}
