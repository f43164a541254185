package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
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

// TransOffsetGroup is the reserved consumer group under which the
// transaction checker stores its progress in the half and op queues (Java
// CID_RMQ_SYS_TRANS). The ':' keeps it apart from client group names.
const TransOffsetGroup = "wharf:transaction"

// Transaction types of END_TRANSACTION's commitOrRollback (Java
// MessageSysFlag); they are the sysFlag transaction bits.
const (
	tranNotType      = 0
	tranCommitType   = int32(msg.FlagTransactionCommit)
	tranRollbackType = int32(msg.FlagTransactionRoll)
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
	newest    int64 // half-queue offset of the newest half (copy)
	op        int64 // op-queue offset of its op record, or opNone/opClaimed
	delivered bool  // committed message stored, op not yet (retry writes only the op)
}

// txnService implements RocketMQ's transactional messages: half messages in
// RMQ_SYS_TRANS_HALF_TOPIC, END_TRANSACTION, op records in
// RMQ_SYS_TRANS_OP_HALF_TOPIC, and the check-back (txncheck.go).
type txnService struct {
	b        *Broker
	log      *slog.Logger
	timeout  time.Duration
	interval time.Duration
	checkMax int

	ready chan struct{} // closed once the state is loaded

	mu       sync.Mutex
	halfNext int64 // next half-queue offset the checker examines
	opEnd    int64 // op-queue offset past the last op recorded
	inflight int   // END_TRANSACTIONs between claim and record
	txns     map[int64]*txnState
	// storedHalf and storedOp are the stored progress; owned by the
	// checker goroutine.
	storedHalf, storedOp int64

	startOnce sync.Once
	stopOnce  sync.Once
	quit      chan struct{}
	wg        sync.WaitGroup
}

func newTxnService(b *Broker) *txnService {
	return &txnService{
		b: b, log: b.log.With("component", "transaction"),
		timeout: b.cfg.TransactionTimeOut, interval: b.cfg.TransactionCheckInterval,
		checkMax: b.cfg.TransactionCheckMax,
		ready:    make(chan struct{}), txns: map[int64]*txnState{},
		storedHalf: -1, storedOp: -1, quit: make(chan struct{}),
	}
}

// isTranMsg reports whether a properties string has TRAN_MSG=true.
func isTranMsg(props string) bool {
	v, ok := msg.Property(props, msg.PropTranMsg)
	return ok && strings.EqualFold(v, "true")
}

// prepare turns a message sent with TRAN_MSG=true into a half message (Java
// TransactionalMessageBridge.parseHalfMessageInner): its real topic and
// queue go into REAL_TOPIC/REAL_QID, the sysFlag transaction bits are
// cleared, and it is stored in queue 0 of RMQ_SYS_TRANS_HALF_TOPIC, where
// it is dispatched like any message. It returns the response refusing the
// send, if any.
func (t *txnService) prepare(req *remoting.Command, m *msg.Message) *remoting.Command {
	if t.b.cfg.RejectTransactionMessage {
		return remoting.NewResponse(req, remoting.RespNoPermission,
			fmt.Sprintf("the broker[%s] sending transaction message is forbidden", t.b.cfg.BrokerName))
	}
	if err := t.ensureTopic(TransHalfTopic); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	props := removeProperty(removeProperty(m.Properties, msg.PropRealTopic), msg.PropRealQueue)
	props = msg.AppendProperty(props, msg.PropRealTopic, m.Topic)
	m.Properties = msg.AppendProperty(props, msg.PropRealQueue, strconv.Itoa(int(m.QueueID)))
	m.SysFlag &^= msg.FlagTransactionMask
	m.Topic, m.QueueID = TransHalfTopic, 0
	return nil
}

