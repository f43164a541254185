package transaction

import (
	"errors"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/engine/msg"
)

// Start launches the checker goroutine; it loads the state first. It
// does nothing while the checker runs or after Close; after Stop it loads
// the state again from the store (a broker that becomes master again,
// whose log grew by replication meanwhile) and END_TRANSACTION waits for
// that load (Ready).
func (t *Service) Start() {
	t.run.Lock()
	defer t.run.Unlock()
	if t.running || t.closed {
		return
	}
	t.mu.Lock()
	if t.started {
		t.ready = make(chan struct{})
	}
	ready := t.ready
	t.mu.Unlock()
	t.running, t.started = true, true
	t.quit = make(chan struct{})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.runChecker(ready)
	}()
}

// Stop ends the checker after storing its progress, and waits for it;
// Start may run it again.
func (t *Service) Stop() {
	t.run.Lock()
	defer t.run.Unlock()
	if !t.running {
		return
	}
	close(t.quit)
	t.wg.Wait()
	t.running = false
}

// Close stops the checker for good. The store must still be open.
func (t *Service) Close() {
	t.Stop()
	t.run.Lock()
	t.closed = true
	t.run.Unlock()
}

// sleep waits d or until stop; it reports false on stop.
func (t *Service) sleep(d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-t.quit:
		return false
	case <-tm.C:
		return true
	}
}

// runChecker loads the state, closes ready, then checks every
// transactionCheckInterval (Java TransactionalMessageCheckService).
func (t *Service) runChecker(ready chan struct{}) {
	for {
		err := t.load()
		if err == nil {
			break
		}
		t.log.Error("loading the transaction state failed; retrying", "err", err)
		if !t.sleep(txnRetry) {
			return
		}
	}
	close(ready)
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-t.quit:
			t.persist()
			return
		case <-tick.C:
			t.pass()
			t.persist()
		}
	}
}

// loadOffset returns the stored progress in queue 0 of topic, clamped into
// the queue's range.
func (t *Service) loadOffset(topic string) (int64, error) {
	off, ok, err := t.cfg.Store.ConsumerOffset(OffsetGroup, topic, 0)
	if err != nil {
		return 0, err
	}
	st, _ := t.cfg.Store.QueueState(topic, 0)
	if !ok || off < st.Min {
		if ok {
			t.log.Warn("transaction records removed by retention before they were checked", "topic", topic,
				"from", off, "to", st.Min)
		}
		off = st.Min
	}
	return min(off, max(st.Max, st.Min)), nil
}

// scan calls fn with every readable record of queue 0 of topic from offset
// from to the queue's end, and returns that end.
func (t *Service) scan(topic string, from int64, fn func(off int64, r *msg.Record)) (int64, error) {
	qs, ok := t.cfg.Store.QueueState(topic, 0)
	if !ok {
		return from, nil
	}
	type ent struct {
		off  int64
		phys int64
	}
	var batch []ent
	for next := max(from, qs.Min); next < qs.Max; {
		to := min(next+txnBatch, qs.Max)
		batch = batch[:0]
		err := t.cfg.Store.ScanQueue(topic, 0, next, to, func(o int64, e engine.QueueEntry) bool {
			batch = append(batch, ent{o, e.Phys})
			return true
		})
		if err != nil {
			return 0, err
		}
		for _, e := range batch {
			r, ok, err := t.readRecord(e.phys)
			if err != nil {
				return 0, err
			}
			if ok {
				fn(e.off, &r)
			}
		}
		next = to
	}
	return qs.Max, nil
}

