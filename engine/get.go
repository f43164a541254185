package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
)

// GetStatus is the outcome of a Get, named as RocketMQ's GetMessageStatus.
type GetStatus int

// Statuses (PROTOCOL.md §7.2).
const (
	Found GetStatus = iota
	NoMatchedMessage
	MessageWasRemoving
	OffsetFoundNull
	OffsetOverflowBadly
	OffsetOverflowOne
	OffsetTooSmall
	NoMatchedLogicQueue
	NoMessageInQueue
)

var statusNames = [...]string{"FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_FOUND_NULL",
	"OFFSET_OVERFLOW_BADLY", "OFFSET_OVERFLOW_ONE", "OFFSET_TOO_SMALL", "NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE"}

func (s GetStatus) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("GetStatus(%d)", int(s))
}

// TagFilter selects messages by tag. A nil filter, or one with All set,
// matches everything. Codes are msg.TagsCode of each tag; Tags the tags
// themselves, checked against the stored TAGS property because codes collide.
//
// Props, when set, selects by the whole properties string instead (a SQL92
// filter): tag codes and blooms are not consulted, since such a filter can
// match any tag, and every entry's record is read and passed to Props.
type TagFilter struct {
	All   bool
	Tags  []string
	Codes []int64
	Props func(props []byte) bool
}

// NewTagFilter builds a filter for the given tags; none means all.
func NewTagFilter(tags ...string) *TagFilter {
	f := &TagFilter{All: len(tags) == 0}
	for _, t := range tags {
		if t == "*" {
			return &TagFilter{All: true}
		}
		f.Tags = append(f.Tags, t)
		f.Codes = append(f.Codes, msg.TagsCode(t))
	}
	return f
}

// NewPropsFilter builds a filter that passes the messages whose properties
// string satisfies match.
func NewPropsFilter(match func(props []byte) bool) *TagFilter {
	return &TagFilter{Props: match}
}

func (f *TagFilter) all() bool { return f == nil || f.All && f.Props == nil }

func (f *TagFilter) matchCode(code int64) bool {
	return f.all() || f.Props != nil || slices.Contains(f.Codes, code)
}

func (f *TagFilter) matchRecord(rec []byte) bool {
	if f.all() {
		return true
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return false
	}
	if f.Props != nil {
		return f.Props(r.Properties)
	}
	tag, _ := msg.Property(r.Properties, msg.PropTags)
	return slices.Contains(f.Tags, tag)
}

// GetResult is what Get found.
type GetResult struct {
	Status GetStatus
	// NextOffset is where the next Get should start: after every entry
	// examined, matched or not.
	NextOffset int64
	MinOffset  int64
	MaxOffset  int64
	// Data holds the stored records, concatenated, byte for byte.
	Data []byte
	// Count is the number of records in Data.
	Count int
	// Scanned is the number of queue entries examined; BloomSkipped the
	// number passed over because a block's bloom ruled the filter out.
	Scanned      int
	BloomSkipped int
}

// Limits of one Get, after RocketMQ's maxTransferBytesOnMessageInMemory and
// its consume-queue scan bound.
const (
	maxGetBytes      = 256 << 10
	minScanEntries   = 800
	maxBloomSkipScan = 64 * queue.BlockSize
	// maxPropsMissBytes bounds the records a Props filter reads and
	// rejects in one Get, so a filter that matches nothing costs a bounded
	// read; the Get then ends early with NextOffset past what it examined.
	maxPropsMissBytes = 1 << 20
)

// AwaitVisible waits, up to timeout, until every record readable when it
// is called has reached its queue, so that a read which found nothing was
// not merely ahead of the dispatcher (a send acknowledged before the read
// must be visible to it). It reports whether the dispatcher was behind;
// it returns false at once while the dispatcher is stalled, whose reads
// waiting would not help. Under a confirm offset (SetConfirmOffset) it
// waits only up to that limit, which replicas' reports put at a record
// boundary, so the dispatcher reaches it.
func (s *Store) AwaitVisible(timeout time.Duration) bool {
	target := min(s.cl.Readable(), s.disp.Limit())
	if s.disp.Stalled() != nil || s.disp.Pos() >= target {
		return false
	}
	// On a timeout the read simply answers with what is dispatched.
	_ = s.disp.WaitFor(target, timeout)
	return true
}

