package api

import "github.com/wharfmq/wharf/remoting"

// BrokerHeartbeat is the BROKER_HEARTBEAT (904) request header
// (BrokerHeartbeatRequestHeader).
type BrokerHeartbeat struct {
	ClusterName string
	BrokerAddr  string
	BrokerName  string
	BrokerID    int64
	// Epoch is the last epoch in the broker's epoch file.
	Epoch         int32
	MaxOffset     int64
	ConfirmOffset int64
	// HeartbeatTimeoutMillis is the broker's own timeout; 0 means the
	// controller's default.
	HeartbeatTimeoutMillis int64
	// ElectionPriority: lower is preferred; DefaultElectionPriority if absent.
	ElectionPriority int32
}

// Ext returns the ext fields.
func (h BrokerHeartbeat) Ext() map[string]string {
	e := ext{}.str("clusterName", h.ClusterName).str("brokerAddr", h.BrokerAddr).
		str("brokerName", h.BrokerName).i64("brokerId", h.BrokerID).
		i64("epoch", int64(h.Epoch)).i64("maxOffset", h.MaxOffset).
		i64("confirmOffset", h.ConfirmOffset).i64("electionPriority", int64(h.ElectionPriority))
	if h.HeartbeatTimeoutMillis > 0 {
		e.i64("heartbeatTimeoutMills", h.HeartbeatTimeoutMillis)
	}
	return e
}

// ParseBrokerHeartbeat reads a BROKER_HEARTBEAT header.
func ParseBrokerHeartbeat(c *remoting.Command) (BrokerHeartbeat, error) {
	r := extReader{c: c}
	h := BrokerHeartbeat{
		ClusterName:            r.strOr("clusterName", ""),
		BrokerAddr:             r.str("brokerAddr"),
		BrokerName:             r.str("brokerName"),
		BrokerID:               r.i64("brokerId"),
		Epoch:                  r.i32Or("epoch", 0),
		MaxOffset:              r.i64Or("maxOffset", 0),
		ConfirmOffset:          r.i64Or("confirmOffset", 0),
		HeartbeatTimeoutMillis: r.i64Or("heartbeatTimeoutMills", 0),
		ElectionPriority:       r.i32Or("electionPriority", DefaultElectionPriority),
	}
	return h, r.done("broker heartbeat header")
}

// AlterSyncStateSetRequest is the CONTROLLER_ALTER_SYNC_STATE_SET (1001)
// request header; the body is the proposed SyncStateSet with the current
// SyncStateSet epoch.
type AlterSyncStateSetRequest struct {
	BrokerName     string
	MasterBrokerID int64
	MasterEpoch    int32
	InvokeTime     int64
}

// Ext returns the ext fields.
func (h AlterSyncStateSetRequest) Ext() map[string]string {
	return ext{}.str("brokerName", h.BrokerName).i64("masterBrokerId", h.MasterBrokerID).
		i64("masterEpoch", int64(h.MasterEpoch)).i64("invokeTime", h.InvokeTime)
}

// ParseAlterSyncStateSetRequest reads a 1001 request header.
func ParseAlterSyncStateSetRequest(c *remoting.Command) (AlterSyncStateSetRequest, error) {
	r := extReader{c: c}
	h := AlterSyncStateSetRequest{
		BrokerName:     r.str("brokerName"),
		MasterBrokerID: r.i64("masterBrokerId"),
		MasterEpoch:    r.i32("masterEpoch"),
		InvokeTime:     r.i64Or("invokeTime", 0),
	}
	return h, r.done("alter sync state set header")
}

// AlterSyncStateSetResponse is the 1001 response header; the body is the
// new SyncStateSet.
type AlterSyncStateSetResponse struct {
	NewSyncStateSetEpoch int32
}

// Ext returns the ext fields.
func (h AlterSyncStateSetResponse) Ext() map[string]string {
	return ext{}.i64("newSyncStateSetEpoch", int64(h.NewSyncStateSetEpoch))
}

// ParseAlterSyncStateSetResponse reads a 1001 response header.
func ParseAlterSyncStateSetResponse(c *remoting.Command) (AlterSyncStateSetResponse, error) {
	r := extReader{c: c}
	h := AlterSyncStateSetResponse{NewSyncStateSetEpoch: r.i32("newSyncStateSetEpoch")}
	return h, r.done("alter sync state set response header")
}

