// Package client tracks the broker's clients: the producers and consumers
// that heartbeats announce, per group and connection, with the consumers'
// subscriptions; their expiry when they fall silent; the connections
// request-reply messages came on; and the queue locks of orderly consumers.
//
// It takes plain values: the root package decodes heartbeats and lock
// requests and encodes the replies. Connections are the root's type C, of
// which the package uses only the id and the closed signal.
//
// Lock order: Registry.mu and Locks.mu are leaves, never held together;
// nothing calls out of the package with either held.
package client

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/sqlfilter"
)

// Client liveness (Java ClientHousekeepingService).
const (
	// DefaultExpiry is how long a membership lives without a heartbeat.
	DefaultExpiry = 120 * time.Second
	// DefaultScanInterval is how often expired memberships are dropped.
	DefaultScanInterval = 10 * time.Second
)

// DefaultMaxRequesters bounds the requester table: a real client sends one
// id per connection, so only a misbehaving one reaches it.
const DefaultMaxRequesters = 1 << 16

// sqlCacheSize is how many distinct pull expressions stay compiled
// (RocketMQ's SelectorParser cache holds 100).
const sqlCacheSize = 100

// Conn is a client connection as the registry needs it.
type Conn interface {
	// ID is unique among the broker's connections.
	ID() uint64
	// Done is closed once the connection is closed, before the owner calls
	// ConnClosed for it (remoting.Conn closes it before its close hook).
	Done() <-chan struct{}
}

// Consumer is what a heartbeat says of one consumer group the client is in.
type Consumer struct {
	Group            string
	ConsumeType      string
	MessageModel     string
	ConsumeFromWhere string
	// Subscriptions are the group's topics; one with no topic is ignored.
	Subscriptions []SubscriptionData
}

// Ident is who a heartbeat says it comes from: the client id of its body
// and the language and version of its header; and, under ACL, the account
// it was let in as.
type Ident struct {
	ClientID string
	Language string
	Version  int
	// Account is the ACL account the heartbeat was let in as
	// (acl.Checker.Account): "" without ACL, or from a globally white
	// listed address. Unlike the client id, which a client names itself,
	// it is proven.
	Account string
}

// member is one connection in one producer or consumer group, with the time
// of the last heartbeat that named the group.
type member[C Conn] struct {
	conn     C
	clientID string
	language string
	version  int
	account  string
	lastSeen time.Time
}

func newMember[C Conn](conn C, id Ident, now time.Time) *member[C] {
	return &member[C]{conn: conn, clientID: id.ClientID, language: id.Language, version: id.Version, account: id.Account, lastSeen: now}
}

// requester is the connection a client's request message came on, with
// the account it came under; rival, if not nil, is the latest live
// connection on which another account named the same client id.
type requester[C Conn] struct {
	conn    C
	account string
	rival   *requester[C]
}

// Member is one live connection of a group, as the connection lists
// (GET_CONSUMER_CONNECTION_LIST, GET_PRODUCER_CONNECTION_LIST) report it.
type Member[C Conn] struct {
	Conn     C
	Ident    Ident
	LastSeen time.Time
}

type consumerGroup[C Conn] struct {
	consumeType, messageModel, consumeFromWhere string
	members                                     map[uint64]*member[C] // by connection id
	subs                                        map[string]*Subscription
}

// Registry tracks the producers and consumers announced by heartbeats, per
// group and connection.
type Registry[C Conn] struct {
	maxRequesters int

	mu        sync.Mutex
	consumers map[string]*consumerGroup[C]
	producers map[string]map[uint64]*member[C]
	// requesters maps the client id in a request message's
	// REPLY_TO_CLIENT to the connection that message came on, so a reply
	// finds its requester before the requester's first heartbeat.
	requesters map[string]requester[C]
	// sqlCache holds the SQL92 expressions pulls carry (sysFlag
	// SUBSCRIPTION), which the official clients resend with every pull.
	sqlCache *sqlfilter.Cache

	quit chan struct{} // closed by Close
	wg   sync.WaitGroup
	once sync.Once
}

// Options configure a Registry.
type Options struct {
	// MaxRequesters bounds the requester table (DefaultMaxRequesters
	// when 0).
	MaxRequesters int
}

