package client

import (
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting/body"
)

// LockMaxLive is how long a queue lock lives without renewal (Java
// rocketmq.broker.rebalance.lockMaxLiveTime).
const LockMaxLive = 60 * time.Second

type mqKey struct {
	topic   string
	queueID int32
}

type queueLock struct {
	clientID string
	connID   uint64
	renewed  time.Time
}

// Locks grants orderly consumers exclusive queues per group (Java
// RebalanceLockManager). A lock is granted when the queue is free, expired,
// or already held by the same clientId. Unlike Java, a connection's locks
// are released as soon as it closes, so a crashed consumer's queues are
// free for the others at once rather than after maxLive.
type Locks struct {
	maxLive time.Duration
	now     func() time.Time

	mu     sync.Mutex
	groups map[string]map[mqKey]*queueLock
}

// NewLocks returns a lock table whose locks live maxLive without renewal,
// as told by the clock now (time.Now when nil).
func NewLocks(maxLive time.Duration, now func() time.Time) *Locks {
	if now == nil {
		now = time.Now
	}
	return &Locks{maxLive: maxLive, now: now, groups: map[string]map[mqKey]*queueLock{}}
}

// Lock tries every queue for clientID of group on connection connID and
// returns those the client now holds (never nil).
func (l *Locks) Lock(group, clientID string, connID uint64, mqs []body.MessageQueue) []body.MessageQueue {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.groups[group]
	if g == nil {
		g = map[mqKey]*queueLock{}
		l.groups[group] = g
	}
	out := []body.MessageQueue{}
	for _, mq := range mqs {
		k := mqKey{mq.Topic, mq.QueueID}
		q := g[k]
		if q == nil || q.clientID == clientID || now.Sub(q.renewed) > l.maxLive {
			g[k] = &queueLock{clientID: clientID, connID: connID, renewed: now}
			out = append(out, mq)
		}
	}
	return out
}

// Unlock releases the queues clientID holds in group.
func (l *Locks) Unlock(group, clientID string, mqs []body.MessageQueue) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g := l.groups[group]
	for _, mq := range mqs {
		k := mqKey{mq.Topic, mq.QueueID}
		if q := g[k]; q != nil && q.clientID == clientID {
			delete(g, k)
		}
	}
	if len(g) == 0 {
		delete(l.groups, group)
	}
}

// ConnClosed releases every lock taken on connection connID.
func (l *Locks) ConnClosed(connID uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for name, g := range l.groups {
		for k, q := range g {
			if q.connID == connID {
				delete(g, k)
			}
		}
		if len(g) == 0 {
			delete(l.groups, name)
		}
	}
}

// Held counts the queues locked in group.
func (l *Locks) Held(group string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.groups[group])
}
