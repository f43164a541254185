package admin

import "github.com/wharfmq/wharf/remoting/body"

// MessageQueue is Java's MessageQueue; the fastjson tables keyed by it are
// read with body.DecodeMQTable.
type MessageQueue = body.MessageQueue
