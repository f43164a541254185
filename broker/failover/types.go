package failover

import (
	"context"
	"errors"
	"slices"
)

// NoMaster is the master id of a group without a master; controller ids
// start at 1.
const NoMaster int64 = 0

// SyncStateSet is a group's in-sync replicas and the set's epoch.
type SyncStateSet struct {
	IDs   []int64
	Epoch int32
}

// Has says whether id is a member.
func (s SyncStateSet) Has(id int64) bool { return slices.Contains(s.IDs, id) }

// Replicas is what the controller says of a group.
type Replicas struct {
	MasterID    int64 // NoMaster if none
	MasterAddr  string
	MasterEpoch int32
	Sync        SyncStateSet
}

// Heartbeat is what a broker tells the controllers about itself.
type Heartbeat struct {
	Cluster, BrokerName, Addr string
	ID                        int64
	Epoch                     int32 // the last epoch in its epoch file
	MaxOffset, ConfirmOffset  int64
	ElectionPriority          int32
	TimeoutMillis             int64
}

// Errors a Controller reports with a meaning the driver acts on.
var (
	// ErrIDTaken: another broker holds the id applied for (2014).
	ErrIDTaken = errors.New("failover: broker id taken")
	// ErrFenced: the request named a stale master or SyncStateSet epoch
	// (2000, 2001, 2002): the broker must re-read the group.
	ErrFenced = errors.New("failover: stale epoch")
)

// Controller is the controller group as the driver uses it. Every call
// goes to the current leader (the implementation finds it).
type Controller interface {
	NextBrokerID(ctx context.Context, cluster, brokerName string) (int64, error)
	ApplyBrokerID(ctx context.Context, cluster, brokerName string, id int64, checkCode string) error
	Register(ctx context.Context, cluster, brokerName string, id int64, addr string) (Replicas, error)
	ReplicaInfo(ctx context.Context, brokerName string) (Replicas, error)
	// Elect asks for a master; id is the candidate (the caller). A group
	// that still has a master answers with it, not an error.
	Elect(ctx context.Context, cluster, brokerName string, id int64) (Replicas, error)
	AlterSyncStateSet(ctx context.Context, brokerName string, masterID int64, masterEpoch int32, proposed SyncStateSet) (SyncStateSet, error)
	// Heartbeat tells every controller the broker lives (oneway).
	Heartbeat(hb Heartbeat)
	// RenewLease is a two-way heartbeat to the leader: it returns the
	// group as the leader sees it, and nil error only from the leader.
	RenewLease(ctx context.Context, hb Heartbeat) (Replicas, error)
}

// Progress is a replica's position in its log.
type Progress struct {
	Epoch         int32 // last epoch of its epoch file
	EpochStart    int64 // where that epoch begins
	MaxOffset     int64
	ConfirmOffset int64
}

// Follower is a replica connected to the master, as the master sees it.
type Follower struct {
	ID        int64
	Acked     int64 // the replica's last acknowledged end
	CaughtUp  int64 // unix nanos when it last held the master's end
	Connected bool
}

// Node is the broker the driver changes.
type Node interface {
	// BecomeMaster makes the broker the master of epoch with set.
	BecomeMaster(ctx context.Context, epoch int32, set SyncStateSet) error
	// BecomeSlave makes the broker replica id following masterAddr in
	// epoch.
	BecomeSlave(ctx context.Context, masterAddr string, id int64, epoch int32) error
	// SetAckSet sets the members whose acknowledgements a master waits
	// for (allAckInSyncStateSet).
	SetAckSet(ids []int64)
	Progress() Progress
	// Followers lists the replicas connected to a master.
	Followers() []Follower
}
