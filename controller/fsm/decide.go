package fsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wharfmq/wharf/controller/api"
)

// Refusal is a decision's "no": the response code and remark to answer.
type Refusal struct {
	Code   int16
	Remark string
}

func (r *Refusal) Error() string { return fmt.Sprintf("code %d: %s", r.Code, r.Remark) }

func refuse(code int16, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Remark: fmt.Sprintf(format, args...)}
}

// Liveness is what the leader knows about brokers, in memory.
type Liveness interface {
	// Alive: a heartbeat within the broker's timeout and its connection
	// not closed.
	Alive(brokerName string, id int64) bool
	// Heartbeat returns the broker's last heartbeat (epoch, max offset,
	// election priority), if any.
	Heartbeat(brokerName string, id int64) (api.BrokerHeartbeat, bool)
	// MayHoldLease reports whether the broker, if it is a master, may still
	// consider its lease valid (the fencing rule of package controller):
	// until then nobody else may become master of its group.
	MayHoldLease(brokerName string, id int64) bool
}

// NextBrokerID answers GET_NEXT_BROKER_ID.
func (s *State) NextBrokerID(brokerName string) int64 {
	if g := s.Groups[brokerName]; g != nil {
		return g.NextAssignBrokerID
	}
	return api.FirstBrokerID
}

// DecideApplyBrokerID decides APPLY_BROKER_ID: a new group accepts only
// the first id; a known group accepts a free id, or an id taken with the
// same check code (the same broker applying again).
func (s *State) DecideApplyBrokerID(req api.ApplyBrokerIDRequest) (Event, error) {
	addr, _, _ := strings.Cut(req.RegisterCheckCode, ";")
	ev := Event{Type: EventApplyBrokerID, ClusterName: req.ClusterName, BrokerName: req.BrokerName,
		BrokerID: req.AppliedBrokerID, BrokerAddress: addr, CheckCode: req.RegisterCheckCode}
	if req.AppliedBrokerID < api.FirstBrokerID {
		return Event{}, refuse(api.RespBrokerIDInvalid, "broker id %d is below %d", req.AppliedBrokerID, api.FirstBrokerID)
	}
	g := s.Groups[req.BrokerName]
	if g == nil {
		if req.AppliedBrokerID != api.FirstBrokerID {
			return Event{}, refuse(api.RespBrokerIDInvalid, "broker name %s is not registered; the first id is %d, not %d",
				req.BrokerName, api.FirstBrokerID, req.AppliedBrokerID)
		}
		return ev, nil
	}
	r, taken := g.Replicas[req.AppliedBrokerID]
	if taken && r.CheckCode != req.RegisterCheckCode {
		return Event{}, refuse(api.RespBrokerIDInvalid, "broker id %d of %s is taken", req.AppliedBrokerID, req.BrokerName)
	}
	return ev, nil
}

// DecideRegisterBroker decides CONTROLLER_REGISTER_BROKER: the replica must
// have applied for its id. The reply names the master only when it is
// alive. ev is non-nil when the replica's address changed.
func (s *State) DecideRegisterBroker(req api.RegisterBrokerRequest, live Liveness) (api.RegisterBrokerResponse, api.SyncStateSet, *Event, error) {
	resp := api.RegisterBrokerResponse{ClusterName: req.ClusterName, BrokerName: req.BrokerName}
	g := s.Groups[req.BrokerName]
	if g == nil {
		return resp, api.SyncStateSet{}, nil, refuse(api.RespBrokerNeedToBeRegistered, "broker name %s is not registered", req.BrokerName)
	}
	r, ok := g.Replicas[req.BrokerID]
	if !ok {
		return resp, api.SyncStateSet{}, nil, refuse(api.RespBrokerNeedToBeRegistered, "broker id %d is not registered in %s", req.BrokerID, req.BrokerName)
	}
	if g.HasMaster() && live.Alive(req.BrokerName, g.MasterBrokerID) {
		resp.MasterInfo = g.MasterInfo()
	}
	var ev *Event
	if r.Addr != req.BrokerAddress {
		ev = &Event{Type: EventUpdateBrokerAddress, ClusterName: req.ClusterName, BrokerName: req.BrokerName,
			BrokerID: req.BrokerID, BrokerAddress: req.BrokerAddress}
	}
	return resp, g.SyncState(), ev, nil
}