// ElectMasterRequest is the CONTROLLER_ELECT_MASTER (1002) request header.
type ElectMasterRequest struct {
	ClusterName string
	BrokerName  string
	// BrokerID is the asking broker, or ControllerTriggered; with
	// DesignateElect it is the broker to make master.
	BrokerID       int64
	DesignateElect bool
	InvokeTime     int64
}

// Ext returns the ext fields.
func (h ElectMasterRequest) Ext() map[string]string {
	return ext{}.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName).
		i64("brokerId", h.BrokerID).boolean("designateElect", h.DesignateElect).
		i64("invokeTime", h.InvokeTime)
}

// ParseElectMasterRequest reads a 1002 request header.
func ParseElectMasterRequest(c *remoting.Command) (ElectMasterRequest, error) {
	r := extReader{c: c}
	h := ElectMasterRequest{
		ClusterName:    r.strOr("clusterName", ""),
		BrokerName:     r.str("brokerName"),
		BrokerID:       r.i64Or("brokerId", ControllerTriggered),
		DesignateElect: r.boolOr("designateElect", false),
		InvokeTime:     r.i64Or("invokeTime", 0),
	}
	return h, r.done("elect master header")
}

// MasterInfo is the response header of ELECT_MASTER (1002)
// (ElectMasterResponseHeader) and, without SyncStateSetEpoch, of
// GET_REPLICA_INFO (1004).
type MasterInfo struct {
	MasterBrokerID    int64 // NoMaster if none
	MasterAddress     string
	MasterEpoch       int32
	SyncStateSetEpoch int32
}

// Ext returns the ext fields of a 1002 response.
func (h MasterInfo) Ext() map[string]string {
	return ext{}.master("masterBrokerId", h.MasterBrokerID).optStr("masterAddress", h.MasterAddress).
		i64("masterEpoch", int64(h.MasterEpoch)).i64("syncStateSetEpoch", int64(h.SyncStateSetEpoch))
}

// ReplicaInfoExt returns the ext fields of a 1004 response
// (GetReplicaInfoResponseHeader has no syncStateSetEpoch: it is in the body).
func (h MasterInfo) ReplicaInfoExt() map[string]string {
	return ext{}.master("masterBrokerId", h.MasterBrokerID).optStr("masterAddress", h.MasterAddress).
		i64("masterEpoch", int64(h.MasterEpoch))
}

// ParseMasterInfo reads a 1002 or 1004 response header (a missing
// syncStateSetEpoch reads as 0).
func ParseMasterInfo(c *remoting.Command) (MasterInfo, error) {
	r := extReader{c: c}
	h := MasterInfo{
		MasterBrokerID:    r.i64Or("masterBrokerId", NoMaster),
		MasterAddress:     r.strOr("masterAddress", ""),
		MasterEpoch:       r.i32Or("masterEpoch", 0),
		SyncStateSetEpoch: r.i32Or("syncStateSetEpoch", 0),
	}
	return h, r.done("master info header")
}

// RegisterBrokerRequest is the CONTROLLER_REGISTER_BROKER (1003) request
// header (RegisterBrokerToControllerRequestHeader).
type RegisterBrokerRequest struct {
	ClusterName   string
	BrokerName    string
	BrokerID      int64
	BrokerAddress string
	InvokeTime    int64
}

// Ext returns the ext fields.
func (h RegisterBrokerRequest) Ext() map[string]string {
	return ext{}.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName).
		i64("brokerId", h.BrokerID).str("brokerAddress", h.BrokerAddress).i64("invokeTime", h.InvokeTime)
}

// ParseRegisterBrokerRequest reads a 1003 request header.
func ParseRegisterBrokerRequest(c *remoting.Command) (RegisterBrokerRequest, error) {
	r := extReader{c: c}
	h := RegisterBrokerRequest{
		ClusterName:   r.strOr("clusterName", ""),
		BrokerName:    r.str("brokerName"),
		BrokerID:      r.i64("brokerId"),
		BrokerAddress: r.str("brokerAddress"),
		InvokeTime:    r.i64Or("invokeTime", 0),
	}
	return h, r.done("register broker header")
}

// RegisterBrokerResponse is the 1003 response header; the master fields are
// set only when the master is alive. The body is the SyncStateSet.
type RegisterBrokerResponse struct {
	ClusterName string
	BrokerName  string
	MasterInfo
}