// load rebuilds the state from the stored progress: the copies among the
// pending halves tell each checked transaction's newest half, the op records
// not yet behind the progress tell the resolved ones.
func (t *Service) load() error {
	half, err := t.loadOffset(halfTopic)
	if err != nil {
		return err
	}
	op, err := t.loadOffset(opTopic)
	if err != nil {
		return err
	}
	txns := map[int64]*txnState{}
	pending := 0
	halfEnd, err := t.scan(halfTopic, half, func(off int64, r *msg.Record) {
		pending++
		if _, ok := r.Property(PropTranPreparedQueueOffset); !ok {
			return
		}
		o := origin(r)
		if st := txns[o]; st != nil {
			st.newest = max(st.newest, off)
		} else {
			txns[o] = &txnState{newest: off, op: opNone}
		}
	})
	if err != nil {
		return err
	}
	opEnd, err := t.scan(opTopic, op, func(off int64, r *msg.Record) {
		h, err := strconv.ParseInt(string(r.Body), 10, 64)
		if tag, _ := r.Property(msg.PropTags); tag != transOpRemoveTag || err != nil || h < 0 {
			t.log.Warn("illegal op record ignored", "offset", off, "tags", tag, "body", string(r.Body))
			return
		}
		o := h
		if v, ok := r.Property(PropTranPreparedQueueOffset); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= h {
				o = n
			}
		}
		st := txns[o]
		if st == nil {
			st = &txnState{newest: h, op: opNone}
			txns[o] = st
		}
		st.newest = max(st.newest, h)
		if st.op < 0 {
			st.op = off
		}
	})
	if err != nil {
		return err
	}
	t.mu.Lock()
	// An END_TRANSACTION that claimed its transaction before this load
	// (a Stop and Start) records into its state when it ends: keep that
	// state, with its claim, unless the scan found the transaction
	// resolved. Dropped, its claim would no longer hold the op progress
	// back, and its resolution would land in a state nothing reads.
	for o, st := range t.txns {
		if st.op != opClaimed {
			continue
		}
		if n := txns[o]; n != nil {
			if n.op >= 0 {
				continue
			}
			st.newest = max(st.newest, n.newest)
		}
		txns[o] = st
	}
	t.halfNext, t.opEnd, t.txns = half, max(opEnd, op), txns
	t.storedHalf, t.storedOp = half, op
	t.mu.Unlock()
	if pending > 0 {
		t.log.Info("transaction state loaded", "halfOffset", half, "halfEnd", halfEnd, "pendingHalves", pending,
			"opOffset", op, "opEnd", opEnd, "tracked", len(txns))
	}
	return nil
}

// pass checks the half messages from the progress offset to the queue's
// end as of now (copies written during the pass wait for the next one),
// stopping at the first one too young to check (Java
// TransactionalMessageServiceImpl.check).
func (t *Service) pass() {
	qs, ok := t.cfg.Store.QueueState(halfTopic, 0)
	if !ok {
		return
	}
	start := time.Now()
	end := qs.Max
	type ent struct {
		off  int64
		phys int64
	}
	var batch []ent
	for {
		select {
		case <-t.quit:
			return
		default:
		}
		if time.Since(start) > txnMaxPass {
			t.log.Warn("transaction check pass took too long; the rest waits for the next one", "limit", txnMaxPass)
			return
		}
		t.mu.Lock()
		next := t.halfNext
		t.mu.Unlock()
		if next >= end {
			return
		}
		qs, _ = t.cfg.Store.QueueState(halfTopic, 0)
		if next < qs.Min {
			t.log.Warn("half messages removed by retention before they were resolved", "lost", qs.Min-next)
			t.setNext(qs.Min)
			continue
		}
		to := min(next+txnBatch, end)
		batch = batch[:0]
		err := t.cfg.Store.ScanQueue(halfTopic, 0, next, to, func(o int64, e engine.QueueEntry) bool {
			batch = append(batch, ent{o, e.Phys})
			return true
		})
		if err != nil {
			t.log.Error("reading the half queue failed", "offset", next, "err", err)
			return
		}
		if len(batch) == 0 {
			t.log.Warn("hole in the half queue skipped", "from", next, "to", to)
			t.setNext(to)
			continue
		}
		for _, e := range batch {
			cont, chk := t.checkOne(e.off, e.phys)
			if chk != nil {
				t.sendCheck(chk)
			}
			if !cont {
				return
			}
		}
	}
}

