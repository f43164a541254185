package broker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/failover"
	"github.com/wharfmq/wharf/controller/api"
	"github.com/wharfmq/wharf/controller/client"
	"github.com/wharfmq/wharf/remoting"
)

// controllerRemote is the failover.Controller of a list of controller addresses
// (controllerAddr): heartbeats go to each, everything else to the leader,
// found with GET_METADATA_INFO (1005) and found again when a controller
// answers NOT_LEADER or cannot be reached.
type controllerRemote struct {
	rc    *remoting.Client
	addrs []string
	log   *slog.Logger

	mu     sync.Mutex
	leader string
}

// newControllerRemote returns a controllerRemote for addrs over clients made with
// opts (the broker's signature and TLS); notify is called when a
// controller pushes NOTIFY_BROKER_ROLE_CHANGED (1008) on our connection.
func newControllerRemote(addrs []string, notify func(), opts remoting.ClientOptions) *controllerRemote {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rc := remoting.NewClient(opts)
	rc.Handle(api.CodeNotifyBrokerRoleChanged, func(context.Context, *remoting.Conn, *remoting.Command) *remoting.Command {
		notify()
		return nil
	})
	return &controllerRemote{rc: rc, addrs: addrs, log: opts.Logger}
}

// Close closes the connections.
func (r *controllerRemote) Close() error { return r.rc.Close() }

// onLeader runs f against the leader, looking it up first if unknown, and
// once more after a NOT_LEADER or a failed connection.
func (r *controllerRemote) onLeader(ctx context.Context, f func(addr string) error) error {
	var err error
	for try := 0; try < 2; try++ {
		r.mu.Lock()
		addr := r.leader
		r.mu.Unlock()
		if addr == "" {
			if addr, err = client.FindLeader(ctx, r.rc, r.addrs, time.Second); err != nil {
				return err
			}
			// Only a configured address is kept: a leader address a
			// follower named (its peer address) serves this call, and the
			// next one looks again, so the broker returns to the links
			// it was configured with (a cut of them must cut it off).
			if slices.Contains(r.addrs, addr) {
				r.mu.Lock()
				r.leader = addr
				r.mu.Unlock()
			}
		}
		err = f(addr)
		var ce *client.Error
		if err == nil || (errors.As(err, &ce) && ce.Code != api.RespNotLeader) {
			return controllerErr(err)
		}
		r.mu.Lock()
		if r.leader == addr {
			r.leader = ""
		}
		r.mu.Unlock()
	}
	return err
}

// controllerErr gives the controller's refusals the driver acts on their errors.
func controllerErr(err error) error {
	switch client.Code(err) {
	case api.RespBrokerIDInvalid:
		return errors.Join(failover.ErrIDTaken, err)
	case api.RespFencedMasterEpoch, api.RespFencedSyncStateSetEpoch, api.RespInvalidMaster:
		return errors.Join(failover.ErrFenced, err)
	}
	return err
}

func invokeTime() int64 { return time.Now().UnixMilli() }

// NextBrokerID implements failover.Controller.
func (r *controllerRemote) NextBrokerID(ctx context.Context, cluster, brokerName string) (id int64, err error) {
	err = r.onLeader(ctx, func(addr string) (err error) {
		id, err = client.GetNextBrokerID(ctx, r.rc, addr, api.GetNextBrokerIDRequest{ClusterName: cluster, BrokerName: brokerName})
		return err
	})
	return id, err
}

// ApplyBrokerID implements failover.Controller.
func (r *controllerRemote) ApplyBrokerID(ctx context.Context, cluster, brokerName string, id int64, checkCode string) error {
	return r.onLeader(ctx, func(addr string) error {
		return client.ApplyBrokerID(ctx, r.rc, addr, api.ApplyBrokerIDRequest{ClusterName: cluster, BrokerName: brokerName,
			AppliedBrokerID: id, RegisterCheckCode: checkCode})
	})
}

