package broker

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// lockMaxLive is how long a queue lock lives without renewal (Java
// rocketmq.broker.rebalance.lockMaxLiveTime).
const lockMaxLive = 60 * time.Second

// messageQueue is Java's MessageQueue (remoting/body).
type messageQueue = body.MessageQueue

type mqKey struct {
	topic   string
	queueID int32
}

type queueLock struct {
	clientID string
	connID   uint64
	renewed  time.Time
}

// lockManager grants orderly consumers exclusive queues per group (Java
// RebalanceLockManager). A lock is granted when the queue is free, expired,
// or already held by the same clientId. Unlike Java, a connection's locks
// are released as soon as it closes, so a crashed consumer's queues are
// free for the others at once rather than after 60 s.
type lockManager struct {
	maxLive time.Duration
	mu      sync.Mutex
	groups  map[string]map[mqKey]*queueLock
}

func newLockManager() *lockManager {
	return &lockManager{maxLive: lockMaxLive, groups: map[string]map[mqKey]*queueLock{}}
}

// lock tries every queue and returns those the client now holds.
func (lm *lockManager) lock(group, clientID string, connID uint64, mqs []messageQueue, now time.Time) []messageQueue {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	g := lm.groups[group]
	if g == nil {
		g = map[mqKey]*queueLock{}
		lm.groups[group] = g
	}
	out := []messageQueue{}
	for _, mq := range mqs {
		k := mqKey{mq.Topic, mq.QueueID}
		l := g[k]
		if l == nil || l.clientID == clientID || now.Sub(l.renewed) > lm.maxLive {
			g[k] = &queueLock{clientID: clientID, connID: connID, renewed: now}
			out = append(out, mq)
		}
	}
	return out
}

func (lm *lockManager) unlock(group, clientID string, mqs []messageQueue) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	g := lm.groups[group]
	for _, mq := range mqs {
		k := mqKey{mq.Topic, mq.QueueID}
		if l := g[k]; l != nil && l.clientID == clientID {
			delete(g, k)
		}
	}
	if len(g) == 0 {
		delete(lm.groups, group)
	}
}

func (lm *lockManager) connClosed(c *remoting.Conn) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	for name, g := range lm.groups {
		for k, l := range g {
			if l.connID == c.ID() {
				delete(g, k)
			}
		}
		if len(g) == 0 {
			delete(lm.groups, name)
		}
	}
}

// lockBatchBody is Java LockBatchRequestBody / UnlockBatchRequestBody.
type lockBatchBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []messageQueue `json:"mqSet"`
}

func decodeLockBody(req *remoting.Command) (lockBatchBody, *remoting.Command) {
	var body lockBatchBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return body, remoting.NewResponse(req, remoting.RespSystemError, "lock body is not valid JSON: "+err.Error())
	}
	if body.ConsumerGroup == "" || body.ClientID == "" {
		return body, remoting.NewResponse(req, remoting.RespSystemError, "lock body needs consumerGroup and clientId")
	}
	return body, nil
}

// handleLockBatch serves LOCK_BATCH_MQ (41).
func (b *Broker) handleLockBatch(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, bad := decodeLockBody(req)
	if bad != nil {
		return bad
	}
	locked := b.locks.lock(body.ConsumerGroup, body.ClientID, conn.ID(), body.MQSet, time.Now())
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body, _ = json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{locked})
	return resp
}

// handleUnlockBatch serves UNLOCK_BATCH_MQ (42).
func (b *Broker) handleUnlockBatch(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, bad := decodeLockBody(req)
	if bad != nil {
		return bad
	}
	b.locks.unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}