func (t *Service) setNext(off int64) {
	t.mu.Lock()
	t.halfNext = max(t.halfNext, off)
	t.mu.Unlock()
}

// checkOne handles the half at queue offset off: skip it (resolved, or an
// older half of a checked transaction), discard it (checked
// transactionCheckMax times, or older than fileReservedTime), stop the pass
// (too young), or copy it to the back of the half queue with
// TRANSACTION_CHECK_TIMES + 1 and return the check to send for the copy.
// It reports whether the pass goes on.
func (t *Service) checkOne(off, phys int64) (bool, *Check) {
	r, ok, err := t.readRecord(phys)
	if err != nil {
		t.log.Error("reading a half message failed; retrying next pass", "offset", off, "err", err)
		return false, nil
	}
	if !ok || r.QueueOffset != off {
		if ok {
			t.log.Error("half queue entry points at a record of another offset; skipped", "offset", off, "record", r.QueueOffset)
		}
		t.setNext(off + 1)
		return true, nil
	}
	o := origin(&r)
	now := time.Now().UnixMilli()

	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.txns[o]
	switch {
	case st != nil && (st.newest > off || st.op >= 0):
		t.halfNext = off + 1
		return true, nil
	case st != nil && st.op == opClaimed:
		return false, nil // an END_TRANSACTION is resolving it: look again next pass
	}
	times := checkTimes(&r)
	ref := r.BornTimestamp
	if ref > now {
		// The producer's clock is ahead: count from the store time.
		ref = r.StoreTimestamp
	}
	age := time.Duration(now-ref) * time.Millisecond
	if age < 0 {
		// The broker's clock went back: check now rather than hold up
		// the queue (as Java).
		age = t.cfg.Timeout
	}
	tooOld := t.cfg.FileReservedTime > 0 && age > t.cfg.FileReservedTime
	if times >= t.cfg.CheckMax || tooOld {
		return t.discardHalf(&r, o, off, times)
	}
	immunity := t.cfg.Timeout
	if v, ok := r.Property(PropCheckImmunitySeconds); ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < int64(engine.MaxLevelDelay/time.Second) {
			immunity = max(immunity, time.Duration(n)*time.Second)
		}
	}
	if age < immunity {
		if immunity == t.cfg.Timeout {
			return false, nil // the halves behind it are younger still
		}
		// A long CHECK_IMMUNITY_TIME must not hold up the queue: move the
		// half to the back unchanged (Java putImmunityMsgBackToHalfQueue).
		res, _, err := t.copyHalf(&r, o, times, false)
		if uncopyable(err) {
			return t.discardHalf(&r, o, off, times)
		}
		if err != nil {
			t.log.Error("moving a half message back failed; retrying next pass", "offset", off, "err", err)
			return false, nil
		}
		t.stateLocked(o, off).newest = res.QueueOffset
		t.halfNext = off + 1
		return true, nil
	}
	res, m, err := t.copyHalf(&r, o, times+1, true)
	if uncopyable(err) {
		return t.discardHalf(&r, o, off, times)
	}
	if err != nil {
		t.log.Error("copying a half message for its check failed; retrying next pass", "offset", off, "err", err)
		return false, nil
	}
	t.stateLocked(o, off).newest = res.QueueOffset
	t.halfNext = off + 1
	group, _ := r.Property(PropProducerGroup)
	return true, t.checkRequest(group, &m, res)
}

// uncopyable says whether a half's copy failed for good: the store refuses
// the copy itself (its properties, with the check's, over the limit; a
// body over a maxMessageSize lowered since), which no later pass changes.
// Retried, it would hold up every half behind it for ever.
func uncopyable(err error) bool {
	return errors.Is(err, engine.ErrIllegal) || errors.Is(err, engine.ErrMessageTooLarge)
}

