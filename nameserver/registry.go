package nameserver

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
)

// errConnClosed refuses a registration whose connection closed while it
// was being served: the close already dropped what the connection
// registered, so registering now would leave a broker bound to a dead
// connection.
var errConnClosed = errors.New("connection closed during registration")

// registry holds the route tables (Java's RouteInfoManager). All methods
// are safe for concurrent use.
//
// Invariants, kept under mu: every broker name in a cluster set and in a
// queue data has a BrokerData with at least one address; every address in
// a BrokerData has a liveness entry, and the reverse.
type registry struct {
	mu struct {
		sync.RWMutex
		clusters map[string]map[string]struct{}  // cluster → broker names
		brokers  map[string]*BrokerData          // broker name → addresses
		topics   map[string]map[string]QueueData // topic → broker name → queue data
		live     map[string]*liveBroker          // broker address → liveness
	}
}

// liveBroker is what the name server knows about one registered address.
type liveBroker struct {
	lastUpdate   time.Time
	dv           DataVersion
	connID       uint64 // the connection that last registered it
	haServerAddr string
	// stateVersion is the last registration's dataVersion.stateVersion
	// (RocketMQ 5: the broker's master epoch), kept even when the
	// version itself is not (a partial registration that needs the table).
	stateVersion int64
	// pending holds the topics of a split table received so far (parts 1
	// to i of k); nil when no split table is in progress.
	pending map[string]struct{}
}

// registration is one REGISTER_BROKER request, decoded.
type registration struct {
	cluster, name, addr, haServerAddr string
	id                                int64
	topics                            *body.RegisterBody // nil: no topic information
	// base, when set, makes the registration partial: its topics are merged
	// into the broker's, and its version is kept only if the broker's
	// stored version is base (else none, so QUERY_DATA_VERSION says changed
	// and the broker sends its whole table).
	base *DataVersion
	// part of parts: one piece of a table split in several registrations
	// (Wharf only). Pieces merge; the last removes the broker's topics that
	// no piece named. 0: not split.
	part, parts int
	connID      uint64
	connDone    <-chan struct{} // nil: never closes
}

// registerResult is what the reply tells a slave about its master.
type registerResult struct {
	first bool // the address was not registered before
	// stale: another address holds the brokerId with a higher
	// stateVersion; the registration was ignored and the address dropped
	// (RocketMQ 5). staleHolder is that address, staleVersion its version.
	stale        bool
	staleHolder  string
	staleVersion int64
	// needTable: a partial registration did not build on what the name
	// server holds; the broker should send its whole table.
	needTable                bool
	masterAddr, haServerAddr string
	// displaced is the live address, at the same stateVersion, that held
	// the brokerId until this registration took it ("" if none).
	displaced string
}

func newRegistry() *registry {
	r := &registry{}
	r.mu.clusters = make(map[string]map[string]struct{})
	r.mu.brokers = make(map[string]*BrokerData)
	r.mu.topics = make(map[string]map[string]QueueData)
	r.mu.live = make(map[string]*liveBroker)
	return r
}

