package engine

import (
	"fmt"

	"github.com/wharfmq/wharf/engine/queue"
)

// RecoverQueueOffsets sets the next queue offset of every queue to the
// end the dispatcher recorded for it (RocketMQ's recoverTopicQueueTable).
// A slave's CommitLog grows by replication (AppendReplica), which carries
// the master's queue offsets and leaves the table Put assigns from as it
// was at Open; a slave that becomes master calls this once replication has
// stopped and the dispatcher has caught up (WaitDispatched), so its own
// puts continue each queue instead of reusing offsets.
//
// REQUIRES: nothing appends concurrently (replication stopped, no Put
// under way); the caller orders later puts after this call.
func (s *Store) RecoverQueueOffsets() error {
	if pos, end := s.disp.Pos(), s.cl.End(); pos < end {
		return fmt.Errorf("engine: recover queue offsets: dispatched up to %d of %d", pos, end)
	}
	queues := s.qdb.Queues()
	table := make(map[queue.Ref]int64, len(queues))
	for ref, st := range queues {
		table[ref] = st.Max
	}
	s.next = table
	return nil
}
