// Package transaction implements RocketMQ's transactional messages: half
// messages (Prepare), END_TRANSACTION (End), op records, and the check-back
// loop that asks a producer about half messages left unresolved (check.go).
// It takes and returns plain values; the broker's wire layer decodes the
// request, maps an *Error to a response code and sends check-backs
// (Checker).
//
// Lock order: Service.mu, then whatever Config.EnsureTopic and the store
// lock (the checker holds mu across a half's copy or discard, so that an
// END_TRANSACTION cannot resolve it meanwhile). Checker.SendCheck is called
// without mu.
package transaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/loglimit"
	"github.com/wharfmq/wharf/systopic"
)

// Properties of transactional messages (Java MessageConst).
const (
	// PropProducerGroup (PGROUP) names the producer group to ask in a
	// check-back.
	PropProducerGroup = "PGROUP"
	// PropTranCheckTimes counts the check-backs a half message has had.
	PropTranCheckTimes = "TRANSACTION_CHECK_TIMES"
	// PropTranPreparedQueueOffset is, on the copies the checker makes of a
	// half message and on op records, the half-queue offset of the first
	// half of the transaction: its identity in Wharf.
	PropTranPreparedQueueOffset = "TRAN_PREPARED_QUEUE_OFFSET"
	// PropCheckImmunitySeconds delays the first check-back of a message
	// (seconds; never shorter than transactionTimeOut).
	PropCheckImmunitySeconds = "CHECK_IMMUNITY_TIME_IN_SECONDS"
)

// OffsetGroup is the reserved consumer group under which the
// transaction checker stores its progress in the half and op queues (Java
// CID_RMQ_SYS_TRANS). Clients may not use a group under
// meta.ReservedGroupPrefix.
const OffsetGroup = meta.ReservedGroupPrefix + "transaction"

// Transaction types of END_TRANSACTION's commitOrRollback (Java
// MessageSysFlag); they are the sysFlag transaction bits.
const (
	// TypeUnknown says the producer does not know the outcome yet.
	TypeUnknown = 0
	// TypeCommit commits the transaction.
	TypeCommit = int32(msg.FlagTransactionCommit)
	// TypeRollback rolls it back.
	TypeRollback = int32(msg.FlagTransactionRoll)
)

// The system topics of the service, one queue each.
const (
	halfTopic     = systopic.TransHalf
	opTopic       = systopic.TransOpHalf
	checkMaxTopic = systopic.TransCheck
)

// transOpRemoveTag tags an op record: the half it names is resolved.
const transOpRemoveTag = "d"

// Tuning of the checker.
const (
	txnBatch = 64
	// txnMaxPass bounds one check pass (Java MAX_QUEUE_PROCESS_TIME).
	txnMaxPass = 60 * time.Second
	// txnRetry is the pause after a failed state load.
	txnRetry = time.Second
)

// States of txnState.op besides an op-queue offset.
const (
	opNone    = -1 // unresolved
	opClaimed = -2 // an END_TRANSACTION is resolving it now
)

// txnState is what the service knows of one transaction, keyed by the
// half-queue offset of its first half. Only transactions that were copied by
// the checker or are resolved while one of their halves is still ahead of
// the checker have an entry; an unresolved, never-checked transaction has
// none.
type txnState struct {
	newest int64 // half-queue offset of the newest half (copy)
	op     int64 // op-queue offset of its op record, or opNone/opClaimed
	// claimOp, while op is opClaimed, is Service.opEnd at the claim: the
	// op record the END_TRANSACTION writes lands at or after it, so the
	// stored op progress must not pass it (persist).
	claimOp   int64
	delivered bool // committed message stored, op not yet (retry writes only the op)
}

// Service implements RocketMQ's transactional messages: half messages in
// RMQ_SYS_TRANS_HALF_TOPIC, END_TRANSACTION, op records in
// RMQ_SYS_TRANS_OP_HALF_TOPIC, and the check-back (check.go).
type Service struct {
	cfg      Config
	log      *slog.Logger
	keptBack loglimit.Limit // "progress kept back": each pass while a slave is away

	ready chan struct{} // closed once the state is loaded; replaced by a restart; guarded by mu

	mu       sync.Mutex
	halfNext int64 // next half-queue offset the checker examines
	opEnd    int64 // op-queue offset past the last op recorded
	txns     map[int64]*txnState
	// storedHalf and storedOp are the stored progress; owned by the
	// checker goroutine.
	storedHalf, storedOp int64

	// run serializes Start, Stop and Close. quit is replaced by Start
	// only while the checker is stopped, so it reads quit without a lock.
	run              sync.Mutex
	running, started bool
	closed           bool
	quit             chan struct{}
	wg               sync.WaitGroup
}

