package broker

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/wharfmq/wharf/acl"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/remoting"
)

// defaultQueryMaxNum is Java's defaultQueryMaxNum, used for unique-key
// queries and as the cap of maxNum.
const defaultQueryMaxNum = 32

// handleQueryMessage serves QUERY_MESSAGE (12): the stored records whose
// KEYS or UNIQ_KEY match, newest first, concatenated; 22 when none.
func (b *Broker) handleQueryMessage(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic, err := req.ExtString("topic")
	if err != nil {
		return badRequest(req, err)
	}
	key, err := req.ExtString("key")
	if err != nil {
		return badRequest(req, err)
	}
	maxNum, err := req.ExtInt32("maxNum")
	if err != nil {
		return badRequest(req, err)
	}
	begin, err := req.ExtInt64("beginTimestamp")
	if err != nil {
		return badRequest(req, err)
	}
	end, err := req.ExtInt64("endTimestamp")
	if err != nil {
		return badRequest(req, err)
	}
	if req.ExtBoolOr("_UNIQUE_KEY_QUERY", false) || maxNum <= 0 || maxNum > 64*defaultQueryMaxNum {
		maxNum = defaultQueryMaxNum
	}
	recs, err := b.store.QueryByKey(topic, key, int(maxNum), begin, end)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, err.Error())
	}
	if len(recs) == 0 {
		return remoting.NewResponse(req, remoting.RespQueryNotFound, "can not find message, maybe time range not correct")
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.SetExtInt("indexLastUpdateTimestamp", time.Now().UnixMilli())
	resp.SetExtInt("indexLastUpdatePhyoffset", b.store.DispatchedOffset())
	resp.Body = bytes.Join(recs, nil)
	return resp
}

// handleViewMessage serves VIEW_MESSAGE_BY_ID (33): ext offset is the
// CommitLog offset decoded from an offset message id. The header names no
// topic, so with ACL on the caller needs SUB on the stored record's topic,
// as a QUERY_MESSAGE needs it on the topic its records are filtered by.
func (b *Broker) handleViewMessage(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	off, err := req.ExtInt64("offset")
	if err != nil {
		return badRequest(req, err)
	}
	rec, err := b.store.ReadRecord(off)
	if err != nil {
		return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("can not find message by the offset, %d: %v", off, err))
	}
	if b.acl != nil {
		r, err := msg.Decode(rec) // ReadRecord decoded it once: cannot fail
		if err != nil {
			return remoting.NewResponse(req, remoting.RespSystemError, fmt.Sprintf("can not find message by the offset, %d: %v", off, err))
		}
		if resp := b.authorizeTopic(conn, req, string(r.Topic), acl.Sub); resp != nil {
			return resp
		}
	}
	resp := remoting.NewResponse(req, remoting.RespSuccess, "")
	resp.Body = rec
	return resp
}
