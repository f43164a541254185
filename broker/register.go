package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/internal/atomicmax"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// registerTimeout bounds one REGISTER_BROKER, QUERY_DATA_VERSION or
// UNREGISTER_BROKER call.
const registerTimeout = 5 * time.Second

// registrar keeps the broker registered with every name server, at a cost
// that does not grow with the topic table on the common paths:
//
//   - A name server that lacks our table (at start, after it restarted or
//     missed a change, or after a topic was removed) gets the whole table,
//     compressed, in parts of at most splitRegistrationSize topics.
//   - A topic change sends only the changed topics (an increment), batched:
//     every change made while one registration is in flight goes in the
//     next.
//   - The periodic refresh asks QUERY_DATA_VERSION (322), which keeps the
//     broker alive on the name server without carrying any table, and
//     sends the table only when the name server says it changed.
//
// Parts after the first and increments carry ext wharfBaseDataVersion, the
// version they build on: a Wharf name server merges them into the table
// instead of replacing it, and keeps their version only when it holds the
// base (otherwise its next QUERY_DATA_VERSION answer is "changed" and the
// whole table comes again). A RocketMQ name server ignores the field and
// merges every registration whose version changed, which is the same.
//
// It owns one goroutine, started by start and stopped by stop.
type registrar struct {
	b      *Broker
	log    *slog.Logger
	addrs  []string
	period time.Duration
	client *remoting.Client

	bell    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	started bool
	// calls bounds every registration call; stop cancels it, so a name
	// server that takes connections and never answers cannot hold a
	// shutdown for a whole round.
	calls       context.Context
	cancelCalls context.CancelFunc

	// mu serializes rounds, so an unregister never races a register.
	mu   sync.Mutex
	ns   map[string]*nsState // by address; guarded by mu
	sent body.DataVersion    // version of the last drained changes; guarded by mu

	wmu     sync.Mutex
	waiters []chan struct{} // closed when the next round ends; guarded by wmu

	stats registerStats
	// registered is how many name servers hold our registration, as of
	// the last round (readiness and metrics read it without r.mu).
	registered atomic.Int32
}

// nsState is what the registrar knows about one name server.
type nsState struct {
	synced body.DataVersion // the version it holds for us, as far as we know
	full   bool             // it needs the whole table
	failed bool             // the last call failed: retry the table on the period only
}

// registerStats counts what registration sent (tests and benchmarks).
type registerStats struct {
	fullParts, increments, queries atomic.Int64
	maxPartBody, maxIncrementBody  atomic.Int64
}

func newRegistrar(b *Broker) *registrar {
	period := min(max(b.cfg.RegisterNameServerPeriod, 10*time.Second), 60*time.Second)
	r := &registrar{
		b: b, log: b.log.With("component", "register"), addrs: b.cfg.NameServers(), period: period,
		client: remoting.NewClient(b.clientOptions()),
		bell:   make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		ns: map[string]*nsState{},
	}
	r.calls, r.cancelCalls = context.WithCancel(context.Background())
	for _, a := range r.addrs {
		r.ns[a] = &nsState{full: true}
	}
	return r
}

// ring asks for a registration soon; it never blocks.
func (r *registrar) ring() {
	select {
	case r.bell <- struct{}{}:
	default:
	}
}

// registerWithin asks for a registration of what changed and waits for it
// at most d (Java registers synchronously when a send auto-creates a topic,
// so the producer's next route query, and a consumer started right after,
// find it). Concurrent callers share one registration. It reports whether
// the registration round ended within d.
func (r *registrar) registerWithin(d time.Duration) bool {
	return r.registerCtx(context.Background(), d)
}

// registerCtx is registerWithin that also stops waiting when ctx ends.
func (r *registrar) registerCtx(ctx context.Context, d time.Duration) bool {
	if len(r.addrs) == 0 {
		return true
	}
	ch := make(chan struct{})
	r.wmu.Lock()
	r.waiters = append(r.waiters, ch)
	r.wmu.Unlock()
	r.ring()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-r.quit:
	case <-ctx.Done():
	}
	return false
}