// discardHalf gives up on half r (discard) and moves past it; on a failure
// the pass stops there and retries it next time.
// REQUIRES: t.mu held.
func (t *Service) discardHalf(r *msg.Record, o, off int64, times int) (bool, *Check) {
	opOff, err := t.discard(r, o, times)
	if err != nil {
		t.log.Error("discarding a half message failed; retrying next pass", "offset", off, "err", err)
		return false, nil
	}
	t.stateLocked(o, off).op = opOff
	t.opEnd = max(t.opEnd, opOff+1)
	t.halfNext = off + 1
	return true, nil
}

// stateLocked returns the state of transaction o, creating it with newest
// half off. REQUIRES: t.mu held.
func (t *Service) stateLocked(o, off int64) *txnState {
	st := t.txns[o]
	if st == nil {
		st = &txnState{newest: off, op: opNone}
		t.txns[o] = st
	}
	st.newest = max(st.newest, off)
	return st
}

// checkTimes is a half's TRANSACTION_CHECK_TIMES, 0 when absent or bad.
func checkTimes(r *msg.Record) int {
	v, ok := r.Property(PropTranCheckTimes)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// copyHalf stores a copy of half r at the back of the half queue with
// TRAN_PREPARED_QUEUE_OFFSET = o and, when setTimes, TRANSACTION_CHECK_TIMES
// = times (Java renewHalfMessageInner). It returns where the copy went and
// the message as built (properties without the record checksum).
func (t *Service) copyHalf(r *msg.Record, o int64, times int, setTimes bool) (engine.PutResult, msg.Message, error) {
	props, sysFlag := msg.CopyOf(r)
	props = msg.RemoveProperty(props, PropTranPreparedQueueOffset)
	if setTimes {
		props = msg.AppendProperty(msg.RemoveProperty(props, PropTranCheckTimes), PropTranCheckTimes, strconv.Itoa(times))
	}
	props = msg.AppendProperty(props, PropTranPreparedQueueOffset, strconv.FormatInt(o, 10))
	m := msg.Message{
		Topic: halfTopic, QueueID: 0, Flag: r.Flag, Body: r.Body, Properties: props,
		SysFlag: sysFlag &^ msg.FlagTransactionMask, BornTimestamp: r.BornTimestamp, BornHost: r.BornHost,
		StoreHost: t.cfg.StoreHost, ReconsumeTimes: r.ReconsumeTimes,
	}
	put := m // Put adds the checksum slot to its argument
	res, err := t.cfg.Store.Put(&put)
	return res, m, err
}

// discard gives up on half r after times checks: a copy goes to
// TRANS_CHECK_MAX_TIME_TOPIC (Java DefaultTransactionalMessageCheckListener)
// and an op record ends the transaction. It returns the op's offset.
func (t *Service) discard(r *msg.Record, o int64, times int) (int64, error) {
	if err := t.ensureTopic(checkMaxTopic); err != nil {
		return 0, err
	}
	props, sysFlag := msg.CopyOf(r)
	m := msg.Message{
		Topic: checkMaxTopic, QueueID: 0, Flag: r.Flag, Body: r.Body, Properties: props, SysFlag: sysFlag,
		BornTimestamp: r.BornTimestamp, BornHost: r.BornHost, StoreHost: t.cfg.StoreHost, ReconsumeTimes: r.ReconsumeTimes,
	}
	if _, err := t.cfg.Store.Put(&m); err != nil {
		return 0, err
	}
	realTopic, _ := r.Property(msg.PropRealTopic)
	uniq, _ := r.Property(msg.PropUniqKey)
	t.log.Warn("half message checked too many times or too old; moved to "+checkMaxTopic,
		"checks", times, "realTopic", realTopic, "msgId", uniq, "halfOffset", r.QueueOffset)
	return t.writeOp(r.QueueOffset, o)
}

// checkRequest builds the CHECK_TRANSACTION_STATE (39) to group for the
// copy m stored at res (Java AbstractTransactionalMessageCheckListener
// .sendCheckMessage): the header names the copy, the body is the copy
// encoded as a stored record with its real topic and queue.
func (t *Service) checkRequest(group string, m *msg.Message, res engine.PutResult) *Check {
	uniq, _ := msg.Property(m.Properties, msg.PropUniqKey)
	body := *m
	if topic, ok := msg.Property(m.Properties, msg.PropRealTopic); ok && topic != "" {
		body.Topic = topic
	}
	if v, ok := msg.Property(m.Properties, msg.PropRealQueue); ok {
		if q, err := strconv.ParseInt(v, 10, 32); err == nil && q >= 0 {
			body.QueueID = int32(q)
		}
	}
	rec := msg.AppendRecord(nil, &body)
	msg.SetOffsets(rec, res.QueueOffset, res.Phys)
	msg.SetStoreTimestamp(rec, res.StoreTime)
	return &Check{
		Group: group, Topic: body.Topic, TranStateTableOffset: res.QueueOffset, CommitLogOffset: res.Phys,
		MsgID: uniq, OffsetMsgID: msg.OffsetMsgID(t.cfg.StoreHost, res.Phys), Body: rec,
	}
}

// sendCheck sends a check, oneway, to the live producer of its group that
// sent the latest heartbeat. Without one the check is lost, as in Java; the
// next pass checks again.
func (t *Service) sendCheck(c *Check) {
	err := t.cfg.Checker.SendCheck(c)
	switch {
	case errors.Is(err, ErrNoProducer):
		t.log.Warn("transaction check not sent: no live producer in the group", "producerGroup", c.Group,
			"msgId", c.MsgID, "err", err)
	case err != nil:
		t.log.Warn("transaction check not sent", "producerGroup", c.Group, "err", err)
	}
}

// persist stores the progress: the half offset once everything written
// before it is durable (a copy or op must never be lost behind it), then
// the op offset below which no op is needed any more (all halves of its
// transaction are behind the stored half offset) and none will land (an
// END_TRANSACTION in flight writes its op at or after the op end it saw
// when it claimed). A crash can therefore repeat a check or a commit but
// never lose a half message.
//
// An op the load after a restart does not scan leaves its transaction
// unresolved while halves of it are ahead of the checker: the checker
// would copy the half and ask the producer again, and a commit answer
// would deliver the message a second time.
func (t *Service) persist() {
	t.mu.Lock()
	half := t.halfNext
	end := t.cfg.Store.MaxPhysOffset()
	t.mu.Unlock()
	if half != t.storedHalf {
		if err := t.cfg.Store.WaitDurable(end); err != nil {
			t.keptBack.Warn(t.log, 10*time.Second, "transaction records not durable (or not on a slave under SYNC_MASTER); progress kept back", "err", err)
			return
		}
		if err := t.cfg.Store.CommitOffset(OffsetGroup, halfTopic, 0, half); err != nil {
			t.log.Error("storing the half-queue progress failed", "offset", half, "err", err)
			return
		}
		t.storedHalf = half
	}
	t.mu.Lock()
	for o, st := range t.txns {
		if st.op >= 0 && st.newest < t.storedHalf {
			delete(t.txns, o)
		}
	}
	op := t.opEnd
	for _, st := range t.txns {
		switch {
		case st.op >= 0:
			op = min(op, st.op)
		case st.op == opClaimed:
			op = min(op, st.claimOp)
		}
	}
	t.mu.Unlock()
	if op != t.storedOp {
		if err := t.cfg.Store.CommitOffset(OffsetGroup, opTopic, 0, op); err != nil {
			t.log.Error("storing the op-queue progress failed", "offset", op, "err", err)
			return
		}
		t.storedOp = op
	}
}
