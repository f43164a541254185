package failover

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/remoting"
)

// Remote is the Controller of a list of controller addresses
// (controllerAddr): heartbeats go to each, everything else to the leader,
// found with GET_METADATA_INFO (1005) and found again when a controller
// answers NOT_LEADER or cannot be reached.
type Remote struct {
	rc    *remoting.Client
	addrs []string
	log   *slog.Logger

	mu     sync.Mutex
	leader string
}

// NewRemote returns a Remote for addrs; notify is called when a
// controller pushes NOTIFY_BROKER_ROLE_CHANGED (1008) on our connection.
func NewRemote(addrs []string, notify func(), logger *slog.Logger) *Remote {
	if logger == nil {
		logger = slog.Default()
	}
	rc := remoting.NewClient(remoting.ClientOptions{Logger: logger, DialTimeout: time.Second})
	rc.Handle(api.CodeNotifyBrokerRoleChanged, func(context.Context, *remoting.Conn, *remoting.Command) *remoting.Command {
		notify()
		return nil
	})
	return &Remote{rc: rc, addrs: addrs, log: logger}
}

// Close closes the connections.
func (r *Remote) Close() error { return r.rc.Close() }

// onLeader runs f against the leader, looking it up first if unknown, and
// once more after a NOT_LEADER or a failed connection.
func (r *Remote) onLeader(ctx context.Context, f func(addr string) error) error {
	var err error
	for try := 0; try < 2; try++ {
		r.mu.Lock()
		addr := r.leader
		r.mu.Unlock()
		if addr == "" {
			if addr, err = client.FindLeader(ctx, r.rc, r.addrs, time.Second); err != nil {
				return err
			}
			r.mu.Lock()
			r.leader = addr
			r.mu.Unlock()
		}
		err = f(addr)
		var ce *client.Error
		if err == nil || (errors.As(err, &ce) && ce.Code != api.RespNotLeader) {
			return mapErr(err)
		}
		r.mu.Lock()
		if r.leader == addr {
			r.leader = ""
		}
		r.mu.Unlock()
	}
	return err
}

// mapErr gives the controller's refusals the driver acts on their errors.
func mapErr(err error) error {
	switch client.Code(err) {
	case api.RespBrokerIDInvalid:
		return errors.Join(ErrIDTaken, err)
	case api.RespFencedMasterEpoch, api.RespFencedSyncStateSetEpoch, api.RespInvalidMaster:
		return errors.Join(ErrFenced, err)
	}
	return err
}

func now() int64 { return time.Now().UnixMilli() }

// NextBrokerID implements Controller.
func (r *Remote) NextBrokerID(ctx context.Context, cluster, brokerName string) (id int64, err error) {
	err = r.onLeader(ctx, func(addr string) (err error) {
		id, err = client.GetNextBrokerID(ctx, r.rc, addr, api.GetNextBrokerIDRequest{ClusterName: cluster, BrokerName: brokerName})
		return err
	})
	return id, err
}

// ApplyBrokerID implements Controller.
func (r *Remote) ApplyBrokerID(ctx context.Context, cluster, brokerName string, id int64, checkCode string) error {
	return r.onLeader(ctx, func(addr string) error {
		return client.ApplyBrokerID(ctx, r.rc, addr, api.ApplyBrokerIDRequest{ClusterName: cluster, BrokerName: brokerName,
			AppliedBrokerID: id, RegisterCheckCode: checkCode})
	})
}

// Register implements Controller.
func (r *Remote) Register(ctx context.Context, cluster, brokerName string, id int64, brokerAddr string) (rep Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		h, sss, err := client.RegisterBroker(ctx, r.rc, addr, api.RegisterBrokerRequest{ClusterName: cluster,
			BrokerName: brokerName, BrokerID: id, BrokerAddress: brokerAddr, InvokeTime: now()})
		rep = replicas(h.MasterInfo, sss)
		return err
	})
	return rep, err
}