func (r *registrar) start() {
	r.started = true
	go r.loop()
}

func (r *registrar) loop() {
	defer close(r.done)
	if len(r.addrs) == 0 {
		<-r.quit
		return
	}
	t := time.NewTicker(r.period)
	defer t.Stop()
	fast := time.NewTimer(awaitMasterPoll)
	defer fast.Stop()
	periodic, poll := true, false
	for {
		r.round(periodic, poll)
		// A slave told of a master the name servers do not name yet polls
		// them every awaitMasterPoll, for the master's HA address.
		var fastC <-chan time.Time
		if r.b.awaitingMaster() {
			fast.Reset(awaitMasterPoll)
			fastC = fast.C
		}
		select {
		case <-r.quit:
			return
		case <-t.C:
			periodic, poll = true, false
		case <-r.bell:
			periodic, poll = false, false
		case <-fastC:
			periodic, poll = false, true
		}
	}
}

// awaitMasterPoll is how often a slave re-registers while the name
// servers do not name the master it was told to follow (BecomeSlave).
const awaitMasterPoll = 200 * time.Millisecond

// roleChanged re-registers with every name server at once, the whole
// table under the new brokerId and stateVersion (even with one that
// failed lately), and waits for that round (each call bounded by
// registerTimeout) or for ctx.
func (r *registrar) roleChanged(ctx context.Context) {
	r.mu.Lock()
	for _, st := range r.ns {
		st.full, st.failed = true, false
	}
	r.mu.Unlock()
	r.registerCtx(ctx, 2*registerTimeout)
}

