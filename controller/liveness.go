package controller

import (
	"sync"
	"time"

	"github.com/wharfmq/wharf/controller/api"
)

// brokerKey names one replica.
type brokerKey struct {
	name string
	id   int64
}

// brokerLive is what this controller knows of one replica, in memory only.
type brokerLive struct {
	hb      api.BrokerHeartbeat
	last    time.Time // last request received from it (monotonic)
	timeout time.Duration
	connID  uint64 // the connection its last heartbeat came on
	closed  bool   // that connection closed
}

// liveness is the heartbeat table. Every controller keeps one (brokers
// heartbeat to all); only the leader acts on it. It implements
// fsm.Liveness with the lease rule of the package doc.
type liveness struct {
	defTimeout time.Duration
	leaseWait  time.Duration // BrokerLease + LeaseMargin
	now        func() time.Time

	mu struct {
		sync.Mutex
		brokers map[brokerKey]*brokerLive
		byConn  map[uint64]map[brokerKey]struct{}
		// graceEnd: before it, every master may hold its lease (set
		// when this controller becomes leader).
		graceEnd time.Time
	}
}

func newLiveness(defTimeout, leaseWait time.Duration) *liveness {
	l := &liveness{defTimeout: defTimeout, leaseWait: leaseWait, now: time.Now}
	l.mu.brokers = map[brokerKey]*brokerLive{}
	l.mu.byConn = map[uint64]map[brokerKey]struct{}{}
	return l
}

// heartbeat records a BROKER_HEARTBEAT received on connection connID.
func (l *liveness) heartbeat(hb api.BrokerHeartbeat, connID uint64) {
	k := brokerKey{hb.BrokerName, hb.BrokerID}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.brokers[k]
	if b == nil {
		b = &brokerLive{}
		l.mu.brokers[k] = b
	}
	if b.connID != connID {
		if set := l.mu.byConn[b.connID]; set != nil {
			delete(set, k)
			if len(set) == 0 {
				delete(l.mu.byConn, b.connID)
			}
		}
		set := l.mu.byConn[connID]
		if set == nil {
			set = map[brokerKey]struct{}{}
			l.mu.byConn[connID] = set
		}
		set[k] = struct{}{}
	}
	b.hb, b.last, b.connID, b.closed = hb, now, connID, false
	b.timeout = l.defTimeout
	if hb.HeartbeatTimeoutMillis > 0 {
		b.timeout = time.Duration(hb.HeartbeatTimeoutMillis) * time.Millisecond
	}
}

// touch records any other request from a connection that heartbeated.
func (l *liveness) touch(connID uint64) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.mu.byConn[connID] {
		if b := l.mu.brokers[k]; b != nil && b.connID == connID {
			b.last = now
		}
	}
}

// connClosed marks the brokers of a closed connection inactive at once.
func (l *liveness) connClosed(connID uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.mu.byConn[connID] {
		if b := l.mu.brokers[k]; b != nil && b.connID == connID {
			b.closed = true
		}
	}
	delete(l.mu.byConn, connID)
}

// startGrace is called on gaining leadership: until now+d every master may
// hold a lease this controller did not see renewed.
func (l *liveness) startGrace(d time.Duration) {
	l.mu.Lock()
	l.mu.graceEnd = l.now().Add(d)
	l.mu.Unlock()
}

// Alive implements fsm.Liveness.
func (l *liveness) Alive(name string, id int64) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.brokers[brokerKey{name, id}]
	return b != nil && !b.closed && now.Sub(b.last) <= b.timeout
}

// Heartbeat implements fsm.Liveness.
func (l *liveness) Heartbeat(name string, id int64) (api.BrokerHeartbeat, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.brokers[brokerKey{name, id}]
	if b == nil {
		return api.BrokerHeartbeat{}, false
	}
	return b.hb, true
}

// MayHoldLease implements fsm.Liveness: alive, or last contact + lease +
// margin not yet passed, or still in the grace after gaining leadership.
func (l *liveness) MayHoldLease(name string, id int64) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.mu.graceEnd) {
		return true
	}
	b := l.mu.brokers[brokerKey{name, id}]
	if b == nil {
		return false
	}
	if !b.closed && now.Sub(b.last) <= b.timeout {
		return true
	}
	return now.Before(b.last.Add(l.leaseWait))
}

// conn returns the connection id a broker's last heartbeat came on, if it
// is open.
func (l *liveness) conn(name string, id int64) (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.mu.brokers[brokerKey{name, id}]
	if b == nil || b.closed {
		return 0, false
	}
	return b.connID, true
}
