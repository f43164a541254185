package admin

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/wharfmq/wharf/remoting"
)

// ToolsGroup is the consumer group tools pull as when the user names none
// (RocketMQ's MixAll.TOOLS_CONSUMER_GROUP). A pull never commits for it.
const ToolsGroup = "TOOLS_CONSUMER"

// Pull flags (RocketMQ's PullSysFlag).
const (
	pullFlagCommit       = 0x1
	pullFlagSuspend      = 0x2
	pullFlagSubscription = 0x4
)

// PullStatus is what a pull found.
type PullStatus int

// Pull statuses (RocketMQ's PullStatus).
const (
	// Found: Messages holds at least one message.
	Found PullStatus = iota
	// NoNewMessage: the offset is the queue's end.
	NoNewMessage
	// NoMatched: messages were there, none matched the filter; continue
	// at NextOffset.
	NoMatched
	// OffsetIllegal: the offset is outside the queue; NextOffset is where
	// the broker suggests to continue.
	OffsetIllegal
)

// String names the status as RocketMQ does.
func (s PullStatus) String() string {
	switch s {
	case Found:
		return "FOUND"
	case NoNewMessage:
		return "NO_NEW_MSG"
	case NoMatched:
		return "NO_MATCHED_MSG"
	case OffsetIllegal:
		return "OFFSET_ILLEGAL"
	}
	return "PullStatus(" + strconv.Itoa(int(s)) + ")"
}

// PullRequest is one PULL_MESSAGE.
type PullRequest struct {
	Group   string // ToolsGroup when empty
	Topic   string
	QueueID int32
	Offset  int64
	MaxNums int32 // 32 when 0
	// Expression is a tag expression ("*", "a || b"); "*" when empty.
	Expression string
	// Wait, when positive, lets the broker hold the pull that long for a
	// message to arrive (long polling); the request's timeout is raised to
	// cover it.
	Wait time.Duration
	// CommitOffset, when at least 0, is committed for Group with the pull
	// (as a push consumer does).
	CommitOffset int64
}

// PullResult is a pull's answer.
type PullResult struct {
	Status     PullStatus
	NextOffset int64
	MinOffset  int64
	MaxOffset  int64
	Messages   []Message
}

// Pull reads messages of one queue from one broker, from an offset
// (PULL_MESSAGE). Unlike a consumer it never takes a subscription from a
// heartbeat: the pull states its own.
func (c *Client) Pull(ctx context.Context, broker string, p PullRequest) (PullResult, error) {
	const op = "PULL_MESSAGE"
	if p.Group == "" {
		p.Group = ToolsGroup
	}
	if p.MaxNums <= 0 {
		p.MaxNums = 32
	}
	if p.Expression == "" {
		p.Expression = "*"
	}
	flag := pullFlagSubscription
	if p.Wait > 0 {
		flag |= pullFlagSuspend
	}
	commit := int64(0)
	if p.CommitOffset >= 0 && p.Group != ToolsGroup {
		flag |= pullFlagCommit
		commit = p.CommitOffset
	}
	ext := map[string]string{
		"consumerGroup": p.Group, "topic": p.Topic, "queueId": strconv.Itoa(int(p.QueueID)),
		"queueOffset": strconv.FormatInt(p.Offset, 10), "maxMsgNums": strconv.Itoa(int(p.MaxNums)),
		"sysFlag": strconv.Itoa(flag), "commitOffset": strconv.FormatInt(commit, 10),
		"suspendTimeoutMillis": strconv.FormatInt(p.Wait.Milliseconds(), 10),
		"subscription":         p.Expression, "subVersion": "0", "expressionType": "TAG",
	}
	resp, err := c.callReq(ctx, broker, op, remoting.NewRequest(remoting.CodePullMessage, ext, nil), p.Wait,
		remoting.RespPullNotFound, remoting.RespPullRetryImmediately, remoting.RespPullOffsetMoved)
	if err != nil {
		return PullResult{}, err
	}
	var r PullResult
	for key, dst := range map[string]*int64{"nextBeginOffset": &r.NextOffset, "minOffset": &r.MinOffset, "maxOffset": &r.MaxOffset} {
		if *dst, err = extInt(op, resp, key); err != nil {
			return r, err
		}
	}
	switch resp.Code {
	case remoting.RespSuccess:
		r.Status = Found
		if r.Messages, err = decodeMessages(broker, resp.Body); err != nil {
			return r, fmt.Errorf("%s: %w", op, err)
		}
	case remoting.RespPullNotFound:
		r.Status = NoNewMessage
	case remoting.RespPullRetryImmediately:
		r.Status = NoMatched
	case remoting.RespPullOffsetMoved:
		r.Status = OffsetIllegal
	}
	return r, nil
}

// MessageAt returns the message at offset of one queue (a pull of one
// message, as mqadmin queryMsgByOffset does); an offset with no message
// wraps ErrNotFound.
func (c *Client) MessageAt(ctx context.Context, broker, topic string, queueID int32, offset int64) (Message, error) {
	r, err := c.Pull(ctx, broker, PullRequest{Topic: topic, QueueID: queueID, Offset: offset, MaxNums: 1, CommitOffset: -1})
	if err != nil {
		return Message{}, err
	}
	if r.Status != Found || len(r.Messages) == 0 || r.Messages[0].QueueOffset != offset {
		return Message{}, fmt.Errorf("%s queue %d offset %d on %s: %w (%s; the queue holds %d..%d)",
			topic, queueID, offset, broker, ErrNotFound, r.Status, r.MinOffset, r.MaxOffset-1)
	}
	return r.Messages[0], nil
}

// CommitOffset stores a group's next offset of one queue on one broker
// (UPDATE_CONSUMER_OFFSET, sent as a request so its failure is seen).
func (c *Client) CommitOffset(ctx context.Context, broker, group, topic string, queueID int32, offset int64) error {
	ext := queueExt(topic, queueID)
	ext["consumerGroup"] = group
	ext["commitOffset"] = strconv.FormatInt(offset, 10)
	_, err := c.call(ctx, broker, "UPDATE_CONSUMER_OFFSET", remoting.CodeUpdateConsumerOffset, ext, nil)
	return err
}