// round registers what each name server lacks. periodic rounds also check
// that every name server still holds our version, and retry those that
// failed. A slave registers on periodic rounds and polls (poll) even when
// nothing changed, to learn its master from the replies.
func (r *registrar) round(periodic, poll bool) {
	r.wmu.Lock()
	waiters := r.waiters
	r.waiters = nil
	r.wmu.Unlock()
	defer func() {
		for _, ch := range waiters {
			close(ch)
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	defer r.countRegistered()
	role := r.b.role()
	if role.pending {
		return // nothing to register until the broker has a role
	}
	var down map[string]bool
	if periodic {
		down = r.probe()
	}
	// tryTable: a name server that failed lately gets the table only on
	// the period, and not when it did not even answer the probe.
	tryTable := func(addr string, st *nsState) bool { return !down[addr] && (periodic || !st.failed) }
	needTable := false
	for addr, st := range r.ns {
		needTable = needTable || (st.full || st.synced != r.sent) && tryTable(addr, st)
	}
	d := r.b.topics.Drain(needTable)
	// RocketMQ 5 sets stateVersion to the master epoch at each role
	// change; name servers keep the higher one's claim to a brokerId.
	d.Version.StateVersion = int64(role.epoch)
	base := r.sent
	r.sent = d.Version
	// A slave learns its master only from REGISTER_BROKER replies
	// (QUERY_DATA_VERSION's carry nothing), so its periodic rounds always
	// register, with an empty increment when nothing changed.
	slavePoll := (periodic || poll) && role.slave
	if !needTable && !d.Removed && len(d.Changed) == 0 && !slavePoll {
		return
	}
	var masters masterReplies
	// Each body is encoded once, by the first name server that needs it.
	var parts, incr []*remoting.Command
	var partsOnce, incrOnce sync.Once
	fullParts := func() []*remoting.Command {
		partsOnce.Do(func() { parts = r.fullRequests(d.Table, d.Version, role.brokerID) })
		return parts
	}
	increment := func() []*remoting.Command {
		incrOnce.Do(func() {
			incr = []*remoting.Command{r.request(d.Changed, d.Version, &base, role.brokerID)}
			r.stats.increments.Add(1)
			atomicmax.Raise(&r.stats.maxIncrementBody, int64(len(incr[0].Body)))
		})
		return incr
	}
	r.each(func(addr string, st *nsState) {
		var reqs []*remoting.Command
		switch {
		case !st.full && !d.Removed && st.synced == base:
			if len(d.Changed) == 0 && !slavePoll {
				return
			}
			reqs = increment()
		case d.Table == nil || !tryTable(addr, st):
			// No table this round (this name server failed lately and
			// waits for the period): remember it needs one.
			st.full = true
			return
		default:
			reqs = fullParts()
		}
		needTable, master, err := r.send(addr, reqs)
		masters.add(addr, master, err)
		if err != nil {
			st.full, st.failed, st.synced = true, true, body.DataVersion{}
			r.warnUnlessStopping("register with name server failed", addr, err)
			return
		}
		st.full, st.failed, st.synced = needTable, false, d.Version
		if needTable {
			r.log.Info("name server lacks this broker's topic table; registering it whole", "namesrv", addr)
			r.ring()
		}
	})
	// Only if the role is still the one registered: a demotion or a
	// promotion that ran meanwhile registers again.
	if role.slave && r.b.role() == role {
		if m, ok := masters.pick(r.addrs, role.masterAddr); ok {
			r.b.setMaster(m.addr, m.ha)
		}
	}
}

// countRegistered updates registered: the name servers whose last call
// succeeded and that hold a version of ours. REQUIRES: r.mu held.
func (r *registrar) countRegistered() {
	n := 0
	if !r.b.role().pending {
		for _, st := range r.ns {
			if !st.failed && st.synced != (body.DataVersion{}) {
				n++
			}
		}
	}
	r.registered.Store(int32(n))
}

// health is the readiness check of registration: nil once at least one
// name server holds this broker's registration (or none is configured).
// A name server that went away is noticed at the next periodic round
// (registerNameServerPeriod).
func (r *registrar) health() error {
	switch {
	case len(r.addrs) == 0:
		return nil
	case r.b.role().pending:
		return errors.New("no role yet: not registered with any name server")
	case r.registered.Load() == 0:
		return fmt.Errorf("not registered with any of the name servers %s", strings.Join(r.addrs, ";"))
	}
	return nil
}

// masterReply is what one name server's REGISTER_BROKER reply said of
// this slave's master: its address and HA address, empty when it has no
// live master of this broker name.
type masterReply struct{ addr, ha string }

// masterReplies gathers the replies of one round, from concurrent calls.
type masterReplies struct {
	mu sync.Mutex
	by map[string]masterReply // name server → reply; only those that answered
}

func (m *masterReplies) add(ns string, reply masterReply, err error) {
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.by == nil {
		m.by = map[string]masterReply{}
	}
	m.by[ns] = reply
}

// pick decides what the round says of the master: a name server that
// names want (the master BecomeSlave named; "" for none) wins, else the
// first name server (in namesrvAddr order) that names one, since a name
// server that lists a live master is the better informed; if every answer
// is empty the master is gone (Java sets masterAddr from every reply,
// null included); with no answer at all the round says nothing (ok
// false).
func (m *masterReplies) pick(order []string, want string) (masterReply, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if want != "" {
		for _, ns := range order {
			if r, ok := m.by[ns]; ok && r.addr == want {
				return r, true
			}
		}
	}
	for _, ns := range order {
		if r, ok := m.by[ns]; ok && r.addr != "" {
			return r, true
		}
	}
	return masterReply{}, len(m.by) > 0
}

// probe asks every name server whether it still holds our table
// (QUERY_DATA_VERSION); a "no" or no answer marks it for the table. An
// unchanged answer also counts as a sign of life on the name server. It
// returns the name servers that did not answer, which get no table this
// round (encoding a large one for a dead peer is wasted).
func (r *registrar) probe() map[string]bool {
	var mu sync.Mutex
	down := map[string]bool{}
	r.each(func(addr string, st *nsState) {
		r.stats.queries.Add(1)
		changed, err := r.queryDataVersion(addr, st.synced)
		switch {
		case err != nil:
			st.full, st.failed = true, true
			mu.Lock()
			down[addr] = true
			mu.Unlock()
			r.warnUnlessStopping("query data version failed", addr, err)
		case changed && !st.full:
			st.full = true
			r.log.Info("name server lacks this broker's topic table; registering it whole", "namesrv", addr)
		case !changed && st.synced != (body.DataVersion{}):
			// It holds what we last sent it (a zero version proves
			// nothing: a name server keeps none after a broken chain).
			st.full, st.failed = false, false
		}
	})
	return down
}

// warnUnlessStopping logs a failed call, except one stop cancelled.
func (r *registrar) warnUnlessStopping(msg, addr string, err error) {
	if r.calls.Err() == nil {
		r.log.Warn(msg, "namesrv", addr, "err", err)
	}
}

// each runs fn for every name server in parallel. REQUIRES: r.mu held.
func (r *registrar) each(fn func(addr string, st *nsState)) {
	var wg sync.WaitGroup
	for addr, st := range r.ns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(addr, st)
		}()
	}
	wg.Wait()
}

