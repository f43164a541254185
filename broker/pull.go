package broker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/wharfmq/wharf/broker/client"
	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// Pull sysFlag bits (Java PullSysFlag).
const (
	pullCommitOffset = 0x1
	pullSuspend      = 0x2
	pullSubscription = 0x4
)

// respFilterDataNotExist is RocketMQ's FILTER_DATA_NOT_EXIST: the group's
// heartbeat named a SQL92 expression that did not compile.
const respFilterDataNotExist int16 = 27

// noPropertyFilter starts RocketMQ's remark for a non-TAG subscription
// while enablePropertyFilter is false (PullMessageProcessor).
const noPropertyFilter = "The broker does not support consumer to filter message by "

// visibleWait bounds how long a pull that may not be held waits for the
// dispatcher to reach what was readable when the pull arrived.
const visibleWait = 200 * time.Millisecond

// maxSuspend caps a held pull below the Go client's 30 s pull timeout.
const maxSuspend = 25 * time.Second

// pullRequest is a parsed PULL_MESSAGE, kept while the pull is held.
type pullRequest struct {
	conn         *remoting.Conn
	req          *remoting.Command
	group        string
	topic        string
	queueID      int32
	offset       int64
	maxNums      int32
	sysFlag      int32
	commitOffset int64
	suspend      time.Duration
	filter       *engine.TagFilter
	// The group's brokerId and whichBrokerWhenConsumeSlowly, for
	// suggestWhichBrokerId (role.go).
	groupBrokerID, slowBrokerID int64
}

// handlePull serves PULL_MESSAGE (11), holding it (long polling, trap T5)
// when nothing is there yet and the SUSPEND bit is set.
func (b *Broker) handlePull(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	p, resp := b.parsePull(conn, req)
	if resp != nil {
		return resp
	}
	if p.sysFlag&pullCommitOffset != 0 && !b.isSlave() {
		// Java stores it on the first run whatever the pull finds; a
		// pull that arrives while the broker drains still commits. A
		// slave never does: its offsets come from the master, and a
		// consumer's pull flag must not overwrite them.
		if err := b.offsets.Commit(p.group, p.topic, p.queueID, p.commitOffset); err != nil {
			b.log.Warn("commit offset on pull failed", "group", p.group, "topic", p.topic, "queue", p.queueID, "err", err)
		}
	}
	if b.closing() {
		return b.closingResponse(p)
	}
	if p.sysFlag&pullSuspend == 0 {
		// A pull that may not be held is answered with what its one read
		// finds: let the dispatcher first reach what is readable now, so
		// that every message whose send was answered before this pull is
		// in its answer. (A held pull that finds nothing is woken by
		// dispatching.)
		b.store.AwaitVisible(visibleWait)
	}
	resp, holdable := b.runPull(p)
	if holdable && p.sysFlag&pullSuspend != 0 {
		if b.parkPull(p) {
			return nil
		}
		return b.closingResponse(p) // park refuses only once closing
	}
	return resp
}