// ensureTopic creates a one-queue system topic of the transaction service
// unless it exists (Java creates them on first use, perm read+write).
func (t *txnService) ensureTopic(name string) error {
	if _, ok := t.b.topics.get(name); ok {
		return nil
	}
	_, _, err := t.b.topics.getOrCreate(name, func() (TopicConfig, bool) {
		return newTopicConfig(name, 1, PermRead|PermWrite), true
	})
	if err != nil {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// endHeader is Java's EndTransactionRequestHeader.
type endHeader struct {
	producerGroup        string
	tranStateTableOffset int64
	commitLogOffset      int64
	commitOrRollback     int32
	fromTransactionCheck bool
	msgID                string
}

func parseEndHeader(req *remoting.Command) (h endHeader, err error) {
	if h.producerGroup, err = req.ExtString("producerGroup"); err != nil {
		return h, err
	}
	if h.tranStateTableOffset, err = req.ExtInt64("tranStateTableOffset"); err != nil {
		return h, err
	}
	if h.commitLogOffset, err = req.ExtInt64("commitLogOffset"); err != nil {
		return h, err
	}
	if h.commitOrRollback, err = req.ExtInt32("commitOrRollback"); err != nil {
		return h, err
	}
	h.fromTransactionCheck = req.ExtBoolOr("fromTransactionCheck", false)
	h.msgID = req.ExtStringOr("msgId", "")
	return h, nil
}

// handleEndTransaction serves END_TRANSACTION (37): the producer commits
// or rolls back the half message at commitLogOffset, or says it does not
// know yet (commitOrRollback 0: nothing happens, a check-back will ask
// again). Go sends it unflagged but expects no reply; errors are answered
// with code 1 and a remark anyway, which Go ignores.
func (b *Broker) handleEndTransaction(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := parseEndHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	switch h.commitOrRollback {
	case tranNotType:
		b.txn.log.Debug("end transaction: state unknown, left for a check-back", "producerGroup", h.producerGroup,
			"msgId", h.msgID, "fromCheck", h.fromTransactionCheck, "producer", conn.RemoteAddr(), "remark", req.Remark)
		return remoting.NewResponse(req, remoting.RespSuccess, "")
	case tranCommitType, tranRollbackType:
	default:
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("bad request (code %d): commitOrRollback %d: want 0 (unknown), 8 (commit) or 12 (rollback)",
				req.Code, h.commitOrRollback))
	}
	if h.commitLogOffset < 0 {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("Find prepared transaction message failed: commitLogOffset %d", h.commitLogOffset))
	}
	rec, err := b.store.ReadRecord(h.commitLogOffset)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("Find prepared transaction message failed: commitLogOffset %d: %v", h.commitLogOffset, err))
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("Find prepared transaction message failed: commitLogOffset %d: %v", h.commitLogOffset, err))
	}
	// Java's checkPrepareMessage, plus: the record must be a half message.
	switch pg, _ := r.Property(PropProducerGroup); {
	case string(r.Topic) != TransHalfTopic || r.QueueID != 0:
		return remoting.NewResponse(req, remoting.RespSystemError,
			fmt.Sprintf("the message at commitLogOffset %d is not a prepared transaction message (topic %s)", h.commitLogOffset, r.Topic))
	case pg != h.producerGroup:
		return remoting.NewResponse(req, remoting.RespSystemError, "The producer group wrong")
	case r.QueueOffset != h.tranStateTableOffset:
		return remoting.NewResponse(req, remoting.RespSystemError, "The transaction state table offset wrong")
	}
	select {
	case <-b.txn.ready:
	case <-b.quit:
		return remoting.NewResponse(req, remoting.RespServiceNotAvailable, "the broker is closing")
	case <-ctx.Done():
		return remoting.NewResponse(req, remoting.RespSystemBusy, "transaction state still loading")
	}
	commit := h.commitOrRollback == tranCommitType
	code, remark := b.txn.end(&r, commit)
	if code == remoting.RespSuccess {
		b.txn.log.Debug("transaction ended", "commit", commit, "producerGroup", h.producerGroup, "msgId", h.msgID,
			"halfOffset", r.QueueOffset, "fromCheck", h.fromTransactionCheck, "note", remark)
	}
	return remoting.NewResponse(req, code, remark)
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
// nothing and reports success with a remark.
func (t *txnService) end(r *msg.Record, commit bool) (int16, string) {
	o := origin(r)
	t.mu.Lock()
	st := t.txns[o]
	if st == nil {
		if r.QueueOffset < t.halfNext {
			// The checker went past this half without copying it: the
			// transaction was resolved (or discarded) before.
			t.mu.Unlock()
			return remoting.RespSuccess, "transaction already ended"
		}
		st = &txnState{newest: r.QueueOffset, op: opNone}
		t.txns[o] = st
	}
	if st.op != opNone {
		t.mu.Unlock()
		return remoting.RespSuccess, "transaction already ended"
	}
	st.op = opClaimed
	t.inflight++
	delivered := st.delivered
	t.mu.Unlock()

	var err error
	code := remoting.RespSystemError
	if commit && !delivered {
		if code, err = t.deliver(r); err == nil {
			delivered = true
		}
	}
	opOff := int64(opNone)
	if err == nil {
		opOff, err = t.writeOp(r.QueueOffset, o)
	}

	t.mu.Lock()
	t.inflight--
	st.delivered = delivered
	if err != nil {
		st.op = opNone
	} else {
		st.op = opOff
		t.opEnd = max(t.opEnd, opOff+1)
	}
	t.mu.Unlock()
	if err != nil {
		t.log.Error("ending a transaction failed", "commit", commit, "halfOffset", r.QueueOffset, "err", err)
		return code, err.Error()
	}
	return remoting.RespSuccess, ""
}