// register records a broker address and, from a master whose data version
// changed (or that registers for the first time), its topic table. The
// table replaces what the broker name served before, so a topic deleted on
// the broker leaves the route at the next registration (Java 4.x keeps it
// until DELETE_TOPIC_IN_NAMESRV).
func (r *registry) register(reg registration, now time.Time) (registerResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reg.connDone != nil {
		select {
		case <-reg.connDone:
			return registerResult{}, errConnClosed
		default:
		}
	}
	// The address moved to another broker name: forget the old one.
	r.detachAddrLocked(reg.addr, reg.name)

	names := r.mu.clusters[reg.cluster]
	if names == nil {
		names = make(map[string]struct{})
		r.mu.clusters[reg.cluster] = names
	}
	names[reg.name] = struct{}{}

	bd := r.mu.brokers[reg.name]
	first := bd == nil
	if bd == nil {
		bd = &BrokerData{Cluster: reg.cluster, BrokerName: reg.name, BrokerAddrs: make(map[int64]string)}
		r.mu.brokers[reg.name] = bd
	}
	// The address changed role (slave promoted, say): drop its old id.
	// As in RocketMQ 5 this happens before the stateVersion check, so a
	// refused claim leaves the address registered under no id.
	for id, a := range bd.BrokerAddrs {
		if a == reg.addr && id != reg.id {
			delete(bd.BrokerAddrs, id)
		}
	}
	old, had := bd.BrokerAddrs[reg.id]
	displaced := ""
	if had && old != reg.addr {
		// Another address holds this id. A live holder with a higher
		// stateVersion (a newer master epoch) keeps it: the claimant is a
		// deposed master that has not learnt of its successor (RocketMQ 5
		// RouteInfoManager.registerBroker). Equal versions: the newer
		// registration wins, as in RocketMQ 4.
		if hl := r.mu.live[old]; hl != nil && hl.stateVersion > reg.stateVersion() {
			delete(r.mu.live, reg.addr)
			if len(bd.BrokerAddrs) == 0 {
				r.removeBrokerNameLocked(reg.name) // cannot happen: old holds the id
			}
			return registerResult{stale: true, staleHolder: old, staleVersion: hl.stateVersion}, nil
		}
		// Replaced, not kept alive. A live holder at the same
		// stateVersion is another running broker with this id: two
		// brokers configured alike take it from each other at every
		// registration.
		if hl := r.mu.live[old]; hl != nil && hl.stateVersion == reg.stateVersion() {
			displaced = old
		}
		delete(r.mu.live, old)
	}
	first = first || !had
	bd.BrokerAddrs[reg.id] = reg.addr

	prev := r.mu.live[reg.addr]
	needTable := false
	// buildsOn: a partial registration builds on the version held here.
	buildsOn := reg.base != nil && prev != nil && !first && prev.dv == *reg.base
	li := &liveBroker{lastUpdate: now, connID: reg.connID, haServerAddr: reg.haServerAddr, stateVersion: reg.stateVersion()}
	switch {
	case reg.topics == nil:
	case reg.parts > 1:
		needTable = !r.registerPartLocked(reg, prev, buildsOn, li)
	case reg.base != nil:
		if reg.id == 0 {
			r.mergeTopicsLocked(reg.name, reg.topics.TopicConfigTable)
		}
		if buildsOn {
			li.dv = reg.topics.DataVersion
		} else {
			needTable = true
		}
	default:
		if reg.id == 0 && (first || prev == nil || prev.dv != reg.topics.DataVersion) {
			r.replaceTopicsLocked(reg.name, reg.topics.TopicConfigTable)
		}
		li.dv = reg.topics.DataVersion
	}
	r.mu.live[reg.addr] = li

	res := registerResult{first: prev == nil, needTable: needTable, displaced: displaced}
	if reg.id != 0 {
		if master, ok := bd.BrokerAddrs[0]; ok {
			if ml := r.mu.live[master]; ml != nil {
				res.masterAddr, res.haServerAddr = master, ml.haServerAddr
			}
		}
	}
	return res, nil
}

// stateVersion is the registration's dataVersion.stateVersion, 0 when it
// carries no topic information.
func (reg *registration) stateVersion() int64 {
	if reg.topics == nil {
		return 0
	}
	return reg.topics.DataVersion.StateVersion
}