// ReplicaInfo implements Controller.
func (r *Remote) ReplicaInfo(ctx context.Context, brokerName string) (rep Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		mi, sss, err := client.GetReplicaInfo(ctx, r.rc, addr, brokerName)
		rep = replicas(mi, sss)
		return err
	})
	return rep, err
}

// Elect implements Controller. MASTER_NOT_AVAILABLE (2004) is an answer,
// not an error: the group has no master.
func (r *Remote) Elect(ctx context.Context, cluster, brokerName string, id int64) (rep Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		mi, body, _, err := client.ElectMaster(ctx, r.rc, addr, api.ElectMasterRequest{ClusterName: cluster,
			BrokerName: brokerName, BrokerID: id, InvokeTime: now()})
		if client.Code(err) == api.RespMasterNotAvailable {
			rep = Replicas{}
			return nil
		}
		rep = replicas(mi, api.SyncStateSet{SyncStateSet: body.SyncStateSet, SyncStateSetEpoch: mi.SyncStateSetEpoch})
		return err
	})
	return rep, err
}

// AlterSyncStateSet implements Controller.
func (r *Remote) AlterSyncStateSet(ctx context.Context, brokerName string, masterID int64, masterEpoch int32, proposed SyncStateSet) (got SyncStateSet, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		s, err := client.AlterSyncStateSet(ctx, r.rc, addr, api.AlterSyncStateSetRequest{BrokerName: brokerName,
			MasterBrokerID: masterID, MasterEpoch: masterEpoch, InvokeTime: now()},
			api.SyncStateSet{SyncStateSet: proposed.IDs, SyncStateSetEpoch: proposed.Epoch})
		got = SyncStateSet{IDs: s.SyncStateSet, Epoch: s.SyncStateSetEpoch}
		return err
	})
	return got, err
}

// Heartbeat implements Controller: oneway to every controller, so each
// knows the broker lives whichever becomes leader.
func (r *Remote) Heartbeat(hb Heartbeat) {
	h := heartbeat(hb)
	for _, a := range r.addrs {
		if err := client.Heartbeat(r.rc, a, h); err != nil {
			r.log.Debug("controller heartbeat failed", "controller", a, "err", err)
		}
	}
}

// RenewLease implements Controller: a two-way heartbeat, answered with
// success only by the leader, with the group as it sees it.
func (r *Remote) RenewLease(ctx context.Context, hb Heartbeat) (rep Replicas, err error) {
	h := heartbeat(hb)
	err = r.onLeader(ctx, func(addr string) error {
		resp, err := r.rc.Invoke(ctx, addr, remoting.NewRequest(api.CodeBrokerHeartbeat, h.Ext(), nil))
		if err != nil {
			return err
		}
		if resp.Code != remoting.RespSuccess {
			return &client.Error{Code: resp.Code, Remark: resp.Remark}
		}
		mi, err := api.ParseMasterInfo(resp)
		if err != nil {
			return err
		}
		sss, err := api.DecodeSyncStateSet(resp.Body)
		rep = replicas(mi, sss)
		return err
	})
	return rep, err
}

func heartbeat(hb Heartbeat) api.BrokerHeartbeat {
	return api.BrokerHeartbeat{ClusterName: hb.Cluster, BrokerAddr: hb.Addr, BrokerName: hb.BrokerName, BrokerID: hb.ID,
		Epoch: hb.Epoch, MaxOffset: hb.MaxOffset, ConfirmOffset: hb.ConfirmOffset,
		HeartbeatTimeoutMillis: hb.TimeoutMillis, ElectionPriority: hb.ElectionPriority}
}

func replicas(mi api.MasterInfo, sss api.SyncStateSet) Replicas {
	return Replicas{MasterID: mi.MasterBrokerID, MasterAddr: mi.MasterAddress, MasterEpoch: mi.MasterEpoch,
		Sync: SyncStateSet{IDs: sss.SyncStateSet, Epoch: sss.SyncStateSetEpoch}}
}
