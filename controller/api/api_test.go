package api

import (
	"errors"
	"reflect"
	"testing"

	"github.com/wharfmq/wharf/remoting"
)

func cmd(ext map[string]string) *remoting.Command { return &remoting.Command{ExtFields: ext} }

func TestHeadersRoundTrip(t *testing.T) {
	hb := BrokerHeartbeat{ClusterName: "c", BrokerAddr: "127.0.0.1:1", BrokerName: "b", BrokerID: 2, Epoch: 3,
		MaxOffset: 400, ConfirmOffset: 300, HeartbeatTimeoutMillis: 3000, ElectionPriority: 5}
	if got, err := ParseBrokerHeartbeat(cmd(hb.Ext())); err != nil || got != hb {
		t.Errorf("heartbeat: %+v %v", got, err)
	}
	al := AlterSyncStateSetRequest{BrokerName: "b", MasterBrokerID: 1, MasterEpoch: 2, InvokeTime: 9}
	if got, err := ParseAlterSyncStateSetRequest(cmd(al.Ext())); err != nil || got != al {
		t.Errorf("alter: %+v %v", got, err)
	}
	el := ElectMasterRequest{ClusterName: "c", BrokerName: "b", BrokerID: 3, DesignateElect: true, InvokeTime: 1}
	if got, err := ParseElectMasterRequest(cmd(el.Ext())); err != nil || got != el {
		t.Errorf("elect: %+v %v", got, err)
	}
	mi := MasterInfo{MasterBrokerID: 2, MasterAddress: "a:1", MasterEpoch: 4, SyncStateSetEpoch: 5}
	if got, err := ParseMasterInfo(cmd(mi.Ext())); err != nil || got != mi {
		t.Errorf("master info: %+v %v", got, err)
	}
	rr := RegisterBrokerResponse{ClusterName: "c", BrokerName: "b", MasterInfo: mi}
	if got, err := ParseRegisterBrokerResponse(cmd(rr.Ext())); err != nil || got != rr {
		t.Errorf("register response: %+v %v", got, err)
	}
	nr := NotifyBrokerRoleChanged{MasterAddress: "a:1", MasterEpoch: 2, SyncStateSetEpoch: 3, MasterBrokerID: 1}
	if got, err := ParseNotifyBrokerRoleChanged(cmd(nr.Ext())); err != nil || got != nr {
		t.Errorf("notify: %+v %v", got, err)
	}
	ap := ApplyBrokerIDRequest{ClusterName: "c", BrokerName: "b", AppliedBrokerID: 1, RegisterCheckCode: "a:1;5"}
	if got, err := ParseApplyBrokerIDRequest(cmd(ap.Ext())); err != nil || got != ap {
		t.Errorf("apply: %+v %v", got, err)
	}
	md := Metadata{Group: "g", ControllerLeaderID: "n0", ControllerLeaderAddress: "a:1", IsLeader: true, Peers: "n0-a:1"}
	if got, _ := ParseMetadata(cmd(md.Ext())); got != md {
		t.Errorf("metadata: %+v", got)
	}
	cl := CleanBrokerDataRequest{BrokerName: "b", BrokerControllerIdsToClean: "1;2", IsCleanLivingBroker: true}
	if got, err := ParseCleanBrokerDataRequest(cmd(cl.Ext())); err != nil || got != cl {
		t.Errorf("clean: %+v %v", got, err)
	}
}

// Field names are RocketMQ's, checked against its header classes.
func TestExtFieldNames(t *testing.T) {
	got := MasterInfo{MasterBrokerID: NoMaster, MasterEpoch: 1, SyncStateSetEpoch: 2}.Ext()
	want := map[string]string{"masterEpoch": "1", "syncStateSetEpoch": "2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("no master: got %v, want %v (null id and address left out)", got, want)
	}
	hb := BrokerHeartbeat{BrokerName: "b", BrokerAddr: "a", HeartbeatTimeoutMillis: 10}.Ext()
	for _, k := range []string{"clusterName", "brokerAddr", "brokerName", "brokerId", "epoch", "maxOffset",
		"confirmOffset", "heartbeatTimeoutMills", "electionPriority"} {
		if _, ok := hb[k]; !ok {
			t.Errorf("heartbeat lacks %q", k)
		}
	}
}