// registerPartLocked applies one part of a split table: its topics are
// merged at once (so no route disappears while the parts arrive), and the
// last part removes the broker's topics that no part named. A part that
// does not follow the one before (a lost part, a restarted name server)
// is merged but keeps no version: it reports false, and the broker sends
// its whole table again. buildsOn: reg's base is the version held for
// prev. REQUIRES: r.mu held for writing.
func (r *registry) registerPartLocked(reg registration, prev *liveBroker, buildsOn bool, li *liveBroker) bool {
	if reg.id == 0 {
		r.mergeTopicsLocked(reg.name, reg.topics.TopicConfigTable)
	}
	var pending map[string]struct{}
	switch {
	case reg.part == 1:
		// Sized by what arrived, never by k: k comes from the wire.
		pending = make(map[string]struct{}, len(reg.topics.TopicConfigTable))
	case buildsOn && prev.pending != nil:
		pending = prev.pending
	default:
		return false
	}
	for topic := range reg.topics.TopicConfigTable {
		pending[topic] = struct{}{}
	}
	li.dv = reg.topics.DataVersion
	if reg.part < reg.parts {
		li.pending = pending
	} else if reg.id == 0 {
		r.removeAbsentLocked(reg.name, pending)
	}
	return true
}

// replaceTopicsLocked makes table the topic set of broker name.
// REQUIRES: r.mu held for writing.
func (r *registry) replaceTopicsLocked(name string, table map[string]TopicConfig) {
	keep := make(map[string]struct{}, len(table))
	for topic := range table {
		keep[topic] = struct{}{}
	}
	r.removeAbsentLocked(name, keep)
	r.mergeTopicsLocked(name, table)
}

// removeAbsentLocked drops broker name from every topic not in keep.
// REQUIRES: r.mu held for writing.
func (r *registry) removeAbsentLocked(name string, keep map[string]struct{}) {
	for topic, qds := range r.mu.topics {
		if _, ok := keep[topic]; !ok {
			delete(qds, name)
			if len(qds) == 0 {
				delete(r.mu.topics, topic)
			}
		}
	}
}

// mergeTopicsLocked adds or updates the topics of table for broker name,
// leaving its other topics. REQUIRES: r.mu held for writing.
func (r *registry) mergeTopicsLocked(name string, table map[string]TopicConfig) {
	for topic, tc := range table {
		qds := r.mu.topics[topic]
		if qds == nil {
			qds = make(map[string]QueueData)
			r.mu.topics[topic] = qds
		}
		qds[name] = QueueData{BrokerName: name, ReadQueueNums: tc.ReadQueueNums,
			WriteQueueNums: tc.WriteQueueNums, Perm: tc.Perm, TopicSysFlag: tc.TopicSysFlag}
	}
}

// unregister removes one broker address (UNREGISTER_BROKER). It reports
// whether the address was registered under that name and id.
func (r *registry) unregister(name, addr string, id int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	bd := r.mu.brokers[name]
	if bd == nil || bd.BrokerAddrs[id] != addr {
		return false
	}
	delete(r.mu.live, addr)
	delete(bd.BrokerAddrs, id)
	if len(bd.BrokerAddrs) == 0 {
		r.removeBrokerNameLocked(name)
	}
	return true
}

// expire drops every address not registered since now-expiry and returns
// them.
func (r *registry) expire(now time.Time, expiry time.Duration) []string {
	return r.dropWhere(func(li *liveBroker) bool { return now.Sub(li.lastUpdate) > expiry })
}

// dropConn drops every address last registered through connection id and
// returns them.
func (r *registry) dropConn(id uint64) []string {
	return r.dropWhere(func(li *liveBroker) bool { return li.connID == id })
}

func (r *registry) dropWhere(match func(*liveBroker) bool) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var dropped []string
	for addr, li := range r.mu.live {
		if match(li) {
			dropped = append(dropped, addr)
		}
	}
	for _, addr := range dropped {
		delete(r.mu.live, addr)
		r.detachAddrLocked(addr, "")
	}
	sort.Strings(dropped)
	return dropped
}

// detachAddrLocked removes addr from every broker name except keep; a
// name left with no address goes with its queue data.
// REQUIRES: r.mu held for writing.
func (r *registry) detachAddrLocked(addr, keep string) {
	for name, bd := range r.mu.brokers {
		if name == keep {
			continue
		}
		for id, a := range bd.BrokerAddrs {
			if a == addr {
				delete(bd.BrokerAddrs, id)
			}
		}
		if len(bd.BrokerAddrs) == 0 {
			r.removeBrokerNameLocked(name)
		}
	}
}

