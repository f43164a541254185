package broker

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/wharfmq/wharf/broker/meta"
	"github.com/wharfmq/wharf/broker/offsets"
	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// handleResetOffset serves INVOKE_BROKER_TO_RESET_OFFSET (222), what
// mqadmin resetOffsetByTime and `wharf admin group reset` send: move a
// group's offsets on one topic to the first message stored at or after a
// timestamp (-1: the end of each queue).
//
// Which offsets move (isForce, queues without an offset, unknown groups) is
// offsets.Service.Reset's rule. Every online consumer of the group is told
// with RESET_CONSUMER_CLIENT_OFFSET (220, oneway, the new table in the
// body) so it drops what it has buffered and pulls from there. Unlike
// RocketMQ 4.9, which leaves storing the new offsets to those consumers and
// refuses with CONSUMER_NOT_ONLINE when there are none (the Java tool then
// falls back to committing offsets itself), the broker commits the new
// offsets first, so a reset works the same with the group offline. The
// answer's body is the table, in Java's ResetOffsetBody shape.
func (b *Broker) handleResetOffset(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	group, err := req.ExtString("group")
	if err != nil {
		return badRequest(req, err)
	}
	// ValidateGroup first: the topic rule below refuses a reserved name
	// too (':' is not a topic character), but its remark does not say why.
	if remark, ok := meta.ValidateGroup(group); !ok {
		return badRequest(req, fmt.Errorf("group: %s", remark))
	}
	if remark, ok := meta.ValidateTopic(group); !ok {
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
	tc, ok := b.topics.Get(topic)
	if !ok {
		return remoting.NewResponse(req, remoting.RespTopicNotExist,
			fmt.Sprintf("[reset-offset] reset offset failed, no topic in this broker. topic=%s", topic))
	}

	res, err := b.offsets.Reset(offsets.Reset{Group: group, Topic: topic, Queues: tc.ReadQueueNums, Timestamp: ts,
		Force: force, CreateGroup: req.ExtBoolOr("wharfCreateGroup", false)})
	if errors.Is(err, offsets.ErrUnknownGroup) {
		return remoting.NewResponse(req, remoting.RespSubscriptionGroupNotExist, fmt.Sprintf(
			"[reset-offset] consumer group %s does not exist on broker %s (no group config, no offsets on topic %s); nothing moved. "+
				"Check the name, or create the group with --create", group, b.cfg.BrokerName, topic))
	}
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	table := res.Offsets
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
		"offsets", table, "moved", len(res.Moved), "keptNotForced", len(res.Kept), "consumersTold", len(conns))
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = body
	// Wharf only: which queues moved, and which kept their offset because
	// the target was ahead and isForce was false.
	resp.SetExt("wharfMovedQueues", joinQueues(res.Moved))
	resp.SetExt("wharfKeptQueues", joinQueues(res.Kept))
	return resp
}

// resetGroups lets the offsets service consult and create subscription
// groups for a reset.
type resetGroups struct{ g *meta.Groups }

func (r resetGroups) Known(group string) bool {
	_, ok := r.g.Get(group)
	return ok
}

func (r resetGroups) Create(group string) error {
	_, _, err := r.g.GetOrCreate(group, true)
	return err
}

// joinQueues formats queue ids as "0,2,3".
func joinQueues(qs []int32) string {
	out := make([]byte, 0, len(qs)*3)
	for i, q := range qs {
		if i > 0 {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(q), 10)
	}
	return string(out)
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