// parsePull reads the header and checks group, topic, queue and
// subscription (Java PullMessageProcessor, in its order).
func (b *Broker) parsePull(conn *remoting.Conn, req *remoting.Command) (*pullRequest, *remoting.Command) {
	p := &pullRequest{conn: conn, req: req}
	var err error
	fail := func(err error) (*pullRequest, *remoting.Command) {
		return nil, b.pullError(req, p.offset, remoting.RespSystemError, "bad request (code 11): "+strings.TrimPrefix(err.Error(), "remoting: "))
	}
	if p.group, err = groupHeader(req); err != nil {
		return fail(err)
	}
	if p.topic, err = req.ExtString("topic"); err != nil {
		return fail(err)
	}
	if p.queueID, err = req.ExtInt32("queueId"); err != nil {
		return fail(err)
	}
	if p.offset, err = req.ExtInt64("queueOffset"); err != nil {
		return fail(err)
	}
	if p.maxNums, err = req.ExtInt32("maxMsgNums"); err != nil {
		return fail(err)
	}
	// RocketMQ serves at least one message whatever maxMsgNums says, and
	// the Go client's lite pull consumer relies on it: unless built with
	// WithPullBatchSize it asks for 0.
	p.maxNums = max(p.maxNums, 1)
	if p.sysFlag, err = req.ExtInt32("sysFlag"); err != nil {
		return fail(err)
	}
	if p.commitOffset, err = req.ExtInt64("commitOffset"); err != nil {
		return fail(err)
	}
	suspendMs, err := req.ExtInt64("suspendTimeoutMillis")
	if err != nil {
		return fail(err)
	}
	p.suspend = min(max(time.Duration(suspendMs)*time.Millisecond, 0), maxSuspend)
	if !b.cfg.LongPollingEnable {
		p.suspend = b.cfg.ShortPollingTimeMills
	}

	gc, ok, err := b.groups.GetOrCreate(p.group, b.cfg.AutoCreateSubscriptionGroup)
	if err != nil {
		return nil, b.pullError(req, p.offset, remoting.RespSystemError, err.Error())
	}
	if !ok {
		return nil, b.pullError(req, p.offset, remoting.RespSubscriptionGroupNotExist,
			fmt.Sprintf("subscription group [%s] does not exist", p.group))
	}
	p.groupBrokerID, p.slowBrokerID = gc.BrokerID, gc.WhichBrokerWhenConsumeSlowly
	if !gc.ConsumeEnable {
		return nil, b.pullError(req, p.offset, remoting.RespNoPermission, "subscription group no permission, "+p.group)
	}
	tc, ok := b.topics.Get(p.topic)
	if !ok {
		return nil, b.pullError(req, p.offset, remoting.RespTopicNotExist,
			fmt.Sprintf("topic[%s] not exist, apply first please!", p.topic))
	}
	if tc.Perm&body.PermRead == 0 {
		return nil, b.pullError(req, p.offset, remoting.RespNoPermission,
			fmt.Sprintf("the topic[%s] pulling message is forbidden", p.topic))
	}
	if p.queueID < 0 || p.queueID >= tc.ReadQueueNums {
		return nil, b.pullError(req, p.offset, remoting.RespSystemError,
			fmt.Sprintf("queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
				p.queueID, p.topic, tc.ReadQueueNums, conn.RemoteAddr()))
	}
	if p.sysFlag&pullSubscription != 0 {
		exp, sub := req.ExtStringOr("expressionType", "TAG"), req.ExtStringOr("subscription", "")
		if client.IsTagType(exp) {
			p.filter = engine.NewTagFilter(client.ParseTags(sub)...)
		} else {
			// RocketMQ's FilterAPI.build refuses an empty expression
			// before enablePropertyFilter is looked at.
			if sub == "" {
				return nil, b.pullError(req, p.offset, remoting.RespSubscriptionParseFailed,
					"parse the consumer's subscription failed: Expression can't be null! "+exp)
			}
			if !b.cfg.EnablePropertyFilter {
				return nil, b.pullError(req, p.offset, remoting.RespSystemError, noPropertyFilter+exp)
			}
			// The official clients send the expression with every pull:
			// compiled once, then taken from the cache.
			if p.filter, err = b.clients.PullFilter(exp, sub); err != nil {
				return nil, b.pullError(req, p.offset, remoting.RespSubscriptionParseFailed,
					"parse the consumer's subscription failed: "+err.Error())
			}
		}
	} else if s, ok := b.clients.Subscription(p.group, p.topic); ok {
		if !client.IsTagType(s.ExpType) {
			// RocketMQ compiles a heartbeat's expression whatever
			// enablePropertyFilter says, and checks that it compiled first.
			if s.SQLErr != nil {
				return nil, b.pullError(req, p.offset, respFilterDataNotExist,
					"The broker's consumer filter data is not exist!Your expression may be wrong! ("+s.SQLErr.Error()+")")
			}
			if !b.cfg.EnablePropertyFilter {
				return nil, b.pullError(req, p.offset, remoting.RespSystemError, noPropertyFilter+s.ExpType)
			}
		}
		p.filter = s.Filter
	} else if b.cfg.EnablePropertyFilter {
		// No heartbeat has told us the subscription yet (a pull that beat
		// the heartbeat after a broker restart). The consumer may filter
		// with SQL92, which clients do not apply again: serving everything
		// would hand it messages its selector drops. Refuse as RocketMQ
		// does; the client retries, and its next heartbeat (at most 30 s
		// away) registers the subscription.
		return nil, b.pullError(req, p.offset, remoting.RespSubscriptionNotExist,
			fmt.Sprintf("the consumer's subscription not exist, group: %s topic: %s (no heartbeat since the broker started)", p.group, p.topic))
	}
	// Otherwise (tag filtering only) no heartbeat has told us the
	// subscription yet: serve everything, the client filters by tag again
	// anyway.
	return p, nil
}