// New returns the service; Start loads its state and starts the checker.
func New(cfg Config, log *slog.Logger) *Service {
	return &Service{
		cfg: cfg, log: log.With("component", "transaction"),
		ready: make(chan struct{}), txns: map[int64]*txnState{},
		storedHalf: -1, storedOp: -1,
	}
}

// Ready is closed once the state is loaded and END_TRANSACTION can be
// served.
func (t *Service) Ready() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ready
}

// Progress returns the next half-queue offset the checker examines and the
// number of transactions it tracks.
func (t *Service) Progress() (halfNext int64, tracked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.halfNext, len(t.txns)
}

// IsTranMsg reports whether a properties string has TRAN_MSG=true.
func IsTranMsg(props string) bool {
	v, ok := msg.Property(props, msg.PropTranMsg)
	return ok && strings.EqualFold(v, "true")
}

// Prepare turns a message sent with TRAN_MSG=true into a half message (Java
// TransactionalMessageBridge.parseHalfMessageInner): its real topic and
// queue go into REAL_TOPIC/REAL_QID, the sysFlag transaction bits are
// cleared, and it is stored in queue 0 of RMQ_SYS_TRANS_HALF_TOPIC, where
// it is dispatched like any message. A refusal is an *Error.
func (t *Service) Prepare(m *msg.Message) error {
	if t.cfg.Reject {
		return &Error{KindForbidden, fmt.Errorf("the broker[%s] sending transaction message is forbidden", t.cfg.BrokerName)}
	}
	if err := t.ensureTopic(halfTopic); err != nil {
		return &Error{KindSystem, err}
	}
	// Its commit routes it (a DELAY to the schedule topic): a route that
	// can only fail is refused now, while the producer can be told, not
	// at every commit, which would end in the check-max topic.
	probe := *m
	if err := t.cfg.Route(&probe); err != nil {
		return &Error{KindIllegal, err}
	}
	// A half's identity and check count are the broker's: a producer's
	// TRAN_PREPARED_QUEUE_OFFSET would make it another transaction (an
	// ended one: its commit then dropped), its TRANSACTION_CHECK_TIMES
	// would cut its checks short.
	props := m.Properties
	for _, k := range []string{msg.PropRealTopic, msg.PropRealQueue, PropTranPreparedQueueOffset, PropTranCheckTimes} {
		props = msg.RemoveProperty(props, k)
	}
	props = msg.AppendProperty(props, msg.PropRealTopic, m.Topic)
	m.Properties = msg.AppendProperty(props, msg.PropRealQueue, strconv.Itoa(int(m.QueueID)))
	m.SysFlag &^= msg.FlagTransactionMask
	m.Topic, m.QueueID = halfTopic, 0
	return nil
}