// New returns an empty Registry.
func New[C Conn](o Options) *Registry[C] {
	if o.MaxRequesters <= 0 {
		o.MaxRequesters = DefaultMaxRequesters
	}
	return &Registry[C]{maxRequesters: o.MaxRequesters, consumers: map[string]*consumerGroup[C]{},
		producers: map[string]map[uint64]*member[C]{}, requesters: map[string]requester[C]{},
		sqlCache: sqlfilter.NewCache(sqlCacheSize), quit: make(chan struct{})}
}

// RegisterProducer records that the client id on conn is in producer group
// group, as of now; nothing when conn is closed.
func (r *Registry[C]) RegisterProducer(group string, conn C, id Ident, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if closed(conn) {
		return
	}
	g := r.producers[group]
	if g == nil {
		g = map[uint64]*member[C]{}
		r.producers[group] = g
	}
	g[conn.ID()] = newMember(conn, id, now)
}

// NoteRequester records conn as the connection of the client clientID that
// sent a request message on it under account (Ident.Account). Entries go
// when their connection closes, and a reconnecting client replaces its
// own. A second account naming a client id whose requester is connected
// takes nothing over: it makes the id contested (ClientConn) while its
// connection lives.
func (r *Registry[C]) NoteRequester(clientID string, conn C, account string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if closed(conn) {
		return
	}
	e, ok := r.requesters[clientID]
	switch {
	case !ok && len(r.requesters) >= r.maxRequesters:
		return // a client inventing ids; heartbeats still find real requesters
	case !ok || e.account == account || e.conn.ID() == conn.ID():
		e.conn, e.account = conn, account
	case e.rival != nil && e.rival.account == account:
		e.rival.conn = conn
	default:
		e.rival = &requester[C]{conn: conn, account: account}
	}
	r.requesters[clientID] = e
}

// Requesters counts the entries of the requester table.
func (r *Registry[C]) Requesters() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requesters)
}

// ErrContested is ClientConn's answer for a client id that live
// connections claim under different accounts.
var ErrContested = errors.New("client id claimed under more than one account")

// ClientConn returns a connection of the client clientID: the most
// recently heard from of its producer connections, else the one its last
// request message came on; the zero C and a nil error when there is none.
//
// Under ACL a client id is only a name the client gives itself, and a
// guessable one (ip@pid), while the account of each claim is proven
// (Ident.Account). When the live claims of clientID (producer heartbeats
// and request messages) come from more than one account, which of them is
// the requester cannot be told: ClientConn returns ErrContested rather
// than guess, so a reply never reaches another account than the
// requester's. Official clients sign everything of one client id with one
// account, so only a client naming another's id meets this.
func (r *Registry[C]) ClientConn(clientID string) (C, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		none    C
		best    *member[C]
		account string
	)
	for _, g := range r.producers {
		for _, m := range g {
			if m.clientID != clientID {
				continue
			}
			if best != nil && m.account != account {
				return none, ErrContested
			}
			if best == nil || m.lastSeen.After(best.lastSeen) {
				best = m
			}
			account = m.account
		}
	}
	e, ok := r.requesters[clientID]
	if ok && (e.rival != nil || (best != nil && e.account != account)) {
		return none, ErrContested
	}
	switch {
	case best != nil:
		return best.conn, nil
	case ok:
		return e.conn, nil
	}
	return none, nil
}

// ProducerConn returns the connection of the member of producer group
// group that sent the latest heartbeat; the zero C when the group has none.
func (r *Registry[C]) ProducerConn(group string) C {
	return r.ProducerConnWhere(group, nil)
}

// ProducerConnWhere is ProducerConn among the members for which keep,
// unless nil, is true, given the member's connection and account
// (Ident.Account). keep runs without the registry's lock held.
func (r *Registry[C]) ProducerConnWhere(group string, keep func(conn C, account string) bool) C {
	r.mu.Lock()
	ms := make([]member[C], 0, len(r.producers[group]))
	for _, m := range r.producers[group] {
		ms = append(ms, *m)
	}
	r.mu.Unlock()
	slices.SortFunc(ms, func(a, b member[C]) int { return b.lastSeen.Compare(a.lastSeen) }) // latest first
	for i := range ms {
		if keep == nil || keep(ms[i].conn, ms[i].account) {
			return ms[i].conn
		}
	}
	var none C
	return none
}