// DecideAlterSyncStateSet decides CONTROLLER_ALTER_SYNC_STATE_SET with
// RocketMQ's checks, in its order. It returns the event and the new epoch.
func (s *State) DecideAlterSyncStateSet(req api.AlterSyncStateSetRequest, proposed api.SyncStateSet, live Liveness) (Event, int32, error) {
	g := s.Groups[req.BrokerName]
	if g == nil {
		return Event{}, 0, refuse(api.RespAlterSyncStateSetFailed, "broker name %s is not registered", req.BrokerName)
	}
	newSet := sortedUnique(proposed.SyncStateSet)
	if slices.Equal(newSet, g.SyncStateSet) {
		return Event{}, 0, refuse(api.RespAlterSyncStateSetFailed, "the proposed SyncStateSet %v is the current one", newSet)
	}
	if !g.HasMaster() || g.MasterBrokerID != req.MasterBrokerID {
		return Event{}, 0, refuse(api.RespInvalidMaster, "the master of %s is %d, not %d", req.BrokerName, g.MasterBrokerID, req.MasterBrokerID)
	}
	if req.MasterEpoch != g.MasterEpoch {
		return Event{}, 0, refuse(api.RespFencedMasterEpoch, "the master epoch of %s is %d, not %d", req.BrokerName, g.MasterEpoch, req.MasterEpoch)
	}
	if proposed.SyncStateSetEpoch != g.SyncStateSetEpoch {
		return Event{}, 0, refuse(api.RespFencedSyncStateSetEpoch, "the SyncStateSet epoch of %s is %d, not %d",
			req.BrokerName, g.SyncStateSetEpoch, proposed.SyncStateSetEpoch)
	}
	for _, id := range newSet {
		if _, ok := g.Replicas[id]; !ok {
			return Event{}, 0, refuse(api.RespInvalidReplicas, "replica %d of %s is not registered", id, req.BrokerName)
		}
		if !live.Alive(req.BrokerName, id) {
			return Event{}, 0, refuse(api.RespBrokerNotAlive, "replica %d of %s is not alive", id, req.BrokerName)
		}
	}
	if !slices.Contains(newSet, g.MasterBrokerID) {
		return Event{}, 0, refuse(api.RespAlterSyncStateSetFailed, "the proposed SyncStateSet %v lacks the master %d", newSet, g.MasterBrokerID)
	}
	ev := Event{Type: EventAlterSyncStateSet, ClusterName: g.ClusterName, BrokerName: req.BrokerName, SyncStateSet: newSet}
	return ev, g.SyncStateSetEpoch + 1, nil
}

// ElectOutcome is the answer to an ELECT_MASTER that was not refused.
type ElectOutcome struct {
	// Event is nil when nothing changes (the master stays).
	Event *Event
	// Code is success (a new master), RespMasterStillExist (the master
	// stays), or RespMasterNotAvailable (the event records "no master").
	Code   int16
	Remark string
	// Master is the header of the reply, as it will be once Event applies.
	Master api.MasterInfo
	Body   api.ElectMasterResponseBody
}