// send invokes reqs on addr in order and stops at the first failure. reqs
// are shared with the other name servers' calls of the round: each call
// invokes its own copy.
// needTable reports a Wharf name server asking for the whole table (it
// did not hold the version an increment builds on).
// master is what the last reply said of this broker's master (Java's
// RegisterBrokerResponseHeader: masterAddr, haServerAddr, for a slave).
func (r *registrar) send(addr string, reqs []*remoting.Command) (needTable bool, master masterReply, err error) {
	for _, req := range reqs {
		ctx, cancel := context.WithTimeout(r.calls, registerTimeout)
		resp, err := r.client.Invoke(ctx, addr, req.Clone())
		cancel()
		switch {
		case err != nil:
			return false, masterReply{}, err
		case resp.Code != remoting.RespSuccess:
			return false, masterReply{}, fmt.Errorf("name server refused registration: code %d: %s", resp.Code, resp.Remark)
		}
		needTable = needTable || resp.ExtBoolOr("wharfNeedTable", false)
		master = masterReply{addr: resp.ExtStringOr("masterAddr", ""), ha: resp.ExtStringOr("haServerAddr", "")}
	}
	r.log.Debug("registered", "namesrv", addr, "requests", len(reqs))
	return needTable, master, nil
}

func (r *registrar) queryDataVersion(addr string, dv body.DataVersion) (changed bool, err error) {
	body, err := json.Marshal(dv)
	if err != nil {
		return false, err
	}
	req := remoting.NewRequest(remoting.CodeQueryDataVersion, map[string]string{
		"brokerName": r.b.cfg.BrokerName, "brokerAddr": r.b.addr, "clusterName": r.b.cfg.BrokerClusterName,
		"brokerId": strconv.FormatInt(r.b.role().brokerID, 10),
	}, body)
	ctx, cancel := context.WithTimeout(r.calls, registerTimeout)
	defer cancel()
	resp, err := r.client.Invoke(ctx, addr, req)
	if err != nil {
		return false, err
	}
	if resp.Code != remoting.RespSuccess {
		return false, fmt.Errorf("QUERY_DATA_VERSION refused: code %d: %s", resp.Code, resp.Remark)
	}
	return resp.ExtBoolOr("changed", true), nil
}

// fullRequests splits table into registrations of at most
// splitRegistrationSize topics, marked wharfPart "i/k" when there are
// several: a Wharf name server merges each at once (no route disappears
// while they arrive) and the last removes the topics no part named. Each
// part after the first builds on the one before, under a made-up version
// (the real counter with timestamp -i, which no real version has), and
// the last carries the real version, so a name server holds the real
// version only once it has every part.
func (r *registrar) fullRequests(table map[string]body.TopicConfig, dv body.DataVersion, brokerID int64) []*remoting.Command {
	size := r.b.cfg.SplitRegistrationSize
	n := max(1, (len(table)+size-1)/size)
	reqs := make([]*remoting.Command, 0, n)
	chunk := make([]body.TopicConfig, 0, min(size, len(table)))
	var prev *body.DataVersion
	flush := func() {
		partDV := dv
		if len(reqs) < n-1 {
			partDV.Timestamp = -int64(len(reqs) + 1)
		}
		req := r.request(chunk, partDV, prev, brokerID)
		if n > 1 {
			req.SetExt("wharfPart", fmt.Sprintf("%d/%d", len(reqs)+1, n))
		}
		reqs = append(reqs, req)
		r.stats.fullParts.Add(1)
		atomicmax.Raise(&r.stats.maxPartBody, int64(len(req.Body)))
		prev = &partDV
		chunk = chunk[:0]
	}
	for _, tc := range table {
		chunk = append(chunk, tc)
		if len(chunk) == size && len(reqs) < n-1 {
			flush()
		}
	}
	flush()
	if n > 1 {
		r.log.Info("registering the topic table in parts", "topics", len(table), "parts", n)
	}
	return reqs
}