// RegisterConsumer records a heartbeat's consumer data. It reports whether
// the group must be told (NOTIFY_CONSUMER_IDS_CHANGED): a connection joined,
// or a subscription was added, removed or replaced by a higher subVersion.
// A closed conn registers nothing and reports false.
func (r *Registry[C]) RegisterConsumer(cd Consumer, conn C, id Ident, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if closed(conn) {
		return false
	}
	g := r.consumers[cd.Group]
	if g == nil {
		g = &consumerGroup[C]{members: map[uint64]*member[C]{}, subs: map[string]*Subscription{}}
		r.consumers[cd.Group] = g
	}
	g.consumeType, g.messageModel, g.consumeFromWhere = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere
	changed := false
	if m, ok := g.members[conn.ID()]; ok {
		m.lastSeen, m.clientID, m.language, m.version, m.account = now, id.ClientID, id.Language, id.Version, id.Account
	} else {
		g.members[conn.ID()] = newMember(conn, id, now)
		changed = true
	}
	seen := map[string]bool{}
	for _, sd := range cd.Subscriptions {
		if sd.Topic == "" {
			continue
		}
		seen[sd.Topic] = true
		old := g.subs[sd.Topic]
		if old != nil && sd.SubVersion <= old.SubVersion {
			continue
		}
		g.subs[sd.Topic] = newSubscription(sd)
		changed = true
	}
	for topic := range g.subs {
		if !seen[topic] {
			delete(g.subs, topic)
			changed = true
		}
	}
	return changed
}

// Unregister removes one client's membership of the named groups
// (UNREGISTER_CLIENT); it returns the consumer groups that lost a member.
func (r *Registry[C]) Unregister(connID uint64, producerGroup, consumerGroup string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.producers[producerGroup]; g != nil {
		delete(g, connID)
		if len(g) == 0 {
			delete(r.producers, producerGroup)
		}
	}
	if g := r.consumers[consumerGroup]; g != nil {
		if _, ok := g.members[connID]; ok {
			r.removeMemberLocked(consumerGroup, g, connID)
			return []string{consumerGroup}
		}
	}
	return nil
}

// ConnClosed removes every membership of a connection; it returns the
// consumer groups that lost a member.
func (r *Registry[C]) ConnClosed(connID uint64) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, g := range r.producers {
		delete(g, connID)
		if len(g) == 0 {
			delete(r.producers, name)
		}
	}
	for id, e := range r.requesters {
		switch {
		case e.conn.ID() == connID && e.rival != nil:
			r.requesters[id] = *e.rival // the other account's claim stands alone now
		case e.conn.ID() == connID:
			delete(r.requesters, id)
		case e.rival != nil && e.rival.conn.ID() == connID:
			e.rival = nil
			r.requesters[id] = e
		}
	}
	var changed []string
	for name, g := range r.consumers {
		if _, ok := g.members[connID]; ok {
			r.removeMemberLocked(name, g, connID)
			changed = append(changed, name)
		}
	}
	return changed
}

// Expire removes memberships not refreshed since before; it returns the
// consumer groups that lost a member and the connections that are no longer
// in any group.
func (r *Registry[C]) Expire(before time.Time) (groups []string, dead []C) {
	r.mu.Lock()
	defer r.mu.Unlock()
	expired := map[uint64]C{}
	for name, g := range r.producers {
		for id, m := range g {
			if m.lastSeen.Before(before) {
				delete(g, id)
				expired[id] = m.conn
			}
		}
		if len(g) == 0 {
			delete(r.producers, name)
		}
	}
	for name, g := range r.consumers {
		lost := false
		for id, m := range g.members {
			if m.lastSeen.Before(before) {
				r.removeMemberLocked(name, g, id)
				expired[id] = m.conn
				lost = true
			}
		}
		if lost {
			groups = append(groups, name)
		}
	}
	for id, c := range expired {
		if !r.hasConnLocked(id) {
			dead = append(dead, c)
		}
	}
	return groups, dead
}