// removeBrokerNameLocked forgets a broker name that has no address left:
// its cluster memberships and its queue data. A topic with no queue data
// left disappears. REQUIRES: r.mu held for writing.
func (r *registry) removeBrokerNameLocked(name string) {
	delete(r.mu.brokers, name)
	for cluster, names := range r.mu.clusters {
		delete(names, name)
		if len(names) == 0 {
			delete(r.mu.clusters, cluster)
		}
	}
	for topic, qds := range r.mu.topics {
		delete(qds, name)
		if len(qds) == 0 {
			delete(r.mu.topics, topic)
		}
	}
}

// route returns the route of topic, or false when no live broker serves
// it. Queue datas are sorted by broker name, as are broker datas.
func (r *registry) route(topic string) (TopicRouteData, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rd := TopicRouteData{FilterServerTable: map[string][]string{}, QueueDatas: []QueueData{}, BrokerDatas: []BrokerData{}}
	for _, qd := range r.mu.topics[topic] {
		rd.QueueDatas = append(rd.QueueDatas, qd)
	}
	slices.SortFunc(rd.QueueDatas, func(a, b QueueData) int { return strings.Compare(a.BrokerName, b.BrokerName) })
	for _, qd := range rd.QueueDatas {
		if bd := r.mu.brokers[qd.BrokerName]; bd != nil {
			rd.BrokerDatas = append(rd.BrokerDatas, bd.Clone())
		}
	}
	return rd, len(rd.QueueDatas) > 0 && len(rd.BrokerDatas) > 0
}

// clusterInfo returns every broker name with its addresses and every
// cluster with its broker names, sorted.
func (r *registry) clusterInfo() ClusterInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ci := ClusterInfo{BrokerAddrTable: make(map[string]BrokerData, len(r.mu.brokers)),
		ClusterAddrTable: make(map[string][]string, len(r.mu.clusters))}
	for name, bd := range r.mu.brokers {
		ci.BrokerAddrTable[name] = bd.Clone()
	}
	for cluster, names := range r.mu.clusters {
		list := make([]string, 0, len(names))
		for n := range names {
			list = append(list, n)
		}
		sort.Strings(list)
		ci.ClusterAddrTable[cluster] = list
	}
	return ci
}

// topicList returns every topic with queue data, sorted.
func (r *registry) topicList() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := make([]string, 0, len(r.mu.topics))
	for t := range r.mu.topics {
		list = append(list, t)
	}
	sort.Strings(list)
	return list
}

// deleteTopic forgets a topic on every broker (DELETE_TOPIC_IN_NAMESRV).
// A broker that still has it brings it back when its data version next
// changes. It reports whether the topic existed.
func (r *registry) deleteTopic(topic string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.mu.topics[topic]
	delete(r.mu.topics, topic)
	return ok
}

// queryDataVersion reports whether dv differs from what addr last
// registered (QUERY_DATA_VERSION); when it does not, the query counts as a
// sign of life, as in Java. It also returns the stored version.
func (r *registry) queryDataVersion(addr string, dv DataVersion, now time.Time) (changed bool, stored DataVersion, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	li := r.mu.live[addr]
	if li == nil {
		return true, DataVersion{}, false
	}
	if li.dv == dv {
		li.lastUpdate = now
		return false, li.dv, true
	}
	return true, li.dv, true
}

// IsCluster reports whether a registered broker belongs to cluster name
// (a cluster name is a system topic).
func (r *registry) IsCluster(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.mu.clusters[name]
	return ok
}

// IsBroker reports whether name is a registered broker name (a system
// topic).
func (r *registry) IsBroker(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.mu.brokers[name]
	return ok
}

// counts returns the number of clusters, broker names, live broker
// addresses and topics (metrics).
func (r *registry) counts() (clusters, brokers, live, topics int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.mu.clusters), len(r.mu.brokers), len(r.mu.live), len(r.mu.topics)
}