// request builds REGISTER_BROKER (103) for brokerID carrying topics at
// version dv; base is the version it builds on, nil for a table that
// replaces.
func (r *registrar) request(topics []body.TopicConfig, dv body.DataVersion, base *body.DataVersion, brokerID int64) *remoting.Command {
	var payload []byte
	if r.b.cfg.CompressedRegister {
		payload = body.EncodeCompressedRegisterBody(topics, dv)
	} else {
		table := make(map[string]body.TopicConfig, len(topics))
		for _, tc := range topics {
			table[tc.TopicName] = tc
		}
		payload = body.EncodeRegisterBody(table, dv)
	}
	req := r.b.registerRequest(payload, r.b.cfg.CompressedRegister, brokerID)
	if base != nil {
		b, _ := json.Marshal(base)
		req.SetExt("wharfBaseDataVersion", string(b))
	}
	return req
}

// stop ends the loop, unregisters from every name server and closes the
// client.
func (r *registrar) stop() {
	r.cancelCalls() // a round waiting on a silent name server ends now
	if r.started {
		close(r.quit)
		<-r.done
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started && !r.b.role().pending {
		var wg sync.WaitGroup
		for _, addr := range r.addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
				defer cancel()
				if _, err := r.client.Invoke(ctx, addr, r.b.unregisterRequest()); err != nil {
					r.log.Warn("unregister from name server failed", "namesrv", addr, "err", err)
				}
			}()
		}
		wg.Wait()
	}
	r.client.Close()
}

// registerRequest builds REGISTER_BROKER (103) with Java's
// RegisterBrokerRequestHeader, for brokerID (the role's: 0 on a master);
// bodyCrc32 covers the body as sent.
func (b *Broker) registerRequest(body []byte, compressed bool, brokerID int64) *remoting.Command {
	return remoting.NewRequest(remoting.CodeRegisterBroker, map[string]string{
		"brokerName":   b.cfg.BrokerName,
		"brokerAddr":   b.addr,
		"clusterName":  b.cfg.BrokerClusterName,
		"haServerAddr": b.HAServerAddr(),
		"brokerId":     strconv.FormatInt(brokerID, 10),
		"compressed":   strconv.FormatBool(compressed),
		"bodyCrc32":    strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)&0x7FFFFFFF), 10),
	}, body)
}

// HAServerAddr is the HA address this broker advertises, the one its
// replicas dial to follow it: haAdvertisedAddress when set (NAT, a
// container's port mapping, a test's proxy), else brokerIP2 (by default
// the advertised IP, as Java's brokerIP2 defaults to brokerIP1) and
// haListenPort (the port bound when it became master at run time, if
// that had to change). Every path that hands out this broker's HA address
// (name-server registration, which controller-mode and classic slaves
// read their master's from, and the runtime table) goes through here.
func (b *Broker) HAServerAddr() string {
	if a := b.cfg.HAAdvertisedAddress; a != "" {
		return a
	}
	host := b.cfg.BrokerIP2
	if host == "" {
		host, _, _ = net.SplitHostPort(b.addr)
	}
	return net.JoinHostPort(host, strconv.Itoa(int(b.repl.haPort.Load())))
}

func (b *Broker) unregisterRequest() *remoting.Command {
	return remoting.NewRequest(remoting.CodeUnregisterBroker, map[string]string{
		"brokerName":  b.cfg.BrokerName,
		"brokerAddr":  b.addr,
		"clusterName": b.cfg.BrokerClusterName,
		"brokerId":    fmt.Sprint(b.role().brokerID),
	}, nil)
}