// Ext returns the ext fields.
func (h RegisterBrokerResponse) Ext() map[string]string {
	e := ext(h.MasterInfo.Ext())
	return e.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName)
}

// ParseRegisterBrokerResponse reads a 1003 response header.
func ParseRegisterBrokerResponse(c *remoting.Command) (RegisterBrokerResponse, error) {
	mi, err := ParseMasterInfo(c)
	if err != nil {
		return RegisterBrokerResponse{}, err
	}
	return RegisterBrokerResponse{
		ClusterName: c.ExtStringOr("clusterName", ""),
		BrokerName:  c.ExtStringOr("brokerName", ""),
		MasterInfo:  mi,
	}, nil
}

// GetReplicaInfoRequest is the CONTROLLER_GET_REPLICA_INFO (1004) request
// header. The response header is MasterInfo (ReplicaInfoExt), the body the
// SyncStateSet.
type GetReplicaInfoRequest struct {
	BrokerName string
}

// Ext returns the ext fields.
func (h GetReplicaInfoRequest) Ext() map[string]string {
	return ext{}.str("brokerName", h.BrokerName)
}

// ParseGetReplicaInfoRequest reads a 1004 request header.
func ParseGetReplicaInfoRequest(c *remoting.Command) (GetReplicaInfoRequest, error) {
	r := extReader{c: c}
	h := GetReplicaInfoRequest{BrokerName: r.str("brokerName")}
	return h, r.done("get replica info header")
}

// Metadata is the CONTROLLER_GET_METADATA_INFO (1005) response header
// (GetMetaDataResponseHeader).
type Metadata struct {
	Group                   string
	ControllerLeaderID      string
	ControllerLeaderAddress string
	IsLeader                bool
	// Peers is controllerDLegerPeers: "n0-host:port;n1-host:port".
	Peers string
}

// Ext returns the ext fields.
func (h Metadata) Ext() map[string]string {
	return ext{}.optStr("group", h.Group).optStr("controllerLeaderId", h.ControllerLeaderID).
		optStr("controllerLeaderAddress", h.ControllerLeaderAddress).boolean("isLeader", h.IsLeader).
		optStr("peers", h.Peers)
}

// ParseMetadata reads a 1005 response header.
func ParseMetadata(c *remoting.Command) (Metadata, error) {
	return Metadata{
		Group:                   c.ExtStringOr("group", ""),
		ControllerLeaderID:      c.ExtStringOr("controllerLeaderId", ""),
		ControllerLeaderAddress: c.ExtStringOr("controllerLeaderAddress", ""),
		IsLeader:                c.ExtBoolOr("isLeader", false),
		Peers:                   c.ExtStringOr("peers", ""),
	}, nil
}

// NotifyBrokerRoleChanged is the NOTIFY_BROKER_ROLE_CHANGED (1008) request
// header; the body is the SyncStateSet.
type NotifyBrokerRoleChanged struct {
	MasterAddress     string
	MasterEpoch       int32
	SyncStateSetEpoch int32
	MasterBrokerID    int64
}

// Ext returns the ext fields.
func (h NotifyBrokerRoleChanged) Ext() map[string]string {
	return ext{}.optStr("masterAddress", h.MasterAddress).i64("masterEpoch", int64(h.MasterEpoch)).
		i64("syncStateSetEpoch", int64(h.SyncStateSetEpoch)).master("masterBrokerId", h.MasterBrokerID)
}

// ParseNotifyBrokerRoleChanged reads a 1008 request header.
func ParseNotifyBrokerRoleChanged(c *remoting.Command) (NotifyBrokerRoleChanged, error) {
	r := extReader{c: c}
	h := NotifyBrokerRoleChanged{
		MasterAddress:     r.strOr("masterAddress", ""),
		MasterEpoch:       r.i32("masterEpoch"),
		SyncStateSetEpoch: r.i32("syncStateSetEpoch"),
		MasterBrokerID:    r.i64Or("masterBrokerId", NoMaster),
	}
	return h, r.done("notify broker role changed header")
}

// CleanBrokerDataRequest is the CLEAN_BROKER_DATA (1011) request header
// (CleanControllerBrokerDataRequestHeader).
type CleanBrokerDataRequest struct {
	ClusterName string
	BrokerName  string
	// BrokerControllerIdsToClean is "1;2"; empty means the whole group.
	BrokerControllerIdsToClean string
	IsCleanLivingBroker        bool
	InvokeTime                 int64
}