// runPull reads the queue and builds the response. holdable says the
// result was "nothing yet" (19) and the pull may wait for messages.
func (b *Broker) runPull(p *pullRequest) (resp *remoting.Command, holdable bool) {
	res, err := b.store.Get(p.topic, p.queueID, p.offset, int(p.maxNums), p.filter, nil)
	if err != nil {
		return b.pullError(p.req, p.offset, remoting.RespSystemError, "read failed: "+err.Error()), false
	}
	code, holdable := pullCode(res.Status, p.offset)
	next, suggest := res.NextOffset, b.suggestBroker(p, &res)
	if b.isSlave() && movesOffset(res.Status) {
		// A slave may lag its master: it never moves a consumer's offset
		// (Java's nextOffsetCorrection with offsetCheckInSlave=false),
		// and sends it back to the group's broker to retry.
		next = p.offset
		if code == remoting.RespPullOffsetMoved {
			code, suggest = remoting.RespPullRetryImmediately, p.groupBrokerID
		}
	}
	resp = remoting.NewResponse(p.req, code, res.Status.String())
	resp.SetExtInt("nextBeginOffset", next)
	resp.SetExtInt("minOffset", res.MinOffset)
	resp.SetExtInt("maxOffset", res.MaxOffset)
	resp.SetExtInt("suggestWhichBrokerId", suggest)
	if code == remoting.RespSuccess {
		resp.Body = res.Data
	}
	if !connClosed(p.conn) {
		// A held pull woken after its client went away delivers
		// nothing: not counted as messages out.
		b.traffic.countPull(p.topic, p.group, p.queueID, code == remoting.RespSuccess, res.Count, len(res.Data), next)
	}
	return resp, holdable
}

// pullError is an error response that still carries the four offsets the
// Go client always parses (trap T4), pointing at the requested offset.
func (b *Broker) pullError(req *remoting.Command, offset int64, code int16, remark string) *remoting.Command {
	resp := remoting.NewResponse(req, code, remark)
	resp.SetExtInt("nextBeginOffset", offset)
	resp.SetExtInt("minOffset", 0)
	resp.SetExtInt("maxOffset", 0)
	resp.SetExtInt("suggestWhichBrokerId", 0)
	return resp
}

// closingResponse answers a pull while the broker shuts down: SERVICE_NOT_
// AVAILABLE, not "nothing new". Clients pull again at once after an answer
// they understand, on the connection about to close, and the Go client
// then waits its whole 30 s request timeout for that lost pull; after an
// error both official clients wait 3 s, by when they reconnect to the
// restarted broker.
func (b *Broker) closingResponse(p *pullRequest) *remoting.Command {
	return b.pullError(p.req, p.offset, remoting.RespServiceNotAvailable, "the broker is closing; pull again once it is back")
}

// closing reports whether Close has begun.
func (b *Broker) closing() bool {
	select {
	case <-b.quit:
		return true
	default:
		return false
	}
}

// connClosed reports whether c is closed (nil: a pull without a
// connection, as in-process callers make, is never closed).
func connClosed(c *remoting.Conn) bool {
	if c == nil {
		return false
	}
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}
