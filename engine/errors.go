package engine

import (
	"errors"

	"github.com/wharfmq/wharf/engine/commitlog"
)

// Errors the broker maps to response codes.
var (
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: store closed")
	// ErrMessageTooLarge is returned for a body over MaxMessageSize.
	ErrMessageTooLarge = errors.New("engine: message body too large")
	// ErrIllegal is returned for a message the record format cannot hold.
	ErrIllegal = errors.New("engine: illegal message")
	// ErrDiskFull is returned by a Put refused for lack of disk space: the
	// disk is fuller than Options.DiskFullRatio, or the next CommitLog
	// segment could not be created. Nothing was stored; writes resume by
	// themselves once there is room.
	ErrDiskFull = commitlog.ErrDiskFull
	// ErrStalled is returned by a Put refused because the dispatcher cannot
	// write queue entries or the index (a full disk, a file it cannot
	// create): an acknowledged message would not reach consumers. Nothing
	// was stored; sends resume by themselves once the dispatcher does.
	ErrStalled = errors.New("engine: dispatcher stalled, a stored message would not reach consumers")
	// ErrCorruption marks damaged data found on open or read.
	ErrCorruption = commitlog.ErrCorruption
)
