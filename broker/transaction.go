package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/transaction"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// newTxnService builds the transaction service of b; it needs the store,
// the topic table and the scheduler.
func newTxnService(b *Broker) *transaction.Service {
	return transaction.New(transaction.Config{
		Store: replicatedStore{b.store, b}, EnsureTopic: b.ensureTxnTopic, Route: b.sched.Route, Checker: txnChecker{b},
		StoreHost: b.storeHost, BrokerName: b.cfg.BrokerName, Reject: b.cfg.RejectTransactionMessage,
		Timeout: b.cfg.TransactionTimeOut, Interval: b.cfg.TransactionCheckInterval,
		CheckMax: b.cfg.TransactionCheckMax, FileReservedTime: b.cfg.FileReservedTime,
	}, b.log)
}

// ensureTxnTopic creates a one-queue system topic of the transaction
// service unless it exists (Java creates them on first use, perm
// read+write).
func (b *Broker) ensureTxnTopic(name string) error {
	if _, ok := b.topics.Get(name); ok {
		return nil
	}
	_, _, err := b.topics.GetOrCreate(name, func() (body.TopicConfig, bool) {
		return meta.NewTopicConfig(name, 1, body.PermRead|body.PermWrite), true
	})
	return err
}

// prepareTxn turns a message sent with TRAN_MSG=true into a half message
// (transaction.Service.Prepare). It returns the response refusing the
// send, if any.
func (b *Broker) prepareTxn(req *remoting.Command, m *msg.Message) *remoting.Command {
	if err := b.txn.Prepare(m); err != nil {
		return txnErrorResponse(req, err)
	}
	return nil
}

// txnErrorResponse answers a refusal of the transaction service.
func txnErrorResponse(req *remoting.Command, err error) *remoting.Command {
	code := remoting.RespSystemError
	var te *transaction.Error
	if errors.As(err, &te) {
		switch te.Kind {
		case transaction.KindBadType:
			return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("bad request (code %d): %v", req.Code, err))
		case transaction.KindForbidden:
			code = remoting.RespNoPermission
		case transaction.KindIllegal:
			code = remoting.RespMessageIllegal
		case transaction.KindStore:
			code = putErrorCode(te.Err)
		case transaction.KindClosing:
			code = remoting.RespServiceNotAvailable
		case transaction.KindBusy:
			code = remoting.RespSystemBusy
		}
	}
	return remoting.NewResponse(req, code, err.Error())
}

func parseEndHeader(req *remoting.Command) (h transaction.EndRequest, err error) {
	if h.ProducerGroup, err = req.ExtString("producerGroup"); err != nil {
		return h, err
	}
	if h.TranStateTableOffset, err = req.ExtInt64("tranStateTableOffset"); err != nil {
		return h, err
	}
	if h.CommitLogOffset, err = req.ExtInt64("commitLogOffset"); err != nil {
		return h, err
	}
	if h.CommitOrRollback, err = req.ExtInt32("commitOrRollback"); err != nil {
		return h, err
	}
	h.FromTransactionCheck = req.ExtBoolOr("fromTransactionCheck", false)
	h.MsgID = req.ExtStringOr("msgId", "")
	h.Remark = req.Remark
	return h, nil
}

// handleEndTransaction serves END_TRANSACTION (37): the producer commits
// or rolls back the half message at commitLogOffset, or says it does not
// know yet (transaction.Service.End). Go sends it unflagged but expects no
// reply; errors are answered with code 1 and a remark anyway, which Go
// ignores.
func (b *Broker) handleEndTransaction(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	h, err := parseEndHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	h.Producer = conn.RemoteAddr()
	note, err := b.txn.End(ctx, b.quit, h)
	if err != nil {
		return txnErrorResponse(req, err)
	}
	return remoting.NewResponse(req, remoting.RespSuccess, note)
}

// txnChecker sends the transaction service's check-backs.
type txnChecker struct{ b *Broker }

// SendCheck sends CHECK_TRANSACTION_STATE (39), oneway, to the live
// producer of c's group that sent the latest heartbeat. Under ACL only a
// producer whose account may publish to the half's topic counts: any
// account can name any producer group in a heartbeat, and the check
// carries the half message; the producer that sent it had that right.
// Without one the check is not sent (ErrNoProducer) and the half is
// checked again on a later pass.
func (tc txnChecker) SendCheck(c *transaction.Check) error {
	var keep func(*remoting.Conn, string) bool
	if a := tc.b.acl; a != nil {
		keep = func(conn *remoting.Conn, account string) bool {
			return a.Allowed(account, conn.RemoteAddr(), c.Topic, acl.Pub)
		}
	}
	conn := tc.b.clients.ProducerConnWhere(c.Group, keep)
	if conn == nil {
		if keep != nil {
			return fmt.Errorf("%w whose account may publish to %s", transaction.ErrNoProducer, c.Topic)
		}
		return transaction.ErrNoProducer
	}
	req := remoting.NewRequest(remoting.CodeCheckTransactionState, map[string]string{
		"tranStateTableOffset": strconv.FormatInt(c.TranStateTableOffset, 10),
		"commitLogOffset":      strconv.FormatInt(c.CommitLogOffset, 10),
		"msgId":                c.MsgID,
		"transactionId":        c.MsgID,
		"offsetMsgId":          c.OffsetMsgID,
	}, c.Body)
	if err := conn.InvokeOneway(req); err != nil {
		return fmt.Errorf("producer %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}