// DecideElectMaster decides CONTROLLER_ELECT_MASTER (HA.md §5.5). The first
// election of a group (master epoch 0) makes the asking broker master.
// Otherwise the candidates are the SyncStateSet (all replicas when unclean,
// the SyncStateSet first), alive only. A master that may still hold its
// lease stays master (2011) whatever its liveness, and blocks a designated
// election of another broker (2012): Wharf's fencing. A designated broker
// is taken if it is a candidate, else nobody; otherwise the best candidate
// by epoch (desc), max offset (desc), election priority (asc), id (asc).
// Nobody: a controller-triggered request records "no master" (2004), a
// broker's request is refused (2012).
func (s *State) DecideElectMaster(req api.ElectMasterRequest, live Liveness, unclean bool) (ElectOutcome, error) {
	g := s.Groups[req.BrokerName]
	if g == nil {
		return ElectOutcome{}, refuse(api.RespBrokerNeedToBeRegistered, "broker name %s is not registered", req.BrokerName)
	}
	old := g.MasterBrokerID
	var designated int64 = api.NoMaster
	if req.DesignateElect {
		designated = req.BrokerID
	}
	if g.HasMaster() && live.MayHoldLease(req.BrokerName, old) {
		if designated == api.NoMaster || designated == old {
			return s.stays(g, "the master %d of %s is alive or may still hold its lease", old, req.BrokerName), nil
		}
		return ElectOutcome{}, refuse(api.RespElectMasterFailed,
			"the master %d of %s may still hold its lease; %d can be made master once it expired", old, req.BrokerName, designated)
	}
	var newMaster int64 = api.NoMaster
	if g.MasterEpoch == 0 && req.BrokerID > 0 {
		if _, ok := g.Replicas[req.BrokerID]; ok {
			newMaster = req.BrokerID // the first election: whoever asks first
		}
	}
	if newMaster == api.NoMaster {
		newMaster = s.pick(g, g.SyncStateSet, designated, live)
	}
	if newMaster == api.NoMaster && unclean {
		newMaster = s.pick(g, g.IDs(), designated, live)
	}
	if newMaster != api.NoMaster && newMaster == old {
		return s.stays(g, "the master %d of %s is still the best candidate", old, req.BrokerName), nil
	}
	if newMaster != api.NoMaster {
		ev := Event{Type: EventElectMaster, ClusterName: g.ClusterName, BrokerName: g.BrokerName, NewMaster: newMaster}
		return ElectOutcome{
			Event: &ev,
			Code:  0,
			Master: api.MasterInfo{MasterBrokerID: newMaster, MasterAddress: g.Addr(newMaster),
				MasterEpoch: g.MasterEpoch + 1, SyncStateSetEpoch: g.SyncStateSetEpoch + 1},
			Body: api.ElectMasterResponseBody{BrokerMemberGroup: memberGroup(g), SyncStateSet: []int64{newMaster}},
		}, nil
	}
	if req.BrokerID == api.ControllerTriggered && !req.DesignateElect && g.HasMaster() {
		ev := Event{Type: EventElectMaster, ClusterName: g.ClusterName, BrokerName: g.BrokerName, NewMaster: api.NoMaster}
		return ElectOutcome{
			Event:  &ev,
			Code:   api.RespMasterNotAvailable,
			Remark: fmt.Sprintf("the master %d of %s is gone and no replica qualifies", old, req.BrokerName),
			Master: api.MasterInfo{MasterEpoch: g.MasterEpoch + 1, SyncStateSetEpoch: g.SyncStateSetEpoch},
			Body:   api.ElectMasterResponseBody{BrokerMemberGroup: memberGroup(g), SyncStateSet: slices.Clone(g.SyncStateSet)},
		}, nil
	}
	if req.BrokerID == api.ControllerTriggered && !req.DesignateElect {
		return ElectOutcome{}, refuse(api.RespMasterNotAvailable, "%s has no master and no replica qualifies", req.BrokerName)
	}
	return ElectOutcome{}, refuse(api.RespElectMasterFailed, "no replica of %s qualifies as master", req.BrokerName)
}

func (s *State) stays(g *Group, format string, args ...any) ElectOutcome {
	return ElectOutcome{
		Code:   api.RespMasterStillExist,
		Remark: fmt.Sprintf(format, args...),
		Master: g.MasterInfo(),
		Body:   api.ElectMasterResponseBody{BrokerMemberGroup: memberGroup(g), SyncStateSet: slices.Clone(g.SyncStateSet)},
	}
}

// pick chooses among ids: alive, registered; the designated one or nobody
// if designated is set; else the best by epoch, offset, priority, id.
func (s *State) pick(g *Group, ids []int64, designated int64, live Liveness) int64 {
	type cand struct {
		id       int64
		epoch    int32
		offset   int64
		priority int32
	}
	var cs []cand
	for _, id := range ids {
		if _, ok := g.Replicas[id]; !ok || !live.Alive(g.BrokerName, id) {
			continue
		}
		c := cand{id: id, priority: api.DefaultElectionPriority}
		if hb, ok := live.Heartbeat(g.BrokerName, id); ok {
			c.epoch, c.offset, c.priority = hb.Epoch, hb.MaxOffset, hb.ElectionPriority
		}
		cs = append(cs, c)
	}
	if designated != api.NoMaster {
		if slices.ContainsFunc(cs, func(c cand) bool { return c.id == designated }) {
			return designated
		}
		return api.NoMaster
	}
	if len(cs) == 0 {
		return api.NoMaster
	}
	best := slices.MinFunc(cs, func(a, b cand) int {
		switch {
		case a.epoch != b.epoch:
			return cmpDesc(int64(a.epoch), int64(b.epoch))
		case a.offset != b.offset:
			return cmpDesc(a.offset, b.offset)
		case a.priority != b.priority:
			return cmpDesc(int64(b.priority), int64(a.priority))
		}
		return cmpDesc(b.id, a.id)
	})
	return best.id
}

