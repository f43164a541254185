package broker

import (
	"errors"

	"github.com/wharfmq/wharf/engine"
	"github.com/wharfmq/wharf/remoting"
)

// pullCodes maps each engine.GetStatus to the PULL_MESSAGE response code
// (PROTOCOL.md §7.2) and whether a pull with the SUSPEND bit may be held
// for it. NoMatchedLogicQueue and NoMessageInQueue answer 21 instead when
// the requested offset is not 0 (see pullCode).
var pullCodes = map[engine.GetStatus]struct {
	code int16
	hold bool
}{
	engine.Found:               {remoting.RespSuccess, false},
	engine.NoMatchedMessage:    {remoting.RespPullRetryImmediately, false},
	engine.MessageWasRemoving:  {remoting.RespPullRetryImmediately, false},
	engine.OffsetFoundNull:     {remoting.RespPullNotFound, false},
	engine.OffsetOverflowBadly: {remoting.RespPullOffsetMoved, false},
	engine.OffsetOverflowOne:   {remoting.RespPullNotFound, true},
	engine.OffsetTooSmall:      {remoting.RespPullOffsetMoved, false},
	engine.NoMatchedLogicQueue: {remoting.RespPullNotFound, true},
	engine.NoMessageInQueue:    {remoting.RespPullNotFound, true},
}

// pullCode returns the response code of a Get status for a pull from
// offset, and whether the pull may be held.
func pullCode(st engine.GetStatus, offset int64) (code int16, hold bool) {
	if (st == engine.NoMatchedLogicQueue || st == engine.NoMessageInQueue) && offset != 0 {
		return remoting.RespPullOffsetMoved, false
	}
	c, ok := pullCodes[st]
	if !ok {
		return remoting.RespSystemError, false
	}
	return c.code, c.hold
}

// putErrorCode maps an error of engine.Put/PutBatch to a send response code.
func putErrorCode(err error) int16 {
	switch {
	case errors.Is(err, engine.ErrMessageTooLarge), errors.Is(err, engine.ErrIllegal):
		return remoting.RespMessageIllegal
	case errors.Is(err, engine.ErrClosed), errors.Is(err, engine.ErrDiskFull), errors.Is(err, engine.ErrStalled):
		// Java answers a full disk with SERVICE_NOT_AVAILABLE too; the
		// client then tries another broker.
		return remoting.RespServiceNotAvailable
	default:
		return remoting.RespSystemError
	}
}
