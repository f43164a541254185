package broker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/sqlfilter"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
)

// Client liveness (Java ClientHousekeepingService).
const (
	defaultClientExpiry = 120 * time.Second
	defaultScanInterval = 10 * time.Second
)

// member is one connection in one producer or consumer group, with the time
// of the last heartbeat that named the group.
type member struct {
	conn     *remoting.Conn
	clientID string
	lastSeen time.Time
}

// subscription is a consumer group's subscription to one topic, from the
// latest heartbeat.
type subscription struct {
	topic      string
	subString  string
	expType    string
	tags       []string
	subVersion int64
	filter     *engine.TagFilter
	// sqlErr is why a SQL92 expression did not compile; filter is nil
	// then (RocketMQ keeps no ConsumerFilterData for it).
	sqlErr error
}

type consumerGroup struct {
	consumeType, messageModel, consumeFromWhere string
	members                                     map[uint64]*member // by connection id
	subs                                        map[string]*subscription
}

// clientManager tracks the producers and consumers announced by heartbeats,
// per group and connection.
type clientManager struct {
	mu        sync.Mutex
	consumers map[string]*consumerGroup
	producers map[string]map[uint64]*member
	// requesters maps the client id in a request message's
	// REPLY_TO_CLIENT to the connection that message came on, so a reply
	// finds its requester before the requester's first heartbeat.
	requesters map[string]*remoting.Conn
	// sqlCache holds the SQL92 expressions pulls carry (sysFlag
	// SUBSCRIPTION), which the official clients resend with every pull.
	sqlCache *sqlfilter.Cache
}

// sqlCacheSize is how many distinct pull expressions stay compiled
// (RocketMQ's SelectorParser cache holds 100).
const sqlCacheSize = 100

func newClientManager() *clientManager {
	return &clientManager{consumers: map[string]*consumerGroup{}, producers: map[string]map[uint64]*member{},
		requesters: map[string]*remoting.Conn{}, sqlCache: sqlfilter.NewCache(sqlCacheSize)}
}

func (cm *clientManager) registerProducer(group string, conn *remoting.Conn, clientID string, now time.Time) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	g := cm.producers[group]
	if g == nil {
		g = map[uint64]*member{}
		cm.producers[group] = g
	}
	g[conn.ID()] = &member{conn: conn, clientID: clientID, lastSeen: now}
}

// noteRequester records conn as the connection of the client clientID that
// sent a request message on it. Entries go when their connection closes,
// and a reconnecting client replaces its own.
func (cm *clientManager) noteRequester(clientID string, conn *remoting.Conn) {
	select {
	case <-conn.Done():
		return // closed: connClosed may have run already
	default:
	}
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if _, ok := cm.requesters[clientID]; !ok && len(cm.requesters) >= maxRequesters {
		return // a client inventing ids; heartbeats still find real requesters
	}
	cm.requesters[clientID] = conn
}

// maxRequesters bounds the requesters map: a real client sends one id per
// connection, so only a misbehaving one reaches it. (A variable for tests.)
var maxRequesters = 1 << 16

// clientConn returns a connection of the client clientID: the most
// recently heard from of its producer connections, else the one its last
// request message came on.
func (cm *clientManager) clientConn(clientID string) *remoting.Conn {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	var best *member
	for _, g := range cm.producers {
		for _, m := range g {
			if m.clientID == clientID && (best == nil || m.lastSeen.After(best.lastSeen)) {
				best = m
			}
		}
	}
	if best == nil {
		return cm.requesters[clientID]
	}
	return best.conn
}