// Register implements failover.Controller.
func (r *controllerRemote) Register(ctx context.Context, cluster, brokerName string, id int64, brokerAddr string) (rep failover.Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		h, sss, err := client.RegisterBroker(ctx, r.rc, addr, api.RegisterBrokerRequest{ClusterName: cluster,
			BrokerName: brokerName, BrokerID: id, BrokerAddress: brokerAddr, InvokeTime: invokeTime()})
		rep = toReplicas(h.MasterInfo, sss)
		return err
	})
	return rep, err
}

// ReplicaInfo implements failover.Controller.
func (r *controllerRemote) ReplicaInfo(ctx context.Context, brokerName string) (rep failover.Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		mi, sss, err := client.GetReplicaInfo(ctx, r.rc, addr, brokerName)
		rep = toReplicas(mi, sss)
		return err
	})
	return rep, err
}

// Elect implements failover.Controller. MASTER_NOT_AVAILABLE (2004) is an answer,
// not an error: the group has no master.
func (r *controllerRemote) Elect(ctx context.Context, cluster, brokerName string, id int64) (rep failover.Replicas, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		mi, body, _, err := client.ElectMaster(ctx, r.rc, addr, api.ElectMasterRequest{ClusterName: cluster,
			BrokerName: brokerName, BrokerID: id, InvokeTime: invokeTime()})
		if client.Code(err) == api.RespMasterNotAvailable {
			rep = failover.Replicas{}
			return nil
		}
		rep = toReplicas(mi, api.SyncStateSet{SyncStateSet: body.SyncStateSet, SyncStateSetEpoch: mi.SyncStateSetEpoch})
		return err
	})
	return rep, err
}

// AlterSyncStateSet implements failover.Controller.
func (r *controllerRemote) AlterSyncStateSet(ctx context.Context, brokerName string, masterID int64, masterEpoch int32, proposed failover.SyncStateSet) (got failover.SyncStateSet, err error) {
	err = r.onLeader(ctx, func(addr string) error {
		s, err := client.AlterSyncStateSet(ctx, r.rc, addr, api.AlterSyncStateSetRequest{BrokerName: brokerName,
			MasterBrokerID: masterID, MasterEpoch: masterEpoch, InvokeTime: invokeTime()},
			api.SyncStateSet{SyncStateSet: proposed.IDs, SyncStateSetEpoch: proposed.Epoch})
		got = failover.SyncStateSet{IDs: s.SyncStateSet, Epoch: s.SyncStateSetEpoch}
		return err
	})
	return got, err
}

// Heartbeat implements failover.Controller: oneway to every controller, so each
// knows the broker lives whichever becomes leader.
func (r *controllerRemote) Heartbeat(hb failover.Heartbeat) {
	h := apiHeartbeat(hb)
	for _, a := range r.addrs {
		if err := client.Heartbeat(r.rc, a, h); err != nil {
			r.log.Debug("controller heartbeat failed", "controller", a, "err", err)
		}
	}
}

// RenewLease implements failover.Controller: a two-way heartbeat, answered with
// success only by the leader, with the group as it sees it.
func (r *controllerRemote) RenewLease(ctx context.Context, hb failover.Heartbeat) (rep failover.Replicas, err error) {
	h := apiHeartbeat(hb)
	err = r.onLeader(ctx, func(addr string) error {
		mi, sss, err := client.RenewLease(ctx, r.rc, addr, h)
		rep = toReplicas(mi, sss)
		return err
	})
	return rep, err
}

func apiHeartbeat(hb failover.Heartbeat) api.BrokerHeartbeat {
	return api.BrokerHeartbeat{ClusterName: hb.Cluster, BrokerAddr: hb.Addr, BrokerName: hb.BrokerName, BrokerID: hb.ID,
		Epoch: hb.Epoch, MaxOffset: hb.MaxOffset, ConfirmOffset: hb.ConfirmOffset,
		HeartbeatTimeoutMillis: hb.TimeoutMillis, ElectionPriority: hb.ElectionPriority}
}

func toReplicas(mi api.MasterInfo, sss api.SyncStateSet) failover.Replicas {
	return failover.Replicas{MasterID: mi.MasterBrokerID, MasterAddr: mi.MasterAddress, MasterEpoch: mi.MasterEpoch,
		Sync: failover.SyncStateSet{IDs: sss.SyncStateSet, Epoch: sss.SyncStateSetEpoch}}
}
