package fsm

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/wharfmq/wharf/controller/api"
)

// Replica is one registered replica of a group.
type Replica struct {
	Addr string `json:"addr"`
	// CheckCode is the registerCheckCode it applied with
	// ("<brokerAddr>;<millis>").
	CheckCode string `json:"checkCode"`
}

// Group is one broker name's replicas and sync state.
type Group struct {
	ClusterName string `json:"clusterName"`
	BrokerName  string `json:"brokerName"`
	// Replicas by controller-assigned id.
	Replicas map[int64]Replica `json:"replicas"`
	// NextAssignBrokerID is what GET_NEXT_BROKER_ID answers.
	NextAssignBrokerID int64 `json:"nextAssignBrokerId"`
	// MasterBrokerID is api.NoMaster when there is none.
	MasterBrokerID    int64   `json:"masterBrokerId"`
	MasterEpoch       int32   `json:"masterEpoch"`
	SyncStateSet      []int64 `json:"syncStateSet"` // sorted
	SyncStateSetEpoch int32   `json:"syncStateSetEpoch"`
}

// HasMaster reports whether the group has a master.
func (g *Group) HasMaster() bool { return g.MasterBrokerID != api.NoMaster }

// Addr returns the address of replica id, or "".
func (g *Group) Addr(id int64) string { return g.Replicas[id].Addr }

// InSync reports whether id is in the SyncStateSet.
func (g *Group) InSync(id int64) bool {
	_, ok := slices.BinarySearch(g.SyncStateSet, id)
	return ok
}

// IDs returns the replica ids in ascending order.
func (g *Group) IDs() []int64 { return slices.Sorted(maps.Keys(g.Replicas)) }

// SyncState returns the SyncStateSet body.
func (g *Group) SyncState() api.SyncStateSet {
	return api.SyncStateSet{SyncStateSet: slices.Clone(g.SyncStateSet), SyncStateSetEpoch: g.SyncStateSetEpoch}
}

// MasterInfo returns the master as a reply header.
func (g *Group) MasterInfo() api.MasterInfo {
	return api.MasterInfo{MasterBrokerID: g.MasterBrokerID, MasterAddress: g.Addr(g.MasterBrokerID),
		MasterEpoch: g.MasterEpoch, SyncStateSetEpoch: g.SyncStateSetEpoch}
}

func (g *Group) clone() *Group {
	c := *g
	c.Replicas = maps.Clone(g.Replicas)
	c.SyncStateSet = slices.Clone(g.SyncStateSet)
	return &c
}

// State is every group, by broker name.
type State struct {
	Groups map[string]*Group `json:"groups"`
}

// New returns an empty state.
func New() *State { return &State{Groups: map[string]*Group{}} }

// Group returns the group of a broker name, or nil. Do not modify it.
func (s *State) Group(brokerName string) *Group { return s.Groups[brokerName] }

// EventType names an event. Part of the Raft log format.
type EventType string

// The events, after RocketMQ's CT/impl/event/*.
const (
	EventApplyBrokerID       EventType = "applyBrokerId"
	EventElectMaster         EventType = "electMaster"
	EventAlterSyncStateSet   EventType = "alterSyncStateSet"
	EventUpdateBrokerAddress EventType = "updateBrokerAddress"
	EventCleanBrokerData     EventType = "cleanBrokerData"
)

// Event is one state change, the payload of a Raft log entry (as JSON).
// Fields unused by a type are left zero.
type Event struct {
	Type        EventType `json:"type"`
	ClusterName string    `json:"clusterName,omitempty"`
	BrokerName  string    `json:"brokerName"`
	// BrokerID: applyBrokerId, updateBrokerAddress.
	BrokerID int64 `json:"brokerId,omitempty"`
	// BrokerAddress: applyBrokerId, updateBrokerAddress.
	BrokerAddress string `json:"brokerAddress,omitempty"`
	// CheckCode: applyBrokerId.
	CheckCode string `json:"checkCode,omitempty"`
	// NewMaster: electMaster; api.NoMaster records "no master".
	NewMaster int64 `json:"newMaster,omitempty"`
	// SyncStateSet: alterSyncStateSet.
	SyncStateSet []int64 `json:"syncStateSet,omitempty"`
	// IDs: cleanBrokerData; empty cleans the whole group.
	IDs []int64 `json:"ids,omitempty"`
}

