package transaction

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// Store is what the service needs of the engine (engine.Store).
type Store interface {
	ReadRecord(phys int64) ([]byte, error)
	Put(m *msg.Message) (engine.PutResult, error)
	QueueState(topic string, queueID int32) (engine.QueueState, bool)
	ScanQueue(topic string, queueID int32, from, to int64, fn func(offset int64, e engine.QueueEntry) bool) error
	ConsumerOffset(group, topic string, queueID int32) (int64, bool, error)
	CommitOffset(group, topic string, queueID int32, offset int64) error
	MinPhysOffset() int64
	MaxPhysOffset() int64
	WaitDurable(end int64) error
}

// Check is a CHECK_TRANSACTION_STATE (39) to send to a producer of Group
// (Java CheckTransactionStateRequestHeader); Body is the half message's copy
// encoded as a stored record with its real topic and queue.
type Check struct {
	Group string
	// Topic is the half message's real topic (REAL_TOPIC), the one its
	// producer sent to; the half topic when the record lacks it.
	Topic                string
	TranStateTableOffset int64
	CommitLogOffset      int64
	MsgID                string // also the transactionId
	OffsetMsgID          string
	Body                 []byte
}

// Checker sends check-backs; the broker implements it with remoting.
type Checker interface {
	// SendCheck sends c, oneway, to a live producer of c.Group; without
	// one (or one it may send c to) it returns ErrNoProducer, wrapped or
	// not.
	SendCheck(c *Check) error
}

// ErrNoProducer reports that a check found no live producer in its group.
var ErrNoProducer = errors.New("no live producer in the group")

// Config is what the service is built from.
type Config struct {
	Store Store
	// EnsureTopic creates a one-queue read-write system topic unless it
	// exists.
	EnsureTopic func(name string) error
	// Route diverts a committed message with a DELAY to the delay queues
	// (schedule.Service.Route).
	Route   func(m *msg.Message) error
	Checker Checker

	StoreHost  netip.AddrPort // store host of the records the service writes
	BrokerName string         // for the remark of a refused half message
	Reject     bool           // rejectTransactionMessage

	Timeout          time.Duration // transactionTimeOut
	Interval         time.Duration // transactionCheckInterval
	CheckMax         int           // transactionCheckMax
	FileReservedTime time.Duration // halves older than this are discarded (0: never)
}

// Kind classifies a refusal; the wire layer maps it to a response code.
type Kind int

// Kinds of Error.
const (
	// KindSystem is a system error (SYSTEM_ERROR).
	KindSystem Kind = iota + 1
	// KindBadType is a commitOrRollback that is no transaction type.
	KindBadType
	// KindForbidden is a half message refused by configuration
	// (NO_PERMISSION).
	KindForbidden
	// KindIllegal is a committed message that cannot be routed
	// (MESSAGE_ILLEGAL).
	KindIllegal
	// KindStore is a Put the store refused; Err wraps the store's error.
	KindStore
	// KindClosing is an END_TRANSACTION that arrived while the broker
	// closes (SERVICE_NOT_AVAILABLE).
	KindClosing
	// KindBusy is an END_TRANSACTION whose request ended while the state
	// was loading (SYSTEM_BUSY).
	KindBusy
)

// Error is a refusal of Prepare or End.
type Error struct {
	Kind Kind
	Err  error
}

// Error returns the remark for the reply.
func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func systemErrorf(format string, args ...any) error {
	return &Error{KindSystem, fmt.Errorf(format, args...)}
}
