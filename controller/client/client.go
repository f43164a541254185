// Package client sends the controller's requests (package api) over a
// remoting.Client to one controller address. Each function is one request;
// a reply with a code other than success comes back as an *Error carrying
// the code, so callers can tell NOT_LEADER (2007) from a refusal.
// FindLeader asks a list of controllers who leads.
package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/remoting"
)

// Error is a controller reply with a code other than success.
type Error struct {
	Code   int16
	Remark string
}

func (e *Error) Error() string {
	return fmt.Sprintf("controller: code %d: %s", e.Code, e.Remark)
}

// Code returns the response code of err if it is (or wraps) an *Error,
// else -1.
func Code(err error) int16 {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// call invokes code at addr and returns the reply if its code is one of ok
// (success when ok is empty).
func call(ctx context.Context, rc *remoting.Client, addr string, code int16, ext map[string]string, body []byte, ok ...int16) (*remoting.Command, error) {
	resp, err := rc.Invoke(ctx, addr, remoting.NewRequest(code, ext, body))
	if err != nil {
		return nil, fmt.Errorf("controller %s: request %d: %w", addr, code, err)
	}
	if resp.Code == remoting.RespSuccess {
		return resp, nil
	}
	for _, c := range ok {
		if resp.Code == c {
			return resp, nil
		}
	}
	return resp, &Error{Code: resp.Code, Remark: resp.Remark}
}

// Heartbeat sends BROKER_HEARTBEAT oneway, as a Java broker does.
func Heartbeat(rc *remoting.Client, addr string, h api.BrokerHeartbeat) error {
	if err := rc.InvokeOneway(addr, remoting.NewRequest(api.CodeBrokerHeartbeat, h.Ext(), nil)); err != nil {
		return fmt.Errorf("controller %s: heartbeat: %w", addr, err)
	}
	return nil
}

// RenewLease sends BROKER_HEARTBEAT two-way: only the leader answers it
// with success, which renews the sender's lease (package controller's
// doc), with the group's master and SyncStateSet as GetReplicaInfo's.
// Take the time before calling: the lease runs from the send.
func RenewLease(ctx context.Context, rc *remoting.Client, addr string, h api.BrokerHeartbeat) (api.MasterInfo, api.SyncStateSet, error) {
	resp, err := call(ctx, rc, addr, api.CodeBrokerHeartbeat, h.Ext(), nil)
	if err != nil {
		return api.MasterInfo{}, api.SyncStateSet{}, err
	}
	return replicaInfo(resp)
}

// GetNextBrokerID asks which id a new replica of the group should apply for.
func GetNextBrokerID(ctx context.Context, rc *remoting.Client, addr string, req api.GetNextBrokerIDRequest) (int64, error) {
	resp, err := call(ctx, rc, addr, api.CodeGetNextBrokerID, req.Ext(), nil)
	if err != nil {
		return 0, err
	}
	h, err := api.ParseGetNextBrokerIDResponse(resp)
	return h.NextBrokerID, err
}

// ApplyBrokerID claims an id (code 2014 if it is taken by another check code).
func ApplyBrokerID(ctx context.Context, rc *remoting.Client, addr string, req api.ApplyBrokerIDRequest) error {
	_, err := call(ctx, rc, addr, api.CodeApplyBrokerID, req.Ext(), nil)
	return err
}

// RegisterBroker registers a replica's address and returns the group's
// master (if alive) and SyncStateSet.
func RegisterBroker(ctx context.Context, rc *remoting.Client, addr string, req api.RegisterBrokerRequest) (api.RegisterBrokerResponse, api.SyncStateSet, error) {
	resp, err := call(ctx, rc, addr, api.CodeRegisterBroker, req.Ext(), nil)
	if err != nil {
		return api.RegisterBrokerResponse{}, api.SyncStateSet{}, err
	}
	h, err := api.ParseRegisterBrokerResponse(resp)
	if err != nil {
		return h, api.SyncStateSet{}, err
	}
	sss, err := api.DecodeSyncStateSet(resp.Body)
	return h, sss, err
}

// ElectMaster asks for an election. MASTER_STILL_EXIST (2011) is not an
// error: the header then names the current master, and code says which it
// was.
func ElectMaster(ctx context.Context, rc *remoting.Client, addr string, req api.ElectMasterRequest) (api.MasterInfo, api.ElectMasterResponseBody, int16, error) {
	resp, err := call(ctx, rc, addr, api.CodeElectMaster, req.Ext(), nil, api.RespMasterStillExist)
	if err != nil {
		return api.MasterInfo{}, api.ElectMasterResponseBody{}, Code(err), err
	}
	h, err := api.ParseMasterInfo(resp)
	if err != nil {
		return h, api.ElectMasterResponseBody{}, resp.Code, err
	}
	b, err := api.DecodeElectMasterResponseBody(resp.Body)
	return h, b, resp.Code, err
}

// AlterSyncStateSet proposes a new SyncStateSet (with the current epoch in
// proposed.SyncStateSetEpoch) and returns the one the controller stored.
func AlterSyncStateSet(ctx context.Context, rc *remoting.Client, addr string, req api.AlterSyncStateSetRequest, proposed api.SyncStateSet) (api.SyncStateSet, error) {
	resp, err := call(ctx, rc, addr, api.CodeAlterSyncStateSet, req.Ext(), proposed.Encode())
	if err != nil {
		return api.SyncStateSet{}, err
	}
	return api.DecodeSyncStateSet(resp.Body)
}

// GetReplicaInfo returns a group's master and SyncStateSet. Sent to the
// leader and answered with success, it also renews the sender's lease when
// the sender is that group's master.
func GetReplicaInfo(ctx context.Context, rc *remoting.Client, addr, brokerName string) (api.MasterInfo, api.SyncStateSet, error) {
	resp, err := call(ctx, rc, addr, api.CodeGetReplicaInfo, api.GetReplicaInfoRequest{BrokerName: brokerName}.Ext(), nil)
	if err != nil {
		return api.MasterInfo{}, api.SyncStateSet{}, err
	}
	return replicaInfo(resp)
}

// replicaInfo reads the GET_REPLICA_INFO header and SyncStateSet body that
// 1004 and a two-way 904 answer with.
func replicaInfo(resp *remoting.Command) (api.MasterInfo, api.SyncStateSet, error) {
	h, err := api.ParseMasterInfo(resp)
	if err != nil {
		return h, api.SyncStateSet{}, err
	}
	sss, err := api.DecodeSyncStateSet(resp.Body)
	h.SyncStateSetEpoch = sss.SyncStateSetEpoch
	return h, sss, err
}

// GetMetadata asks one controller who leads.
func GetMetadata(ctx context.Context, rc *remoting.Client, addr string) (api.Metadata, error) {
	resp, err := call(ctx, rc, addr, api.CodeGetMetadataInfo, nil, nil)
	if err != nil {
		return api.Metadata{}, err
	}
	return api.ParseMetadata(resp)
}

// GetConfig returns one controller's configuration as properties text
// (GET_CONTROLLER_CONFIG).
func GetConfig(ctx context.Context, rc *remoting.Client, addr string) ([]byte, error) {
	resp, err := call(ctx, rc, addr, api.CodeGetControllerConfig, nil, nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// GetSyncStateData returns the replicas of the named groups.
func GetSyncStateData(ctx context.Context, rc *remoting.Client, addr string, brokerNames []string) (api.BrokerReplicasInfo, error) {
	resp, err := call(ctx, rc, addr, api.CodeGetSyncStateData, nil, api.EncodeBrokerNames(brokerNames))
	if err != nil {
		return api.BrokerReplicasInfo{}, err
	}
	return api.DecodeBrokerReplicasInfo(resp.Body)
}

// CleanBrokerData removes replicas (or a whole group) from the controller.
func CleanBrokerData(ctx context.Context, rc *remoting.Client, addr string, req api.CleanBrokerDataRequest) error {
	_, err := call(ctx, rc, addr, api.CodeCleanBrokerData, req.Ext(), nil)
	return err
}

// FindLeader asks each address in turn (each bounded by perTry) and
// returns the leader's address: the first of addrs that says it leads,
// else the leader address a follower named. A configured address is
// preferred: the caller reaches the controllers the way it was told to
// (a name server's port, a proxy), not only by the leader's peer address.
func FindLeader(ctx context.Context, rc *remoting.Client, addrs []string, perTry time.Duration) (string, error) {
	var errs []error
	named := ""
	for _, a := range addrs {
		tctx, cancel := context.WithTimeout(ctx, perTry)
		md, err := GetMetadata(tctx, rc, a)
		cancel()
		switch {
		case err != nil:
			errs = append(errs, err)
		case md.IsLeader:
			return a, nil
		case md.ControllerLeaderAddress != "" && named == "":
			named = md.ControllerLeaderAddress
		}
	}
	if named != "" {
		return named, nil
	}
	errs = append(errs, errors.New("no controller knows a leader"))
	return "", fmt.Errorf("controller: find leader among %v: %w", addrs, errors.Join(errs...))
}
