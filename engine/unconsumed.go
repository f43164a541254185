package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wharfmq/wharf/engine/queue"
)

// noGroup names, in unconsumed counts, the messages of topics on which no
// group has committed an offset: a consumer may still come and read them
// from the first offset, so they count as unconsumed.
const noGroup = "(no group)"

// unconsumed counts the messages of a CommitLog range that a consumer group
// has not consumed yet.
type unconsumed struct {
	total   int64
	byGroup map[string]int64
}

func (u *unconsumed) add(group string, n int64) {
	if n <= 0 {
		return
	}
	if u.byGroup == nil {
		u.byGroup = map[string]int64{}
	}
	u.byGroup[group] += n
	u.total += n
}

// String lists the counts by group, "G1=3 G2=10", sorted by group.
func (u unconsumed) String() string {
	groups := make([]string, 0, len(u.byGroup))
	for g := range u.byGroup {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", g, u.byGroup[g])
	}
	return b.String()
}

// unconsumedCounter counts unconsumed messages by CommitLog range.
type unconsumedCounter struct {
	s        *Store
	offsets  map[string]map[queue.Ref]int64 // group -> queue -> committed
	groupsOf map[string][]string            // topic -> groups with an offset on it
}

func (c *unconsumedCounter) load() error {
	if c.offsets != nil {
		return nil
	}
	offsets, err := c.s.qdb.ConsumerOffsets()
	if err != nil {
		return err
	}
	c.groupsOf = map[string][]string{}
	for g, refs := range offsets {
		seen := map[string]bool{}
		for ref := range refs {
			if !seen[ref.Topic] {
				seen[ref.Topic] = true
				c.groupsOf[ref.Topic] = append(c.groupsOf[ref.Topic], g)
			}
		}
	}
	c.offsets = offsets
	return nil
}

// count counts, for each consumer group, the queue entries
// pointing into [from, to) at or above the group's committed offset on
// their queue. A group counts for a topic once it has committed an offset
// on any queue of it; on a queue of that topic where it has none, all of
// the queue's entries are unconsumed by it. Entries of a topic no group has
// committed on count under noGroup. Messages not in any queue (prepared or
// rolled-back transactional records) count for nobody.
//
// It costs two entry reads per queue, and a binary search in the queues
// that reach into the range; retention calls it only under disk pressure or
// for a segment it removes. The committed offsets are read once per
// counter (one retention round).
func (c *unconsumedCounter) count(from, to int64) (unconsumed, error) {
	var u unconsumed
	if err := c.load(); err != nil {
		return u, err
	}
	s, offsets, groupsOf := c.s, c.offsets, c.groupsOf
	for ref, st := range s.qdb.Queues() {
		lo, hi, err := s.entriesIn(ref, st, from, to)
		if err != nil {
			return u, err
		}
		if lo >= hi {
			continue
		}
		groups := groupsOf[ref.Topic]
		if len(groups) == 0 {
			u.add(noGroup, hi-lo)
			continue
		}
		for _, g := range groups {
			committed := offsets[g][ref] // none on this queue: 0, all unconsumed
			u.add(g, hi-max(lo, committed))
		}
	}
	return u, nil
}

// entriesIn returns the queue offsets [lo, hi) of the queue's entries that
// point into [from, to). A queue's entries point at increasing offsets of
// the log, so both ends are binary searches.
func (s *Store) entriesIn(ref queue.Ref, st queue.State, from, to int64) (lo, hi int64, err error) {
	if st.Max <= st.Min {
		return 0, 0, nil
	}
	first, ok, err := s.qdb.EntryAt(ref.Topic, ref.QueueID, st.Min)
	if err != nil || (ok && first.Phys >= to) {
		return 0, 0, err
	}
	last, ok, err := s.qdb.EntryAt(ref.Topic, ref.QueueID, st.Max-1)
	if err != nil || (ok && last.Phys < from) {
		return 0, 0, err
	}
	if lo, err = s.qdb.SearchByPhys(ref, st, from); err != nil {
		return 0, 0, err
	}
	hi, err = s.qdb.SearchByPhys(ref, st, to)
	return lo, hi, err
}