// Encode returns the log entry bytes.
func (e Event) Encode() []byte {
	b, _ := json.Marshal(e) // plain data always marshals
	return b
}

// DecodeEvent reads a log entry.
func DecodeEvent(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("fsm: decode event: %w", err)
	}
	return e, nil
}

// Apply changes the state by one committed event and reports whether it
// changed anything.
func (s *State) Apply(e Event) bool {
	g := s.Groups[e.BrokerName]
	switch e.Type {
	case EventApplyBrokerID:
		if g == nil {
			g = &Group{ClusterName: e.ClusterName, BrokerName: e.BrokerName, Replicas: map[int64]Replica{},
				NextAssignBrokerID: api.FirstBrokerID}
			s.Groups[e.BrokerName] = g
		}
		if _, ok := g.Replicas[e.BrokerID]; ok {
			return false
		}
		g.Replicas[e.BrokerID] = Replica{Addr: e.BrokerAddress, CheckCode: e.CheckCode}
		// As RocketMQ: the next id counts additions; an id applied out of
		// order can make it collide, and the apply check then refuses it.
		g.NextAssignBrokerID++
		return true
	case EventUpdateBrokerAddress:
		if g == nil {
			return false
		}
		r, ok := g.Replicas[e.BrokerID]
		if !ok || r.Addr == e.BrokerAddress {
			return false
		}
		r.Addr = e.BrokerAddress
		g.Replicas[e.BrokerID] = r
		return true
	case EventElectMaster:
		if g == nil {
			return false
		}
		g.MasterEpoch++
		g.MasterBrokerID = e.NewMaster
		if e.NewMaster != api.NoMaster {
			g.SyncStateSet = []int64{e.NewMaster}
			g.SyncStateSetEpoch++
		}
		return true
	case EventAlterSyncStateSet:
		if g == nil {
			return false
		}
		g.SyncStateSet = sortedUnique(e.SyncStateSet)
		g.SyncStateSetEpoch++
		return true
	case EventCleanBrokerData:
		if g == nil {
			return false
		}
		if len(e.IDs) == 0 {
			delete(s.Groups, e.BrokerName)
			return true
		}
		for _, id := range e.IDs {
			delete(g.Replicas, id)
			g.SyncStateSet = slices.DeleteFunc(g.SyncStateSet, func(x int64) bool { return x == id })
			if g.MasterBrokerID == id {
				// Wharf: a cleaned master is no master (RocketMQ keeps the
				// dangling id).
				g.MasterBrokerID = api.NoMaster
			}
		}
		if len(g.Replicas) == 0 {
			delete(s.Groups, e.BrokerName)
		}
		return true
	}
	return false
}

// Snapshot returns the whole state as JSON.
func (s *State) Snapshot() []byte {
	b, _ := json.Marshal(s) // plain data always marshals
	return b
}

// Restore reads a Snapshot.
func Restore(b []byte) (*State, error) {
	s := New()
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("fsm: restore snapshot: %w", err)
	}
	if s.Groups == nil {
		s.Groups = map[string]*Group{}
	}
	for name, g := range s.Groups {
		if g == nil {
			return nil, fmt.Errorf("fsm: restore snapshot: group %q is null", name)
		}
		if g.Replicas == nil {
			g.Replicas = map[int64]Replica{}
		}
	}
	return s, nil
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := New()
	for k, g := range s.Groups {
		c.Groups[k] = g.clone()
	}
	return c
}

func sortedUnique(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
