package broker

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// handleResetOffset serves INVOKE_BROKER_TO_RESET_OFFSET (222), what
// mqadmin resetOffsetByTime and `wharf admin group reset` send: move a
// group's offsets on one topic to the first message stored at or after a
// timestamp (-1: the end of each queue).
//
// As in RocketMQ, without isForce an offset only moves back (a reset never
// skips messages the group has not consumed), and every online consumer of
// the group is told with RESET_CONSUMER_CLIENT_OFFSET (220, oneway, the new
// table in the body) so it drops what it has buffered and pulls from there.
// Unlike RocketMQ 4.9, which leaves storing the new offsets to those
// consumers and refuses with CONSUMER_NOT_ONLINE when there are none (the
// Java tool then falls back to committing offsets itself), the broker
// commits the new offsets first, so a reset works the same with the group
// offline. A queue the group has no offset for gets the target offset.
// The answer's body is the table, in Java's ResetOffsetBody shape.
func (b *Broker) handleResetOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("group")
	if err != nil {
		return badRequest(req, err)
	}
	if remark, ok := validateTopic(group); !ok {
		return badRequest(req, fmt.Errorf("group: %s", remark))
	}
	topic, err := req.ExtString("topic")
	if err != nil {
		return badRequest(req, err)
	}
	ts, err := req.ExtInt64("timestamp")
	if err != nil {
		return badRequest(req, err)
	}
	if ts < -1 {
		return badRequest(req, fmt.Errorf("timestamp %d: want milliseconds since the epoch, or -1 for the end of each queue", ts))
	}
	force := req.ExtBoolOr("isForce", false)
	tc, ok := b.topics.get(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.RespTopicNotExist,
			fmt.Sprintf("[reset-offset] reset offset failed, no topic in this broker. topic=%s", topic))
	}

	if resp := b.resetGroupCheck(req, group, topic, tc); resp != nil {
		return resp
	}

	table := make([]int64, tc.ReadQueueNums)
	var moved, kept []string
	for q := range tc.ReadQueueNums {
		target, err := b.resetTarget(topic, q, ts)
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
		cur, ok, err := b.store.ConsumerOffset(group, topic, q)
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		}
		if ok && cur >= 0 && !force && target > cur {
			target = cur
			kept = append(kept, strconv.Itoa(int(q)))
		}
		if !ok || cur != target {
			moved = append(moved, strconv.Itoa(int(q)))
		}
		table[q] = target
	}
	for q, off := range table {
		if err := b.commitOffset(group, topic, int32(q), off); err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("[reset-offset] committing queue %d: %v", q, err))
		}
	}
	body := b.resetOffsetBody(topic, table)
	conns := b.clients.Conns(group)
	for _, c := range conns {
		note := remoting.NewRequest(remoting.CodeResetConsumerClientOffset, map[string]string{
			"topic": topic, "group": group, "timestamp": strconv.FormatInt(ts, 10), "isForce": strconv.FormatBool(force),
		}, body)
		if err := c.InvokeOneway(note); err != nil {
			b.log.Warn("reset offset: telling a consumer failed", "group", group, "topic", topic, "consumer", c.RemoteAddr(), "err", err)
		}
	}
	b.log.Info("consumer offsets reset", "group", group, "topic", topic, "timestamp", ts, "force", force,
		"offsets", table, "moved", len(moved), "keptNotForced", len(kept), "consumersTold", len(conns))
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = body
	// Wharf only: which queues moved, and which kept their offset because
	// the target was ahead and isForce was false.
	resp.SetExt("wharfMovedQueues", strings.Join(moved, ","))
	resp.SetExt("wharfKeptQueues", strings.Join(kept, ","))
	return resp
}

// resetGroupCheck refuses a reset for a group the broker does not know (no
// subscription group config and no offset on the topic), so a typo in the
// group name does not create offsets for a group nobody runs; with ext
// wharfCreateGroup=true the group is created instead. nil: go on.
func (b *Broker) resetGroupCheck(req *remoting.Command, group, topic string, tc TopicConfig) *remoting.Command {
	if _, ok := b.groups.get(group); ok {
		return nil
	}
	for q := range tc.ReadQueueNums {
		if _, ok, err := b.store.ConsumerOffset(group, topic, q); err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
		} else if ok {
			return nil
		}
	}
	if !req.ExtBoolOr("wharfCreateGroup", false) {
		return remoting.NewResponse(req, remoting.RespSubscriptionGroupNotExist, fmt.Sprintf(
			"[reset-offset] consumer group %s does not exist on broker %s (no group config, no offsets on topic %s); nothing moved. "+
				"Check the name, or create the group with --create", group, b.cfg.BrokerName, topic))
	}
	if _, _, err := b.groups.getOrCreate(group, true); err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	b.log.Info("reset offset: subscription group created on request", "group", group)
	return nil
}

// resetTarget is the offset a reset to ts moves a queue to: its end for
// -1, else the first offset stored at or after ts (the end when every
// message is older).
func (b *Broker) resetTarget(topic string, queueID int32, ts int64) (int64, error) {
	if ts == -1 {
		st, _ := b.store.QueueState(topic, queueID)
		return st.Max, nil
	}
	off, err := b.store.OffsetByTime(topic, queueID, ts)
	if err != nil {
		return 0, fmt.Errorf("[reset-offset] searching queue %d of %s by time: %w", queueID, topic, err)
	}
	return off, nil
}

// resetOffsetBody encodes Java's ResetOffsetBody as fastjson writes it:
// {"offsetTable":{{"brokerName":..,"queueId":..,"topic":..}:offset,...}}
// (the Go client parses exactly this shape).
func (b *Broker) resetOffsetBody(topic string, table []int64) []byte {
	out := append(make([]byte, 0, 64+len(table)*64), `{"offsetTable":{`...)
	for q, off := range table {
		if q > 0 {
			out = append(out, ',')
		}
		out = body.AppendMessageQueue(out, body.MessageQueue{BrokerName: b.cfg.BrokerName, QueueID: int32(q), Topic: topic})
		out = append(out, ':')
		out = strconv.AppendInt(out, off, 10)
	}
	return append(out, "}}"...)
}
