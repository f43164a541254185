package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/remoting"
)

// queueHeader reads and checks the topic and queueId every offset request
// carries: a valid topic name, a non-negative queueId, and for a topic that
// exists a queue it has. (An unknown topic is not an error: Java answers
// 0 / not found for it.)
func (b *Broker) queueHeader(req *remoting.Command) (topic string, queueID int32, err error) {
	if topic, err = req.ExtString("topic"); err != nil {
		return
	}
	if remark, ok := meta.ValidateTopic(topic); !ok {
		return "", 0, errors.New(remark)
	}
	if queueID, err = req.ExtInt32("queueId"); err != nil {
		return
	}
	if queueID < 0 {
		return "", 0, fmt.Errorf("queueId[%d] is illegal", queueID)
	}
	if tc, ok := b.topics.Get(topic); ok && queueID >= tc.QueueNums() {
		return "", 0, fmt.Errorf("queueId[%d] is illegal, topic[%s] has %d queues", queueID, topic, tc.QueueNums())
	}
	return topic, queueID, nil
}

// groupHeader reads and checks the consumerGroup ext field.
func groupHeader(req *remoting.Command) (string, error) {
	group, err := req.ExtString("consumerGroup")
	if err != nil {
		return "", err
	}
	if remark, ok := meta.ValidateGroup(group); !ok {
		return "", errors.New(remark)
	}
	return group, nil
}

func offsetResponse(req *remoting.Command, offset int64) *remoting.Command {
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.SetExtInt("offset", offset)
	return resp
}

// handleQueryConsumerOffset serves QUERY_CONSUMER_OFFSET (14).
func (b *Broker) handleQueryConsumerOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := groupHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	// A slave answers the offset as stored, as RocketMQ's
	// queryConsumerOffset does: clamped to its lagging queue end it would
	// send the consumer back (and a pull past a slave's end already keeps
	// the consumer's offset, pull.go).
	off, found, err := b.offsets.Query(group, topic, queueID, b.isSlave())
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if !found {
		return remoting.NewResponse(req, remoting.RespQueryNotFound, "Not found, maybe this group consumer boot first")
	}
	return offsetResponse(req, off)
}

// handleUpdateConsumerOffset serves UPDATE_CONSUMER_OFFSET (15), inline on
// the connection's reader so commits apply in wire order. The Go client may
// commit -1; it is stored and reads back as "no offset".
func (b *Broker) handleUpdateConsumerOffset(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := groupHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	off, err := req.ExtInt64("commitOffset")
	if err != nil {
		return badRequest(req, err)
	}
	if off < -1 {
		return badRequest(req, fmt.Errorf("commitOffset %d is negative (only -1, no offset, is allowed)", off))
	}
	if !b.offsets.Stored(group, topic, queueID, off) {
		conn.ReaderWaits() // about to fsync: let other replies go out meanwhile
	}
	if err := b.offsets.Commit(group, topic, queueID, off); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}

// handleGetMaxOffset serves GET_MAX_OFFSET (30): the next offset to be
// written, 0 for an unknown queue.
func (b *Broker) handleGetMaxOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	// The end includes every message whose send was answered before this
	// request, as a pull's answer does (pull.go).
	b.store.AwaitVisible(visibleWait)
	_, maxOffset := b.offsets.Range(topic, queueID)
	return offsetResponse(req, maxOffset)
}

// handleGetMinOffset serves GET_MIN_OFFSET (31).
func (b *Broker) handleGetMinOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	minOffset, _ := b.offsets.Range(topic, queueID)
	return offsetResponse(req, minOffset)
}

// handleSearchOffset serves SEARCH_OFFSET_BY_TIMESTAMP (29): the first
// offset stored at or after the timestamp, the max offset when all are
// older, 0 for an unknown queue.
func (b *Broker) handleSearchOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	ts, err := req.ExtInt64("timestamp")
	if err != nil {
		return badRequest(req, err)
	}
	off, err := b.offsets.SearchByTime(topic, queueID, ts)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	return offsetResponse(req, off)
}

// handleEarliestStoreTime serves GET_EARLIEST_MSG_STORETIME (32): ext
// timestamp, -1 when the queue holds nothing (as Java).
func (b *Broker) handleEarliestStoreTime(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, queueID, err := b.queueHeader(req)
	if err != nil {
		return badRequest(req, err)
	}
	ts, err := b.offsets.EarliestStoreTime(topic, queueID)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.SetExtInt("timestamp", ts)
	return resp
}