// Get reads up to maxCount messages of (topic, queueID) from offset that pass
// the filter. buf, if non-nil, is reused for Data.
func (s *Store) Get(topic string, queueID int32, offset int64, maxCount int, filter *TagFilter, buf []byte) (GetResult, error) {
	res := GetResult{Data: buf[:0]}
	st, ok := s.qdb.State(topic, queueID)
	res.MinOffset, res.MaxOffset = st.Min, st.Max
	switch {
	case !ok:
		res.Status = NoMatchedLogicQueue
		return res, nil
	case st.Max == 0:
		res.Status = NoMessageInQueue
		return res, nil
	case offset < st.Min:
		res.Status, res.NextOffset = OffsetTooSmall, st.Min
		return res, nil
	case offset == st.Max:
		res.Status, res.NextOffset = OffsetOverflowOne, offset
		return res, nil
	case offset > st.Max:
		res.Status, res.NextOffset = OffsetOverflowBadly, st.Max
		return res, nil
	}
	if maxCount <= 0 {
		maxCount = 1
	}
	scanLimit := max(minScanEntries, maxCount*20)
	if filter != nil && filter.Props != nil {
		// Every entry costs a record read and an evaluation.
		scanLimit = max(minScanEntries, maxCount)
	}
	next := offset
	removed := false
	missed := 0 // bytes of records read and then rejected (a Props filter, or a tag-code collision)
	var run readRun
	var err error
	for next < st.Max && res.Count < maxCount && res.Scanned < scanLimit && len(res.Data)+run.size() < maxGetBytes && missed < maxPropsMissBytes {
		// Scan to the end of this block, so the next block's bloom is
		// consulted, or to the scan limit.
		to := min(st.Max, (next/queue.BlockSize+1)*queue.BlockSize, next+int64(scanLimit-res.Scanned))
		if !filter.all() && filter.Props == nil {
			from, candTo, err := s.nextCandidates(topic, queueID, next, to, filter)
			if err != nil {
				return res, err
			}
			res.BloomSkipped += int(from - next)
			next, to = from, candTo
			if res.BloomSkipped >= maxBloomSkipScan {
				break
			}
			if next >= to {
				continue
			}
		}
		scanned := next
		err = s.qdb.Scan(topic, queueID, next, to, func(off int64, e queue.Entry) bool {
			// The byte cap counts the run not read yet: coalesced
			// records must not grow a reply past a frame.
			if res.Count >= maxCount || len(res.Data)+run.size() >= maxGetBytes && res.Count > 0 || missed >= maxPropsMissBytes {
				return false
			}
			scanned = off + 1
			res.Scanned++
			if !filter.matchCode(e.TagsCode) {
				return true
			}
			if e.Phys < s.cl.MinOffset() {
				removed = true
				return true
			}
			if filter.all() {
				// Coalesce adjacent records into one read.
				if !run.extend(e) {
					if res.Data, err = run.flush(s.cl, res.Data); err != nil {
						return false
					}
					run.start(e)
				}
				res.Count++
				return true
			}
			start := len(res.Data)
			res.Data = slices.Grow(res.Data, int(e.Size))[:start+int(e.Size)]
			if err = s.cl.ReadAt(res.Data[start:], e.Phys); err != nil {
				return false
			}
			if filter.matchRecord(res.Data[start:]) {
				res.Count++
			} else {
				res.Data = res.Data[:start]
				missed += int(e.Size)
			}
			return true
		})
		if err != nil {
			return res, s.readErr(err)
		}
		if scanned == next && res.Count < maxCount {
			// Entries missing in the range: a hole.
			res.Status, res.NextOffset = OffsetFoundNull, to
			return res, nil
		}
		next = scanned
	}
	if res.Data, err = run.flush(s.cl, res.Data); err != nil {
		return res, s.readErr(err)
	}
	res.NextOffset = next
	switch {
	case res.Count > 0:
		res.Status = Found
	case removed:
		res.Status = MessageWasRemoving
	default:
		res.Status = NoMatchedMessage
	}
	return res, nil
}

func (s *Store) readErr(err error) error {
	if errors.Is(err, commitlog.ErrOutOfRange) {
		return fmt.Errorf("engine: queue entry points outside the CommitLog: %w", err)
	}
	return fmt.Errorf("engine: get: %w", err)
}

// nextCandidates narrows [from, to) (within one block) with the block's
// bloom: it returns the first run of sub-blocks that may hold a filtered
// tag. A block without a bloom (still incomplete) is returned whole; a block
// the bloom rules out entirely yields from == to == to.
func (s *Store) nextCandidates(topic string, queueID int32, from, to int64, f *TagFilter) (int64, int64, error) {
	block := from / queue.BlockSize
	bloom, err := s.qdb.Bloom(topic, queueID, block)
	if err != nil || bloom == nil {
		return from, to, err
	}
	if !bloom.MayContainAny(f.Codes) {
		return to, to, nil
	}
	base := block * queue.BlockSize
	may := func(sub int64) bool {
		for _, c := range f.Codes {
			if bloom.MayContain(queue.SubBlockKey(c, int(sub))) {
				return true
			}
		}
		return false
	}
	sub := (from - base) / queue.SubBlockSize
	last := (to - 1 - base) / queue.SubBlockSize
	for sub <= last && !may(sub) {
		sub++
	}
	if sub > last {
		return to, to, nil
	}
	start := max(from, base+sub*queue.SubBlockSize)
	for sub <= last && may(sub) {
		sub++
	}
	return start, min(to, base+sub*queue.SubBlockSize), nil
}

// readRun is a run of physically adjacent records read with one ReadAt.
type readRun struct {
	phys, end int64
}

func (r *readRun) extend(e queue.Entry) bool {
	if r.end == 0 || e.Phys != r.end {
		return false
	}
	r.end += int64(e.Size)
	return true
}

func (r *readRun) size() int { return int(r.end - r.phys) }

func (r *readRun) start(e queue.Entry) { r.phys, r.end = e.Phys, e.Phys+int64(e.Size) }

func (r *readRun) flush(cl *commitlog.CommitLog, dst []byte) ([]byte, error) {
	if r.end == 0 {
		return dst, nil
	}
	n := int(r.end - r.phys)
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	err := cl.ReadAt(dst[start:], r.phys)
	r.phys, r.end = 0, 0
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}