// closed reports whether conn is closed. Registrations call it with r.mu
// held: a connection's Done closes before its close hook runs ConnClosed,
// which takes r.mu, so a registration that finds Done open is removed by
// that ConnClosed, and one that comes after it finds Done closed. Checked
// before taking r.mu instead, a heartbeat handler still running when its
// connection closed would add a member after ConnClosed, listed to the
// group until it expires (clientExpiry) while its queues go unconsumed.
func closed[C Conn](conn C) bool {
	select {
	case <-conn.Done():
		return true
	default:
		return false
	}
}

// REQUIRES: r.mu held.
func (r *Registry[C]) removeMemberLocked(name string, g *consumerGroup[C], connID uint64) {
	delete(g.members, connID)
	if len(g.members) == 0 {
		delete(r.consumers, name)
	}
}

// REQUIRES: r.mu held.
func (r *Registry[C]) hasConnLocked(id uint64) bool {
	for _, g := range r.producers {
		if _, ok := g[id]; ok {
			return true
		}
	}
	for _, g := range r.consumers {
		if _, ok := g.members[id]; ok {
			return true
		}
	}
	return false
}

// ConsumerIDs returns the distinct client ids of a group's live members,
// sorted.
func (r *Registry[C]) ConsumerIDs(group string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil {
		return nil
	}
	ids := make([]string, 0, len(g.members))
	for _, m := range g.members {
		ids = append(ids, m.clientID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Conns returns the connections of a consumer group.
func (r *Registry[C]) Conns(group string) []C {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil {
		return nil
	}
	out := make([]C, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m.conn)
	}
	return out
}

// Subscription returns the group's subscription to topic from the latest
// heartbeat. The value is shared: do not modify it.
func (r *Registry[C]) Subscription(group, topic string) (*Subscription, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil {
		return nil, false
	}
	s, ok := g.subs[topic]
	return s, ok
}

// OnlineSubscriptions returns the topics the group's connected consumers
// subscribe to, from their latest heartbeats; nil when none is online.
func (r *Registry[C]) OnlineSubscriptions(group string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil || len(g.members) == 0 {
		return nil
	}
	out := make([]string, 0, len(g.subs))
	for t := range g.subs {
		out = append(out, t)
	}
	return out
}

// ConsumerGroup is a consumer group's live state as its heartbeats state
// it: members, how they consume, and the subscriptions.
type ConsumerGroup[C Conn] struct {
	ConsumeType, MessageModel, ConsumeFromWhere string
	Members                                     []Member[C]
	// Subscriptions by topic; the values are shared: do not modify them.
	Subscriptions map[string]*Subscription
}

// ConsumerGroup returns a copy of the group's live state, members sorted by
// client id; ok is false when no member is online.
func (r *Registry[C]) ConsumerGroup(group string) (cg ConsumerGroup[C], ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.consumers[group]
	if g == nil || len(g.members) == 0 {
		return cg, false
	}
	cg = ConsumerGroup[C]{ConsumeType: g.consumeType, MessageModel: g.messageModel, ConsumeFromWhere: g.consumeFromWhere,
		Members: membersOf(g.members), Subscriptions: make(map[string]*Subscription, len(g.subs))}
	for t, s := range g.subs {
		cg.Subscriptions[t] = s
	}
	return cg, true
}

// ProducerGroup returns the producer group's live members sorted by client
// id; nil when none is online.
func (r *Registry[C]) ProducerGroup(group string) []Member[C] {
	r.mu.Lock()
	defer r.mu.Unlock()
	return membersOf(r.producers[group])
}

// ConsumerGroups returns the names of the groups with a live consumer.
func (r *Registry[C]) ConsumerGroups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.consumers))
}

// ProducerGroups returns the names of the groups with a live producer.
func (r *Registry[C]) ProducerGroups() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.producers))
}

// membersOf copies a member table. REQUIRES: the registry's mu held.
func membersOf[C Conn](ms map[uint64]*member[C]) []Member[C] {
	if len(ms) == 0 {
		return nil
	}
	out := make([]Member[C], 0, len(ms))
	for _, m := range ms {
		out = append(out, Member[C]{Conn: m.conn, LastSeen: m.lastSeen,
			Ident: Ident{ClientID: m.clientID, Language: m.language, Version: m.version, Account: m.account}})
	}
	slices.SortFunc(out, func(a, b Member[C]) int { return strings.Compare(a.Ident.ClientID, b.Ident.ClientID) })
	return out
}