// deliver stores the committed message of half record r in its real topic
// and queue (Java endMessageTransaction): same body, flag, born time and
// host, properties minus REAL_TOPIC/REAL_QID and Wharf's bookkeeping, the
// sysFlag transaction bits set to commit and preparedTransactionOffset =
// the half's CommitLog offset. A DELAY property delays it from now on.
func (t *txnService) deliver(r *msg.Record) (int16, error) {
	topic, _ := r.Property(msg.PropRealTopic)
	qidStr, _ := r.Property(msg.PropRealQueue)
	qid, qerr := strconv.ParseInt(qidStr, 10, 32)
	if topic == "" || qerr != nil || qid < 0 {
		return remoting.RespSystemError, fmt.Errorf("half message at %d has no valid REAL_TOPIC/REAL_QID (%q, %q)",
			r.PhysOffset, topic, qidStr)
	}
	props, sysFlag := copyOf(r)
	for _, p := range [...]string{msg.PropRealTopic, msg.PropRealQueue, PropTranPreparedQueueOffset} {
		props = removeProperty(props, p)
	}
	m := msg.Message{
		Topic: topic, QueueID: int32(qid), Flag: r.Flag, Body: r.Body, Properties: props,
		SysFlag:       sysFlag&^msg.FlagTransactionMask | msg.FlagTransactionCommit,
		BornTimestamp: r.BornTimestamp, BornHost: r.BornHost, StoreHost: t.b.storeHost,
		ReconsumeTimes: r.ReconsumeTimes, PreparedTransactionOffset: r.PhysOffset,
	}
	if err := t.b.sched.Route(&m); err != nil {
		return remoting.RespMessageIllegal, err
	}
	if _, err := t.b.store.Put(&m); err != nil {
		return putErrorCode(err), fmt.Errorf("storing the committed message: %w", err)
	}
	return remoting.RespSuccess, nil
}

// writeOp records that the half at half-queue offset h (transaction o) is
// resolved: an op record in RMQ_SYS_TRANS_OP_HALF_TOPIC, tag "d", body the
// decimal offset h (as Java), plus TRAN_PREPARED_QUEUE_OFFSET = o. It
// returns the op's queue offset.
func (t *txnService) writeOp(h, o int64) (int64, error) {
	if err := t.ensureTopic(TransOpHalfTopic); err != nil {
		return 0, err
	}
	props := msg.AppendProperty("", msg.PropTags, transOpRemoveTag)
	props = msg.AppendProperty(props, PropTranPreparedQueueOffset, strconv.FormatInt(o, 10))
	m := msg.Message{
		Topic: TransOpHalfTopic, QueueID: 0, Body: []byte(strconv.FormatInt(h, 10)), Properties: props,
		BornTimestamp: time.Now().UnixMilli(), BornHost: t.b.storeHost, StoreHost: t.b.storeHost,
	}
	res, err := t.b.store.Put(&m)
	if err != nil {
		return 0, fmt.Errorf("storing the op record: %w", err)
	}
	return res.QueueOffset, nil
}

// producerConn returns the connection of the member of producer group
// group that sent the latest heartbeat, or nil.
func (cm *clientManager) producerConn(group string) *remoting.Conn {
	cm.mu.Lock()
	defer cm.mu.Unlock()
	var best *member
	for _, m := range cm.producers[group] {
		if best == nil || m.lastSeen.After(best.lastSeen) {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	return best.conn
}

// errNotReadable marks a half record the checker cannot read now.
var errNotReadable = errors.New("half message not readable")

// readRecord reads and decodes the record of a queue entry at phys. Records
// removed by retention or corrupt report ok false with a nil error (skip
// them); other errors mean "try later".
func (t *txnService) readRecord(phys int64) (msg.Record, bool, error) {
	if phys < t.b.store.MinPhysOffset() {
		return msg.Record{}, false, nil
	}
	rec, err := t.b.store.ReadRecord(phys)
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
