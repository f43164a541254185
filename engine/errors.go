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
	// ErrCorruption marks damaged data found on open or read.
	ErrCorruption = commitlog.ErrCorruption
)
