package ha

import (
	"errors"
	"fmt"
)

// ErrBehindRetention: a slave wants to resume below the master's oldest
// retained byte, which retention has removed. RocketMQ's master then
// sends only heartbeats and the slave never catches up silently
// (apache/rocketmq#3388); Wharf refuses it with this error.
var ErrBehindRetention = errors.New("ha: slave's offset is below the master's oldest retained segment")

// Planner chooses what a master sends to a slave. It is pure arithmetic on
// CommitLog offsets; the values it is built from are validated once, so
// its methods cannot fail on configuration.
type Planner struct {
	segSize int64
	batch   int64 // a frame shorter than this may be held (Short)
	frame   int64 // the largest frame body, batch or more
}

// NewPlanner returns a planner for a CommitLog of segSize-byte segments
// (mappedFileSizeCommitLog) and batches of batchSize body bytes
// (haTransferBatchSize). A slave a batch or more behind gets frames of up
// to catchUpSize bytes (haCatchUpBatchSize; raised to batchSize when
// smaller): each frame costs a read and a write on the master and a
// write and a report on the slave, so a backlog crosses in fewer, larger
// frames. Both are at most MaxBodySize, which a RocketMQ slave can take.
func NewPlanner(segSize int64, batchSize, catchUpSize int) (Planner, error) {
	if segSize <= 0 {
		return Planner{}, fmt.Errorf("ha: segment size %d: must be positive", segSize)
	}
	if batchSize <= 0 || batchSize > MaxBodySize {
		return Planner{}, fmt.Errorf("ha: haTransferBatchSize %d: must be in 1..%d (a RocketMQ slave's read buffer)",
			batchSize, MaxBodySize)
	}
	if catchUpSize > MaxBodySize {
		return Planner{}, fmt.Errorf("ha: haCatchUpBatchSize %d: must be at most %d (a RocketMQ slave's read buffer)",
			catchUpSize, MaxBodySize)
	}
	return Planner{segSize: segSize, batch: int64(batchSize), frame: int64(max(batchSize, catchUpSize))}, nil
}

// MaxFrame is the largest frame body Next returns: the size of a
// sender's read buffer.
func (p Planner) MaxFrame() int { return int(p.frame) }

// Start returns the offset the master first sends from, given the
// slave's first report, the master's oldest retained offset minOff (a
// segment start) and its CommitLog end. A returning slave resumes from its
// report. An empty slave (report 0) gets a complete replica from minOff,
// or, with fromLastFile, only the segment holding the end (end − end %
// segment size): what RocketMQ 4.9's master always does (HAConnection),
// and what 5.x's AutoSwitch slave asks for with syncFromLastFile=true.
func (p Planner) Start(report, minOff, end int64, fromLastFile bool) (int64, error) {
	switch {
	case report < 0:
		return 0, fmt.Errorf("%w: report %d", ErrBadOffset, report)
	case report > end:
		return 0, fmt.Errorf("%w: report %d, master end %d", ErrBeyondEnd, report, end)
	case report == 0 && fromLastFile:
		return end - end%p.segSize, nil
	case report == 0:
		return minOff, nil
	case report < minOff:
		return 0, fmt.Errorf("%w: slave at %d, master keeps %d..%d", ErrBehindRetention, report, minOff, end)
	}
	return report, nil
}

// Next returns the next batch [from, to) for a slave whose next byte is
// next, when the master's bytes are readable up to end: it starts at
// next and stops at the end of next's segment, after the largest frame
// (MaxFrame) or at end, whichever comes first. It is empty (to == from) when there is
// nothing to send: next ≥ end, or next < 0.
func (p Planner) Next(next, end int64) (from, to int64) {
	if next < 0 || next >= end {
		return next, next
	}
	n := min(end-next, p.frame, p.segSize-next%p.segSize)
	return next, next + n
}

// Full is where a frame starting at from stops being short: a whole batch
// on, or the end of from's segment. A sender holding a short frame needs
// no wake-up before the readable end gets there.
func (p Planner) Full(from int64) int64 {
	return min(from+p.batch, from-from%p.segSize+p.segSize)
}

// Short says whether a batch [from, to) that Next returned stopped at the
// readable end: shorter than the batch size and not cut by a segment's
// end. Only such a frame may wait for more (Hold).
func (p Planner) Short(from, to int64) bool {
	return to-from < p.batch && to%p.segSize != 0
}