func TestParseErrors(t *testing.T) {
	_, err := ParseBrokerHeartbeat(cmd(map[string]string{"brokerName": "b", "brokerAddr": "a"}))
	if !errors.Is(err, remoting.ErrMissingField) {
		t.Errorf("missing brokerId: %v", err)
	}
	_, err = ParseAlterSyncStateSetRequest(cmd(map[string]string{"brokerName": "b", "masterBrokerId": "x", "masterEpoch": "1"}))
	if !errors.Is(err, remoting.ErrBadField) {
		t.Errorf("bad masterBrokerId: %v", err)
	}
	_, err = ParseElectMasterRequest(cmd(map[string]string{"brokerName": "b", "brokerId": "99999999999999999999"}))
	if !errors.Is(err, remoting.ErrBadField) {
		t.Errorf("overflowing brokerId: %v", err)
	}
	if _, err := ParseIDs("1;x"); err == nil {
		t.Error("ParseIDs accepted x")
	}
}

func TestBodies(t *testing.T) {
	s := SyncStateSet{SyncStateSet: []int64{2, 1}, SyncStateSetEpoch: 3}
	if got := string(s.Encode()); got != `{"syncStateSet":[1,2],"syncStateSetEpoch":3}` {
		t.Errorf("SyncStateSet body %s", got)
	}
	back, err := DecodeSyncStateSet(s.Encode())
	if err != nil || !back.Contains(1) || !back.Contains(2) || back.SyncStateSetEpoch != 3 {
		t.Errorf("decode: %+v %v", back, err)
	}
	b := ElectMasterResponseBody{BrokerMemberGroup: BrokerMemberGroup{Cluster: "c", BrokerName: "b",
		BrokerAddrs: map[int64]string{1: "a:1"}}, SyncStateSet: []int64{1}}
	eb, err := DecodeElectMasterResponseBody(b.Encode())
	if err != nil || !reflect.DeepEqual(eb, b) {
		t.Errorf("elect body: %+v %v", eb, err)
	}
	ri := BrokerReplicasInfo{ReplicasInfoTable: map[string]ReplicasInfo{"b": {MasterBrokerID: 1, MasterAddress: "a:1",
		MasterEpoch: 2, SyncStateSetEpoch: 3, InSyncReplicas: []ReplicaIdentity{{BrokerName: "b", BrokerID: 1, BrokerAddress: "a:1", Alive: true}}}}}
	rb, err := DecodeBrokerReplicasInfo(ri.Encode())
	if err != nil || !reflect.DeepEqual(rb, ri) {
		t.Errorf("replicas info: %+v %v", rb, err)
	}
	for _, bad := range []string{"", "{", `{"syncStateSet":"x"}`, "null["} {
		if _, err := DecodeSyncStateSet([]byte(bad)); err == nil {
			t.Errorf("DecodeSyncStateSet(%q) accepted", bad)
		}
	}
}

// FuzzParseHeaders: no header parser panics on any ext value.
func FuzzParseHeaders(f *testing.F) {
	f.Add("brokerName", "b", "brokerId", "1")
	f.Add("masterEpoch", "-1", "designateElect", "TRUE")
	f.Add("appliedBrokerId", "9223372036854775808", "registerCheckCode", "")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		c := cmd(map[string]string{k1: v1, k2: v2, "brokerName": "b", "brokerAddr": "a"})
		_, _ = ParseBrokerHeartbeat(c)
		_, _ = ParseAlterSyncStateSetRequest(c)
		_, _ = ParseElectMasterRequest(c)
		_, _ = ParseMasterInfo(c)
		_, _ = ParseRegisterBrokerRequest(c)
		_, _ = ParseRegisterBrokerResponse(c)
		_, _ = ParseGetReplicaInfoRequest(c)
		_, _ = ParseMetadata(c)
		_, _ = ParseNotifyBrokerRoleChanged(c)
		_, _ = ParseCleanBrokerDataRequest(c)
		_, _ = ParseGetNextBrokerIDRequest(c)
		_, _ = ParseGetNextBrokerIDResponse(c)
		_, _ = ParseApplyBrokerIDRequest(c)
		_, _ = ParseIDs(v1)
		_, _ = DecodeSyncStateSet([]byte(v2))
		_, _ = DecodeBrokerNames([]byte(v2))
	})
}
