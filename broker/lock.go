package broker

import (
	"context"
	"encoding/json"

	"github.com/wharfmq/wharf/remoting"
	"github.com/wharfmq/wharf/remoting/body"
)

// messageQueue is Java's MessageQueue (remoting/body).
type messageQueue = body.MessageQueue

// lockBatchBody is Java LockBatchRequestBody / UnlockBatchRequestBody.
type lockBatchBody struct {
	ConsumerGroup string         `json:"consumerGroup"`
	ClientID      string         `json:"clientId"`
	MQSet         []messageQueue `json:"mqSet"`
}

func decodeLockBody(req *remoting.Command) (lockBatchBody, *remoting.Command) {
	var body lockBatchBody
	if err := json.Unmarshal(req.Body, &body); err != nil {
		return body, remoting.NewResponse(req, remoting.RespSystemError, "lock body is not valid JSON: "+err.Error())
	}
	if body.ConsumerGroup == "" || body.ClientID == "" {
		return body, remoting.NewResponse(req, remoting.RespSystemError, "lock body needs consumerGroup and clientId")
	}
	return body, nil
}

// handleLockBatch serves LOCK_BATCH_MQ (41).
func (b *Broker) handleLockBatch(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, bad := decodeLockBody(req)
	if bad != nil {
		return bad
	}
	locked := b.locks.Lock(body.ConsumerGroup, body.ClientID, body.MQSet)
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body, _ = json.Marshal(struct {
		LockOKMQSet []messageQueue `json:"lockOKMQSet"`
	}{locked})
	return resp
}

// handleUnlockBatch serves UNLOCK_BATCH_MQ (42).
func (b *Broker) handleUnlockBatch(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	body, bad := decodeLockBody(req)
	if bad != nil {
		return bad
	}
	b.locks.Unlock(body.ConsumerGroup, body.ClientID, body.MQSet)
	return remoting.NewResponse(req, remoting.RespSuccess, "")
}
