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
	renewed  time.Time
}

// Locks grants orderly consumers exclusive queues per group (Java
// RebalanceLockManager). A lock is granted when the queue is free, expired,
// or already held by the same clientId, and is freed only by UNLOCK_BATCH_MQ
// or by expiring maxLive after its last renewal. As in Java, neither a
// closed connection nor an expired or unregistered membership frees it:
// clients keep consuming a queue they hold for a while after losing the
// broker (the Go client trusts its lock 30 s and re-locks every 20 s, on a
// new connection if need be), so a lock freed at the close would hand the
// queue to a second consumer while the first still consumes it in order.
type Locks struct {
	maxLive time.Duration
	now     func() time.Time

	mu     sync.Mutex
	groups map[string]map[mqKey]*queueLock
	// swept is when expired locks were last dropped (sweepLocked).
	swept time.Time
}

// NewLocks returns a lock table whose locks live maxLive without renewal,
// as told by the clock now (time.Now when nil).
func NewLocks(maxLive time.Duration, now func() time.Time) *Locks {
	if now == nil {
		now = time.Now
	}
	return &Locks{maxLive: maxLive, now: now, groups: map[string]map[mqKey]*queueLock{}}
}

// Lock tries every queue for clientID of group and returns those the
// client now holds (never nil).
func (l *Locks) Lock(group, clientID string, mqs []body.MessageQueue) []body.MessageQueue {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	g := l.groups[group]
	if g == nil {
		g = map[mqKey]*queueLock{}
		l.groups[group] = g
	}
	out := []body.MessageQueue{}
	for _, mq := range mqs {
		k := mqKey{mq.Topic, mq.QueueID}
		q := g[k]
		if q == nil || q.clientID == clientID || l.expired(q, now) {
			g[k] = &queueLock{clientID: clientID, renewed: now}
			out = append(out, mq)
		}
	}
	if len(g) == 0 {
		delete(l.groups, group)
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

// Held counts the queues locked, and not expired, in group.
func (l *Locks) Held(group string) int {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, q := range l.groups[group] {
		if !l.expired(q, now) {
			n++
		}
	}
	return n
}

func (l *Locks) expired(q *queueLock, now time.Time) bool {
	return now.Sub(q.renewed) > l.maxLive
}

// sweepLocked drops expired locks, at most once per maxLive: nothing else
// removes the lock of a client that went away without unlocking, and
// groups and topics are whatever clients send. REQUIRES: l.mu held.
func (l *Locks) sweepLocked(now time.Time) {
	if now.Sub(l.swept) <= l.maxLive {
		return
	}
	l.swept = now
	for name, g := range l.groups {
		for k, q := range g {
			if l.expired(q, now) {
				delete(g, k)
			}
		}
		if len(g) == 0 {
			delete(l.groups, name)
		}
	}
}