// ensureTopic creates a one-queue system topic of the transaction service
// unless it exists (Java creates them on first use, perm read+write).
func (t *Service) ensureTopic(name string) error {
	if err := t.cfg.EnsureTopic(name); err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// EndRequest is an END_TRANSACTION (Java EndTransactionRequestHeader), with
// the producer's address and remark for the log.
type EndRequest struct {
	ProducerGroup        string
	TranStateTableOffset int64
	CommitLogOffset      int64
	CommitOrRollback     int32 // TypeUnknown, TypeCommit or TypeRollback
	FromTransactionCheck bool
	MsgID                string
	Producer             string
	Remark               string
}

// End serves END_TRANSACTION: the producer commits or rolls back the half
// message at CommitLogOffset, or says it does not know yet (TypeUnknown:
// nothing happens, a check-back will ask again). It waits for the state to
// load, until closing (the owner's shutdown) is closed or ctx ends. It
// returns a note for the reply's remark, or an *Error.
func (t *Service) End(ctx context.Context, closing <-chan struct{}, h EndRequest) (string, error) {
	switch h.CommitOrRollback {
	case TypeUnknown:
		t.log.Debug("end transaction: state unknown, left for a check-back", "producerGroup", h.ProducerGroup,
			"msgId", h.MsgID, "fromCheck", h.FromTransactionCheck, "producer", h.Producer, "remark", h.Remark)
		return "", nil
	case TypeCommit, TypeRollback:
	default:
		return "", &Error{KindBadType, fmt.Errorf("commitOrRollback %d: want 0 (unknown), 8 (commit) or 12 (rollback)",
			h.CommitOrRollback)}
	}
	if h.CommitLogOffset < 0 {
		return "", systemErrorf("Find prepared transaction message failed: commitLogOffset %d", h.CommitLogOffset)
	}
	rec, err := t.cfg.Store.ReadRecord(h.CommitLogOffset)
	if err != nil {
		return "", systemErrorf("Find prepared transaction message failed: commitLogOffset %d: %v", h.CommitLogOffset, err)
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return "", systemErrorf("Find prepared transaction message failed: commitLogOffset %d: %v", h.CommitLogOffset, err)
	}
	// Java's checkPrepareMessage, plus: the record must be a half message.
	switch pg, _ := r.Property(PropProducerGroup); {
	case string(r.Topic) != halfTopic || r.QueueID != 0:
		return "", systemErrorf("the message at commitLogOffset %d is not a prepared transaction message (topic %s)",
			h.CommitLogOffset, r.Topic)
	case pg != h.ProducerGroup:
		return "", systemErrorf("The producer group wrong")
	case r.QueueOffset != h.TranStateTableOffset:
		return "", systemErrorf("The transaction state table offset wrong")
	}
	select {
	case <-t.Ready():
	case <-closing:
		return "", &Error{KindClosing, errors.New("the broker is closing")}
	case <-ctx.Done():
		return "", &Error{KindBusy, errors.New("transaction state still loading")}
	}
	commit := h.CommitOrRollback == TypeCommit
	note, err := t.end(&r, commit)
	if err == nil {
		t.log.Debug("transaction ended", "commit", commit, "producerGroup", h.ProducerGroup, "msgId", h.MsgID,
			"halfOffset", r.QueueOffset, "fromCheck", h.FromTransactionCheck, "note", note)
	}
	return note, err
}

// origin is the transaction identity of a half record at queue offset off:
// the offset of its first half.
func origin(r *msg.Record) int64 {
	if v, ok := r.Property(PropTranPreparedQueueOffset); ok {
		if o, err := strconv.ParseInt(v, 10, 64); err == nil && o >= 0 && o <= r.QueueOffset {
			return o
		}
	}
	return r.QueueOffset
}

// end resolves the transaction of half record r once: commit stores the
// message in its real topic; both then write the op record. A second end
// of the same transaction (any of its halves, commit or rollback) changes
// nothing and reports success with a note. A failure is an *Error; when
// the committed message was stored but its op record was not, the end
// succeeds with the failure as its note (the next END_TRANSACTION writes
// only the op).
func (t *Service) end(r *msg.Record, commit bool) (string, error) {
	o := origin(r)
	t.mu.Lock()
	st := t.txns[o]
	if st == nil {
		if r.QueueOffset < t.halfNext {
			// The checker went past this half without copying it: the
			// transaction was resolved (or discarded) before.
			t.mu.Unlock()
			return "transaction already ended", nil
		}
		st = &txnState{newest: r.QueueOffset, op: opNone}
		t.txns[o] = st
	}
	if st.op != opNone {
		t.mu.Unlock()
		return "transaction already ended", nil
	}
	// Every op recorded so far is below opEnd, and the store hands out
	// op-queue offsets in increasing order: this END's op lands at or
	// after it. (The queue's dispatched end, QueueState.Max, is a bound
	// too but lags the offsets Put returns, and would cost a store call
	// under mu on every END.)
	st.op, st.claimOp = opClaimed, t.opEnd
	delivered := st.delivered
	t.mu.Unlock()

	var err error
	deliveredNow := false
	if commit && !delivered {
		if err = t.deliver(r); err == nil {
			delivered, deliveredNow = true, true
		}
	}
	opOff := int64(opNone)
	if err == nil {
		opOff, err = t.writeOp(r.QueueOffset, o)
	}

	t.mu.Lock()
	st.delivered = delivered
	if err != nil {
		st.op = opNone // drops the claim: nothing of it need stay ahead of the progress
	} else {
		st.op = opOff
		t.opEnd = max(t.opEnd, opOff+1)
	}
	t.mu.Unlock()
	if err != nil {
		t.log.Error("ending a transaction failed", "commit", commit, "halfOffset", r.QueueOffset, "err", err)
		if deliveredNow {
			return err.Error(), nil
		}
		var te *Error
		if !errors.As(err, &te) {
			err = &Error{KindSystem, err}
		}
		return "", err
	}
	return "", nil
}

// deliver stores the committed message of half record r in its real topic
// and queue (Java endMessageTransaction): same body, flag, born time and
// host, properties minus REAL_TOPIC/REAL_QID and Wharf's bookkeeping, the
// sysFlag transaction bits set to commit and preparedTransactionOffset =
// the half's CommitLog offset. A DELAY property delays it from now on.
func (t *Service) deliver(r *msg.Record) error {
	topic, _ := r.Property(msg.PropRealTopic)
	qidStr, _ := r.Property(msg.PropRealQueue)
	qid, qerr := strconv.ParseInt(qidStr, 10, 32)
	if topic == "" || qerr != nil || qid < 0 {
		return systemErrorf("half message at %d has no valid REAL_TOPIC/REAL_QID (%q, %q)",
			r.PhysOffset, topic, qidStr)
	}
	props, sysFlag := msg.CopyOf(r)
	for _, p := range [...]string{msg.PropRealTopic, msg.PropRealQueue, PropTranPreparedQueueOffset} {
		props = msg.RemoveProperty(props, p)
	}
	m := msg.Message{
		Topic: topic, QueueID: int32(qid), Flag: r.Flag, Body: r.Body, Properties: props,
		SysFlag:       sysFlag&^msg.FlagTransactionMask | msg.FlagTransactionCommit,
		BornTimestamp: r.BornTimestamp, BornHost: r.BornHost, StoreHost: t.cfg.StoreHost,
		ReconsumeTimes: r.ReconsumeTimes, PreparedTransactionOffset: r.PhysOffset,
	}
	if err := t.cfg.Route(&m); err != nil {
		return &Error{KindIllegal, err}
	}
	if _, err := t.cfg.Store.Put(&m); err != nil {
		return &Error{KindStore, fmt.Errorf("storing the committed message: %w", err)}
	}
	return nil
}

// writeOp records that the half at half-queue offset h (transaction o) is
// resolved: an op record in RMQ_SYS_TRANS_OP_HALF_TOPIC, tag "d", body the
// decimal offset h (as Java), plus TRAN_PREPARED_QUEUE_OFFSET = o. It
// returns the op's queue offset.
func (t *Service) writeOp(h, o int64) (int64, error) {
	if err := t.ensureTopic(opTopic); err != nil {
		return 0, err
	}
	props := msg.AppendProperty("", msg.PropTags, transOpRemoveTag)
	props = msg.AppendProperty(props, PropTranPreparedQueueOffset, strconv.FormatInt(o, 10))
	m := msg.Message{
		Topic: opTopic, QueueID: 0, Body: []byte(strconv.FormatInt(h, 10)), Properties: props,
		BornTimestamp: time.Now().UnixMilli(), BornHost: t.cfg.StoreHost, StoreHost: t.cfg.StoreHost,
	}
	res, err := t.cfg.Store.Put(&m)
	if err != nil {
		return 0, fmt.Errorf("storing the op record: %w", err)
	}
	return res.QueueOffset, nil
}

// errNotReadable marks a half record the checker cannot read now.
var errNotReadable = errors.New("half message not readable")

// readRecord reads and decodes the record of a queue entry at phys. Records
// removed by retention or corrupt report ok false with a nil error (skip
// them); other errors mean "try later".
func (t *Service) readRecord(phys int64) (msg.Record, bool, error) {
	if phys < t.cfg.Store.MinPhysOffset() {
		return msg.Record{}, false, nil
	}
	rec, err := t.cfg.Store.ReadRecord(phys)
	if errors.Is(err, engine.ErrCorruption) {
		t.log.Error("transaction record unreadable; skipped", "phys", phys, "err", err)
		return msg.Record{}, false, nil
	}
	if err != nil {
		return msg.Record{}, false, fmt.Errorf("%w: %v", errNotReadable, err)
	}
	r, err := msg.Decode(rec)
	if err != nil {
		t.log.Error("transaction record undecodable; skipped", "phys", phys, "err", err)
		return msg.Record{}, false, nil
	}
	return r, true, nil
}