// Ext returns the ext fields.
func (h CleanBrokerDataRequest) Ext() map[string]string {
	return ext{}.optStr("clusterName", h.ClusterName).str("brokerName", h.BrokerName).
		optStr("brokerControllerIdsToClean", h.BrokerControllerIdsToClean).
		boolean("isCleanLivingBroker", h.IsCleanLivingBroker).i64("invokeTime", h.InvokeTime)
}

// ParseCleanBrokerDataRequest reads a 1011 request header.
func ParseCleanBrokerDataRequest(c *remoting.Command) (CleanBrokerDataRequest, error) {
	r := extReader{c: c}
	h := CleanBrokerDataRequest{
		ClusterName:                r.strOr("clusterName", ""),
		BrokerName:                 r.str("brokerName"),
		BrokerControllerIdsToClean: r.strOr("brokerControllerIdsToClean", ""),
		IsCleanLivingBroker:        r.boolOr("isCleanLivingBroker", false),
		InvokeTime:                 r.i64Or("invokeTime", 0),
	}
	return h, r.done("clean broker data header")
}

// GetNextBrokerIDRequest is the CONTROLLER_GET_NEXT_BROKER_ID (1012)
// request header.
type GetNextBrokerIDRequest struct {
	ClusterName string
	BrokerName  string
}

// Ext returns the ext fields.
func (h GetNextBrokerIDRequest) Ext() map[string]string {
	return ext{}.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName)
}

// ParseGetNextBrokerIDRequest reads a 1012 request header.
func ParseGetNextBrokerIDRequest(c *remoting.Command) (GetNextBrokerIDRequest, error) {
	r := extReader{c: c}
	h := GetNextBrokerIDRequest{ClusterName: r.strOr("clusterName", ""), BrokerName: r.str("brokerName")}
	return h, r.done("get next broker id header")
}

// GetNextBrokerIDResponse is the 1012 response header.
type GetNextBrokerIDResponse struct {
	ClusterName  string
	BrokerName   string
	NextBrokerID int64
}

// Ext returns the ext fields.
func (h GetNextBrokerIDResponse) Ext() map[string]string {
	return ext{}.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName).
		i64("nextBrokerId", h.NextBrokerID)
}

// ParseGetNextBrokerIDResponse reads a 1012 response header.
func ParseGetNextBrokerIDResponse(c *remoting.Command) (GetNextBrokerIDResponse, error) {
	r := extReader{c: c}
	h := GetNextBrokerIDResponse{
		ClusterName:  r.strOr("clusterName", ""),
		BrokerName:   r.strOr("brokerName", ""),
		NextBrokerID: r.i64("nextBrokerId"),
	}
	return h, r.done("get next broker id response header")
}

// ApplyBrokerIDRequest is the CONTROLLER_APPLY_BROKER_ID (1013) request
// header. The response header holds clusterName and brokerName only.
type ApplyBrokerIDRequest struct {
	ClusterName     string
	BrokerName      string
	AppliedBrokerID int64
	// RegisterCheckCode is "<brokerAddr>;<millis>": a broker that applies
	// again with the same code gets its id back.
	RegisterCheckCode string
}

// Ext returns the ext fields.
func (h ApplyBrokerIDRequest) Ext() map[string]string {
	return ext{}.str("clusterName", h.ClusterName).str("brokerName", h.BrokerName).
		i64("appliedBrokerId", h.AppliedBrokerID).str("registerCheckCode", h.RegisterCheckCode)
}

// ParseApplyBrokerIDRequest reads a 1013 request header.
func ParseApplyBrokerIDRequest(c *remoting.Command) (ApplyBrokerIDRequest, error) {
	r := extReader{c: c}
	h := ApplyBrokerIDRequest{
		ClusterName:       r.strOr("clusterName", ""),
		BrokerName:        r.str("brokerName"),
		AppliedBrokerID:   r.i64("appliedBrokerId"),
		RegisterCheckCode: r.str("registerCheckCode"),
	}
	return h, r.done("apply broker id header")
}

// GroupExt is the response header of 1013 (ApplyBrokerIdResponseHeader).
func GroupExt(clusterName, brokerName string) map[string]string {
	return ext{}.str("clusterName", clusterName).str("brokerName", brokerName)
}
