package api

import (
	"encoding/json"
	"fmt"
	"slices"
)

// SyncStateSet is the body of 1001 (request and response), 1003, 1004 and
// 1008: the in-sync replica ids and the epoch of that set. Part of the wire
// format: {"syncStateSet":[1,2],"syncStateSetEpoch":3}.
type SyncStateSet struct {
	SyncStateSet      []int64 `json:"syncStateSet"`
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
}

// Encode returns the JSON body, ids sorted.
func (s SyncStateSet) Encode() []byte {
	s.SyncStateSet = sortedIDs(s.SyncStateSet)
	b, _ := json.Marshal(s) // ints and a slice of ints always marshal
	return b
}

// DecodeSyncStateSet reads a SyncStateSet body.
func DecodeSyncStateSet(b []byte) (SyncStateSet, error) {
	var s SyncStateSet
	if err := json.Unmarshal(b, &s); err != nil {
		return SyncStateSet{}, fmt.Errorf("sync state set body: %w", err)
	}
	return s, nil
}

// Contains reports whether id is in the set.
func (s SyncStateSet) Contains(id int64) bool { return slices.Contains(s.SyncStateSet, id) }

// BrokerMemberGroup is one broker name's replicas by id.
type BrokerMemberGroup struct {
	// BrokerAddrs: Java writes the ids unquoted; encoding/json quotes them,
	// which fastjson reads.
	BrokerAddrs map[int64]string `json:"brokerAddrs"`
	BrokerName  string           `json:"brokerName"`
	Cluster     string           `json:"cluster"`
}

// ElectMasterResponseBody is the body of a 1002 response.
type ElectMasterResponseBody struct {
	BrokerMemberGroup BrokerMemberGroup `json:"brokerMemberGroup"`
	SyncStateSet      []int64           `json:"syncStateSet"`
}

// Encode returns the JSON body.
func (b ElectMasterResponseBody) Encode() []byte {
	b.SyncStateSet = sortedIDs(b.SyncStateSet)
	if b.BrokerMemberGroup.BrokerAddrs == nil {
		b.BrokerMemberGroup.BrokerAddrs = map[int64]string{}
	}
	out, _ := json.Marshal(b) // plain data always marshals
	return out
}

// DecodeElectMasterResponseBody reads a 1002 response body.
func DecodeElectMasterResponseBody(b []byte) (ElectMasterResponseBody, error) {
	var v ElectMasterResponseBody
	if err := json.Unmarshal(b, &v); err != nil {
		return ElectMasterResponseBody{}, fmt.Errorf("elect master body: %w", err)
	}
	return v, nil
}

// ReplicaIdentity is one replica in BrokerReplicasInfo.
type ReplicaIdentity struct {
	Alive         bool   `json:"alive"`
	BrokerAddress string `json:"brokerAddress"`
	BrokerID      int64  `json:"brokerId"`
	BrokerName    string `json:"brokerName"`
}

// ReplicasInfo is one broker name in BrokerReplicasInfo.
type ReplicasInfo struct {
	InSyncReplicas    []ReplicaIdentity `json:"inSyncReplicas"`
	MasterAddress     string            `json:"masterAddress,omitempty"`
	MasterBrokerID    int64             `json:"masterBrokerId,omitempty"`
	MasterEpoch       int32             `json:"masterEpoch"`
	NotInSyncReplicas []ReplicaIdentity `json:"notInSyncReplicas"`
	SyncStateSetEpoch int32             `json:"syncStateSetEpoch"`
}

// BrokerReplicasInfo is the body of a 1006 response.
type BrokerReplicasInfo struct {
	ReplicasInfoTable map[string]ReplicasInfo `json:"replicasInfoTable"`
}

// Encode returns the JSON body.
func (b BrokerReplicasInfo) Encode() []byte {
	if b.ReplicasInfoTable == nil {
		b.ReplicasInfoTable = map[string]ReplicasInfo{}
	}
	out, _ := json.Marshal(b) // plain data always marshals
	return out
}

// DecodeBrokerReplicasInfo reads a 1006 response body.
func DecodeBrokerReplicasInfo(b []byte) (BrokerReplicasInfo, error) {
	var v BrokerReplicasInfo
	if err := json.Unmarshal(b, &v); err != nil {
		return BrokerReplicasInfo{}, fmt.Errorf("broker replicas info body: %w", err)
	}
	return v, nil
}

// EncodeBrokerNames is the body of a 1006 request: a JSON list of names.
func EncodeBrokerNames(names []string) []byte {
	if names == nil {
		names = []string{}
	}
	b, _ := json.Marshal(names) // strings always marshal
	return b
}

// DecodeBrokerNames reads a 1006 request body; an empty body is no names.
func DecodeBrokerNames(b []byte) ([]string, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return nil, fmt.Errorf("broker names body: %w", err)
	}
	return names, nil
}

func sortedIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	if out == nil {
		out = []int64{}
	}
	slices.Sort(out)
	return out
}