// registerConsumer records a heartbeat's consumer data. It reports whether
// the group must be told (NOTIFY_CONSUMER_IDS_CHANGED): a connection joined,
// or a subscription was added, removed or replaced by a higher subVersion.
func (cm *clientManager) registerConsumer(cd *consumerData, conn *remoting.Conn, clientID string, now time.Time) bool {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	g := cm.consumers[cd.GroupName]
	if g == nil {
		g = &consumerGroup{members: map[uint64]*member{}, subs: map[string]*subscription{}}
		cm.consumers[cd.GroupName] = g
	}
	g.consumeType, g.messageModel, g.consumeFromWhere = cd.ConsumeType, cd.MessageModel, cd.ConsumeFromWhere
	changed := false
	if m, ok := g.members[conn.ID()]; ok {
		m.lastSeen, m.clientID = now, clientID
	} else {
		g.members[conn.ID()] = &member{conn: conn, clientID: clientID, lastSeen: now}
		changed = true
	}
	seen := map[string]bool{}
	for _, sd := range cd.SubscriptionDataSet {
		if sd == nil || sd.Topic == "" {
			continue
		}
		seen[sd.Topic] = true
		old := g.subs[sd.Topic]
		if old != nil && sd.SubVersion <= old.subVersion {
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

func newSubscription(sd *subscriptionData) *subscription {
	s := &subscription{topic: sd.Topic, subString: sd.SubString, expType: sd.ExpressionType, subVersion: sd.SubVersion}
	if !isTagType(sd.ExpressionType) {
		// Compiled once per subscription change: a heartbeat only
		// replaces a subscription with a higher subVersion. Whether the
		// broker serves it is decided at pull time, as in RocketMQ,
		// whose heartbeat registers any expression type.
		s.filter, s.sqlErr = sqlFilter(sd.ExpressionType, sd.SubString, sqlfilter.Compile)
		return s
	}
	// Build the filter from the tag strings (trap T9: the client's codeSet
	// hashes UTF-8 bytes, the queue stores Java's UTF-16 hash).
	for _, t := range sd.TagsSet {
		if t = strings.TrimSpace(t); t != "" {
			s.tags = append(s.tags, t)
		}
	}
	if len(s.tags) == 0 && sd.SubString != "" && sd.SubString != "*" {
		s.tags = parseTagExpression(sd.SubString)
	}
	s.filter = engine.NewTagFilter(s.tags...)
	return s
}

// isTagType is RocketMQ's ExpressionType.isTagType: empty or "TAG" (Wharf
// also takes "tag").
func isTagType(expType string) bool { return expType == "" || strings.EqualFold(expType, "TAG") }

// sqlFilter builds the engine filter of a non-TAG expression with compile
// (sqlfilter.Compile, or a Cache's).
func sqlFilter(expType, expr string, compile func(string) (*sqlfilter.Expr, error)) (*engine.TagFilter, error) {
	if expType != expressionSQL92 {
		return nil, fmt.Errorf("expression type %q is not supported, only TAG and SQL92", expType)
	}
	x, err := compile(expr)
	if err != nil {
		return nil, err
	}
	return engine.NewPropsFilter(x.Match), nil
}

// expressionSQL92 is RocketMQ's ExpressionType.SQL92 (matched exactly, as
// its FilterFactory does).
const expressionSQL92 = "SQL92"

// parseTagExpression splits "a || b" into tags; "", "*" mean all (nil).
func parseTagExpression(expr string) []string {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return nil
	}
	var tags []string
	for _, t := range strings.Split(expr, "||") {
		if t = strings.TrimSpace(t); t != "" {
			tags = append(tags, t)
		}
	}
	return tags
}

// unregister removes one client's membership of the named groups (UNREGISTER_CLIENT);
// it returns the consumer groups that lost a member.
func (cm *clientManager) unregister(connID uint64, producerGroup, consumerGroup string) []string {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	if g := cm.producers[producerGroup]; g != nil {
		delete(g, connID)
		if len(g) == 0 {
			delete(cm.producers, producerGroup)
		}
	}
	if g := cm.consumers[consumerGroup]; g != nil {
		if _, ok := g.members[connID]; ok {
			cm.removeMemberLocked(consumerGroup, g, connID)
			return []string{consumerGroup}
		}
	}
	return nil
}

// connClosed removes every membership of a connection; it returns the
// consumer groups that lost a member.
func (cm *clientManager) connClosed(connID uint64) []string {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	for name, g := range cm.producers {
		delete(g, connID)
		if len(g) == 0 {
			delete(cm.producers, name)
		}
	}
	for id, c := range cm.requesters {
		if c.ID() == connID {
			delete(cm.requesters, id)
		}
	}
	var changed []string
	for name, g := range cm.consumers {
		if _, ok := g.members[connID]; ok {
			cm.removeMemberLocked(name, g, connID)
			changed = append(changed, name)
		}
	}
	return changed
}

// expire removes memberships not refreshed since before; it returns the
// consumer groups that lost a member and the connections that are no longer
// in any group.
func (cm *clientManager) expire(before time.Time) (groups []string, dead []*remoting.Conn) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	expired := map[uint64]*remoting.Conn{}
	for name, g := range cm.producers {
		for id, m := range g {
			if m.lastSeen.Before(before) {
				delete(g, id)
				expired[id] = m.conn
			}
		}
		if len(g) == 0 {
			delete(cm.producers, name)
		}
	}
	for name, g := range cm.consumers {
		lost := false
		for id, m := range g.members {
			if m.lastSeen.Before(before) {
				cm.removeMemberLocked(name, g, id)
				expired[id] = m.conn
				lost = true
			}
		}
		if lost {
			groups = append(groups, name)
		}
	}
	for id, c := range expired {
		if !cm.hasConnLocked(id) {
			dead = append(dead, c)
		}
	}
	return groups, dead
}

// REQUIRES: cm.mu held.
func (cm *clientManager) removeMemberLocked(name string, g *consumerGroup, connID uint64) {
	delete(g.members, connID)
	if len(g.members) == 0 {
		delete(cm.consumers, name)
	}
}

// REQUIRES: cm.mu held.
func (cm *clientManager) hasConnLocked(id uint64) bool {
	for _, g := range cm.producers {
		if _, ok := g[id]; ok {
			return true
		}
	}
	for _, g := range cm.consumers {
		if _, ok := g.members[id]; ok {
			return true
		}
	}
	return false
}

// consumerIDs returns the distinct client ids of a group's live members,
// sorted.
func (cm *clientManager) consumerIDs(group string) []string {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	g := cm.consumers[group]
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

// conns returns the connections of a consumer group.
func (cm *clientManager) conns(group string) []*remoting.Conn {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	g := cm.consumers[group]
	if g == nil {
		return nil
	}
	out := make([]*remoting.Conn, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, m.conn)
	}
	return out
}

// subscription returns the group's subscription to topic from the latest
// heartbeat.
func (cm *clientManager) subscription(group, topic string) (*subscription, bool) {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	g := cm.consumers[group]
	if g == nil {
		return nil, false
	}
	s, ok := g.subs[topic]
	return s, ok
}