// cmpDesc orders larger first.
func cmpDesc(a, b int64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

func memberGroup(g *Group) api.BrokerMemberGroup {
	addrs := make(map[int64]string, len(g.Replicas))
	for id, r := range g.Replicas {
		addrs[id] = r.Addr
	}
	return api.BrokerMemberGroup{Cluster: g.ClusterName, BrokerName: g.BrokerName, BrokerAddrs: addrs}
}

// ReplicaInfo answers CONTROLLER_GET_REPLICA_INFO (2008 for an unknown group).
func (s *State) ReplicaInfo(brokerName string) (api.MasterInfo, api.SyncStateSet, error) {
	g := s.Groups[brokerName]
	if g == nil {
		return api.MasterInfo{}, api.SyncStateSet{}, refuse(api.RespBrokerMetadataNotExist, "broker name %s is not registered", brokerName)
	}
	return g.MasterInfo(), g.SyncState(), nil
}

// SyncStateData answers CONTROLLER_GET_SYNC_STATE_DATA; unknown names are
// left out. No names means every group (a Wharf convenience for admin).
func (s *State) SyncStateData(names []string, live Liveness) api.BrokerReplicasInfo {
	if len(names) == 0 {
		for n := range s.Groups {
			names = append(names, n)
		}
	}
	out := api.BrokerReplicasInfo{ReplicasInfoTable: map[string]api.ReplicasInfo{}}
	for _, n := range names {
		g := s.Groups[n]
		if g == nil {
			continue
		}
		ri := api.ReplicasInfo{MasterBrokerID: g.MasterBrokerID, MasterAddress: g.Addr(g.MasterBrokerID),
			MasterEpoch: g.MasterEpoch, SyncStateSetEpoch: g.SyncStateSetEpoch,
			InSyncReplicas: []api.ReplicaIdentity{}, NotInSyncReplicas: []api.ReplicaIdentity{}}
		for _, id := range g.IDs() {
			r := api.ReplicaIdentity{BrokerName: n, BrokerID: id, BrokerAddress: g.Addr(id), Alive: live.Alive(n, id)}
			if g.InSync(id) {
				ri.InSyncReplicas = append(ri.InSyncReplicas, r)
			} else {
				ri.NotInSyncReplicas = append(ri.NotInSyncReplicas, r)
			}
		}
		out.ReplicasInfoTable[n] = ri
	}
	return out
}

// DecideCleanBrokerData decides CLEAN_BROKER_DATA: unless
// isCleanLivingBroker, a group with a master cannot be cleaned whole, and
// named replicas must not be alive.
func (s *State) DecideCleanBrokerData(req api.CleanBrokerDataRequest, live Liveness) (Event, error) {
	ids, err := api.ParseIDs(req.BrokerControllerIdsToClean)
	if err != nil {
		return Event{}, refuse(api.RespInvalidCleanBrokerData, "brokerControllerIdsToClean: %v", err)
	}
	g := s.Groups[req.BrokerName]
	if !req.IsCleanLivingBroker {
		if len(ids) == 0 && g != nil && g.HasMaster() {
			return Event{}, refuse(api.RespInvalidCleanBrokerData, "%s has a master; clean it by ids or with isCleanLivingBroker", req.BrokerName)
		}
		for _, id := range ids {
			if live.Alive(req.BrokerName, id) {
				return Event{}, refuse(api.RespInvalidCleanBrokerData, "replica %d of %s is alive", id, req.BrokerName)
			}
		}
	}
	if g == nil {
		return Event{}, refuse(api.RespInvalidCleanBrokerData, "broker name %s is not registered", req.BrokerName)
	}
	return Event{Type: EventCleanBrokerData, ClusterName: g.ClusterName, BrokerName: req.BrokerName, IDs: ids}, nil
}

// NeedReelect lists the groups whose master is gone (it cannot hold its
// lease any more) while some replica is alive.
func (s *State) NeedReelect(live Liveness) []string {
	var out []string
	for name, g := range s.Groups {
		if !g.HasMaster() || live.MayHoldLease(name, g.MasterBrokerID) {
			continue
		}
		for id := range g.Replicas {
			if live.Alive(name, id) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
