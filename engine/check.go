package engine

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
	"github.com/wharfmq/wharf/internal/durable"
)

// Errors of the offline tools.
var (
	// ErrStoreInUse is returned when another process (a running broker, or
	// another tool) holds the store's lock file.
	ErrStoreInUse = errors.New("engine: the store is in use (is a broker running on it?)")
	// ErrNoStore is returned for a directory that holds no store.
	ErrNoStore = errors.New("engine: no store here")
)

// LockStore takes the store's lock file the way Open does, for offline
// tools that must not run beside a broker. uncleanStop says the lock file
// was already there (the last user did not close the store). release drops
// the lock; it removes the lock file again when it was not there before,
// so the next Open does not mistake the tool for a crash. It unlinks before
// unlocking: a broker starting at that moment either fails to lock the old
// file or creates and locks a new one.
func LockStore(fs vfs.FS, dir string) (release func() error, uncleanStop bool, err error) {
	if fs == nil {
		fs = vfs.Default
	}
	if _, err := fs.Stat(fs.PathJoin(dir, "commitlog")); err != nil {
		return nil, false, fmt.Errorf("%w: %s has no commitlog directory", ErrNoStore, dir)
	}
	l, err := lockFile(fs, dir)
	if err != nil {
		return nil, false, err
	}
	return l.Undo, l.Existed(), nil
}

// lockFile takes the store's lock file in dir.
func lockFile(fs vfs.FS, dir string) (*durable.LockFile, error) {
	path := fs.PathJoin(dir, "lock")
	l, err := durable.Lock(fs, path)
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		// Opening (creating) it failed, e.g. a store that is not writable.
		return nil, fmt.Errorf("engine: cannot open lock file %s: %w", path, pe.Err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: lock file %s is held by another process: %v", ErrStoreInUse, path, errors.Unwrap(err))
	}
	return l, nil
}

// CheckOptions configure Check.
type CheckOptions struct {
	// FS holds the store; vfs.Default if nil.
	FS vfs.FS
	// Dir is the data directory.
	Dir string
	// SegmentSize is the CommitLog segment size; 0 infers it from the files.
	SegmentSize int64
	// IndexSamples is how many records are looked up in the key index
	// (default 1000; sampled uniformly over the log).
	IndexSamples int
	// MaxProblems bounds the problems kept (default 1000).
	MaxProblems int
	// Logger receives the logs of opening Pebble and the index.
	Logger *slog.Logger
	// DelayLevels is the broker's level table (Options.DelayLevels; nil:
	// the default): delayed messages' entries carry delivery times from it.
	DelayLevels []time.Duration
	// Progress, if set, follows the CommitLog scan (the bulk of the work).
	Progress *Progress
}

// Problem is one inconsistency Check found.
type Problem struct {
	// Area is "commitlog", "queue" or "index".
	Area string `json:"area"`
	// Segment names the CommitLog segment involved, if any.
	Segment string `json:"segment,omitempty"`
	// Offset is the CommitLog offset involved (-1 if none).
	Offset int64 `json:"offset"`
	// Topic, QueueID and QueueOffset name the queue entry involved.
	Topic       string `json:"topic,omitempty"`
	QueueID     int32  `json:"queueId,omitempty"`
	QueueOffset int64  `json:"queueOffset,omitempty"`
	Reason      string `json:"reason"`
}

// String formats the problem for a human.
func (p Problem) String() string {
	switch {
	case p.Area == "commitlog":
		return "commitlog: " + commitlog.Problem{Segment: p.Segment, Offset: p.Offset, Reason: p.Reason}.String()
	case p.Topic != "":
		return fmt.Sprintf("%s: %s/%d@%d (offset %d): %s", p.Area, p.Topic, p.QueueID, p.QueueOffset, p.Offset, p.Reason)
	default:
		return fmt.Sprintf("%s: offset %d: %s", p.Area, p.Offset, p.Reason)
	}
}

// CheckReport is what Check found.
type CheckReport struct {
	// CommitLog is the full scan of the segments.
	CommitLog *commitlog.CheckReport `json:"commitlog"`
	// UncleanStop says the lock file was left by a process that did not
	// close the store; derived data may then lead the log until the next
	// Open trims it.
	UncleanStop        bool  `json:"uncleanStop"`
	DispatchCheckpoint int64 `json:"dispatchCheckpoint"`
	IndexCheckpoint    int64 `json:"indexCheckpoint"`
	// Queues and QueueEntries count what Pebble holds; EntriesVerified the
	// entries that point at a matching record.
	Queues          int   `json:"queues"`
	QueueEntries    int64 `json:"queueEntries"`
	EntriesVerified int64 `json:"entriesVerified"`
	// EntriesPastEnd counts entries past the end of the log after an
	// unclean stop (the next Open trims them; after a clean stop such
	// entries are problems).
	EntriesPastEnd int64 `json:"entriesPastEnd"`
	// UndispatchedRecords are records at or past the dispatch checkpoint
	// (the next Open dispatches them).
	UndispatchedRecords int64 `json:"undispatchedRecords"`
	// DeletedRecords are records of topics deleted after they were
	// dispatched: they stay in the log without queue entries.
	DeletedRecords int64 `json:"deletedRecords"`
	// IndexProbes counts key lookups made; IndexMisses the ones that did
	// not find the record.
	IndexProbes int `json:"indexProbes"`
	IndexMisses int `json:"indexMisses"`
	// TornTail counts CommitLog problems past the checkpoint of a log that
	// was not closed cleanly: a torn tail the next Open cuts, listed in
	// Notes rather than Problems.
	TornTail int `json:"tornTail"`
	// Problems lists every inconsistency, CommitLog damage first.
	Problems     []Problem     `json:"problems"`
	ProblemCount int           `json:"problemCount"`
	Notes        []string      `json:"notes,omitempty"`
	Duration     time.Duration `json:"durationNs"`
}

// OK says whether Check found no problem.
func (r *CheckReport) OK() bool { return r.ProblemCount == 0 }

// Check verifies a store that no process has open (it takes the lock file,
// so it fails with ErrStoreInUse beside a running broker): a full scan of
// every CommitLog segment (commitlog.Check), then every consume-queue entry
// against the record it points at, the queue states against the entries and
// the log, and a uniform sample of records against the key index.
//
// It writes nothing in the store: the CommitLog's recovery does not run,
// and Pebble and the index are opened read-only (their recovery happens in
// memory: Pebble replays its WAL, the index drops entries past its
// checkpoint from view). A damaged queue state or dispatch checkpoint is a
// problem; the broker's next start deletes every queue entry and rebuilds
// them from the CommitLog, so the entries are not checked.
func Check(opts CheckOptions) (*CheckReport, error) {
	began := time.Now()
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IndexSamples <= 0 {
		opts.IndexSamples = 1000
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 1000
	}
	if opts.DelayLevels == nil {
		opts.DelayLevels = defaultDelayLevels
	}
	fs := opts.FS
	release, unclean, err := LockStore(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	defer release()
	c := &storeChecker{opts: opts, rep: &CheckReport{UncleanStop: unclean}, counts: map[queue.Ref]int64{},
		tran: map[queue.Ref]int64{}, rng: rand.New(rand.NewPCG(1, 2)), tagsCode: delayTagsCode(opts.DelayLevels)}
	if unclean {
		c.rep.Notes = append(c.rep.Notes, "the last stop was not clean: derived data past the end of the log is trimmed at the next start")
	}
	var qdamaged []string
	metaMissing := false
	if _, err := fs.Stat(fs.PathJoin(opts.Dir, "meta")); err == nil {
		c.qdb, err = queue.Open(queue.Options{FS: fs, Dir: fs.PathJoin(opts.Dir, "meta"), Logger: opts.Logger, ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
		defer c.qdb.Close()
		if qdamaged = c.qdb.Damaged(); len(qdamaged) > 0 {
			// Not checked against the log: the next start rebuilds them.
			c.rep.Notes = append(c.rep.Notes, "consume queues not checked: their derived records are damaged")
			c.qdb = nil // closed by the deferred Close
		} else {
			if c.rep.DispatchCheckpoint, err = c.qdb.Checkpoint(); err != nil {
				return nil, fmt.Errorf("engine: check: %w", err)
			}
			c.deleted = c.qdb.DeletedTopics()
		}
	} else {
		metaMissing = true
		c.rep.Notes = append(c.rep.Notes, "no meta directory: consume queues not checked")
	}
	if _, err := fs.Stat(fs.PathJoin(opts.Dir, "index")); err == nil {
		c.idx, err = index.Open(index.Options{FS: fs, Dir: fs.PathJoin(opts.Dir, "index"), Logger: opts.Logger, ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
		defer c.idx.Close()
		c.rep.IndexCheckpoint = c.idx.Checkpoint()
	} else {
		c.rep.Notes = append(c.rep.Notes, "no index directory: key index not checked")
	}

	clDir := fs.PathJoin(opts.Dir, "commitlog")
	if c.segSize = opts.SegmentSize; c.segSize <= 0 {
		if c.segSize, _, err = commitlog.InferSegmentSize(fs, clDir, commitlog.DefaultSegmentSize); err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
	}
	if p := opts.Progress; p != nil {
		setSpan(fs, clDir, c.segSize, p)
	}
	cl, err := commitlog.Check(commitlog.CheckOptions{
		FS: fs, Dir: clDir, SegmentSize: c.segSize, MaxProblems: opts.MaxProblems, OnRecord: c.onRecord,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: check: %w", err)
	}
	c.rep.CommitLog = cl
	if cl.NoRecordCRC > 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%d records carry no whole-record checksum: only their body CRC is verified", cl.NoRecordCRC))
	}
	c.rep.ProblemCount = cl.ProblemCount
	c.rep.ProblemCount = 0
	c.end = cl.End
	for _, p := range cl.Problems {
		c.damaged = append(c.damaged, p.Offset)
		if tornTail(cl, p) {
			if c.rep.TornTail == 0 {
				// Recovery ends the log at the first torn record, though
				// later blocks of the tail may have reached the disk.
				c.cutAt(p.Offset)
			}
			// Past the checkpoint in the active segment of a log that was
			// not closed: a torn tail, which recovery cuts (RELIABILITY
			// rule 3), not damage.
			c.rep.TornTail++
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("torn tail past the checkpoint %d (recovery cuts the log at the first one): %s",
				cl.Checkpoint, commitlog.Problem{Segment: p.Segment, Offset: p.Offset, Reason: p.Reason}))
			continue
		}
		c.problem(Problem{Area: "commitlog", Segment: p.Segment, Offset: p.Offset, Reason: p.Reason})
	}
	// Problems beyond MaxProblems were counted but not listed.
	c.rep.ProblemCount += cl.ProblemCount - len(cl.Problems)
	if metaMissing && cl.Records > 0 {
		// What Open refuses (ErrMetaMissing): the CommitLog cannot give
		// back topic and group configs or consumer offsets.
		c.problem(Problem{Area: "queue", Offset: -1,
			Reason: fmt.Sprintf("meta/ is missing but the CommitLog holds %d records: a broker refuses to start; %s", cl.Records, metaRemedy(opts.Dir))})
	}
	for _, d := range qdamaged {
		c.problem(Problem{Area: "queue", Offset: -1,
			Reason: d + ": the next start deletes every queue entry and rebuilds them from the CommitLog"})
	}
	slices.Sort(c.damaged)
	// After a crash derived data may lead the log (Open trims it): a note,
	// not a problem. After a clean stop it must not.
	pastEnd := func(area string, off int64, reason string) {
		if unclean {
			c.rep.Notes = append(c.rep.Notes, area+": "+reason+" (trimmed at the next start)")
			return
		}
		c.problem(Problem{Area: area, Offset: off, Reason: reason})
	}
	if c.qdb != nil && c.rep.DispatchCheckpoint > c.end {
		pastEnd("queue", c.rep.DispatchCheckpoint, fmt.Sprintf("dispatch checkpoint %d is past the end of the log %d", c.rep.DispatchCheckpoint, c.end))
	}
	if c.idx != nil && c.rep.IndexCheckpoint > c.end {
		pastEnd("index", c.rep.IndexCheckpoint, fmt.Sprintf("index checkpoint %d is past the end of the log %d", c.rep.IndexCheckpoint, c.end))
	}
	if c.qdb != nil {
		rd, err := commitlog.OpenReader(fs, clDir, cl.SegmentSize)
		if err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
		c.rd = rd
		err = c.checkQueues()
		rd.Close()
		if err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
	}
	if c.idx != nil {
		if err := c.checkIndex(); err != nil {
			return nil, fmt.Errorf("engine: check: %w", err)
		}
	}
	c.rep.Duration = time.Since(began)
	return c.rep, nil
}

// tornTail says whether a problem commitlog.Check found is a torn tail:
// past the checkpoint, in the segment holding the end, of a log that was not
// closed cleanly. Sealed segments are synced before the writer moves on, so
// only that segment can have one; recovery cuts it at the next Open
// (RELIABILITY rule 3). Any other problem is damage.
func tornTail(cl *commitlog.CheckReport, p commitlog.Problem) bool {
	tornFrom := max(cl.Checkpoint, cl.End-cl.End%cl.SegmentSize)
	return !cl.CheckpointClean && cl.CheckpointFound && p.Segment != "" && p.Offset >= tornFrom
}

// indexProbe is a record sampled for an index lookup.
type indexProbe struct {
	phys, storeTime int64
	key             string // topic#key
}

type storeChecker struct {
	opts CheckOptions
	rep  *CheckReport
	qdb  *queue.DB
	idx  *index.Index
	rd   *commitlog.Reader

	// counts is, per queue, the records below the dispatch checkpoint that
	// must have an entry; tran the transactional records that have none.
	counts  map[queue.Ref]int64
	tran    map[queue.Ref]int64
	damaged []int64          // offsets of damaged records, sorted
	deleted map[string]int64 // queue.DB.DeletedTopics

	// end is where recovery will end the log: the first torn record, else
	// the end of the last valid one. Records after a gap in the current
	// segment are kept in afterGap, so that those past a torn tail found
	// later can be taken out of the counts again (cutAt).
	end      int64
	segSize  int64
	segBase  int64
	lastEnd  int64
	gap      bool
	afterGap []gapRecord

	// tagsCode is the dispatcher's TagsCode hook.
	tagsCode func(topic string, queueID int32, storeTime int64) (int64, bool)

	rng     *rand.Rand
	sampled int64
	probes  []indexProbe
	buf     []byte
}

func (c *storeChecker) problem(p Problem) {
	c.rep.ProblemCount++
	if len(c.rep.Problems) < c.opts.MaxProblems {
		c.rep.Problems = append(c.rep.Problems, p)
	}
}

// gapRecord is a record counted after a gap in its segment.
type gapRecord struct {
	phys int64
	ref  queue.Ref
	kind byte // 'u' undispatched, 't' transactional, 'c' counted, 'd' deleted, 0 none
}

// onRecord sees every valid record during the CommitLog scan.
func (c *storeChecker) onRecord(phys int64, rec []byte) {
	if p := c.opts.Progress; p != nil {
		p.At.Store(phys + int64(len(rec)))
		p.Records.Add(1)
	}
	r, err := msg.Decode(rec)
	if err != nil {
		return // verified by the scan; cannot happen
	}
	ref := queue.Ref{Topic: string(r.Topic), QueueID: r.QueueID}
	tran := r.SysFlag & msg.FlagTransactionMask
	var kind byte
	if c.qdb != nil {
		switch {
		case phys < c.deleted[ref.Topic]:
			c.rep.DeletedRecords++ // no entries: the topic was deleted
			kind = 'd'
		case phys >= c.rep.DispatchCheckpoint:
			c.rep.UndispatchedRecords++
			kind = 'u'
		case tran == msg.FlagTransactionPrep || tran == msg.FlagTransactionRoll:
			c.tran[ref]++
			kind = 't'
		default:
			c.counts[ref]++
			kind = 'c'
		}
	}
	// Only the last segment with data can have a torn tail, so only the
	// current segment's records after damage need remembering.
	if base := phys - phys%c.segSize; base != c.segBase || c.lastEnd == 0 {
		c.segBase, c.gap, c.afterGap = base, phys != base, c.afterGap[:0]
	} else if phys != c.lastEnd {
		c.gap = true
	}
	c.lastEnd = phys + int64(len(rec))
	if c.gap {
		c.afterGap = append(c.afterGap, gapRecord{phys: phys, ref: ref, kind: kind})
	}
	if c.idx == nil || phys >= c.rep.IndexCheckpoint || tran == msg.FlagTransactionRoll {
		return
	}
	key, ok := msg.Property(r.Properties, msg.PropUniqKey)
	if !ok || key == "" {
		keys, _ := msg.Property(r.Properties, msg.PropKeys)
		msg.ForEachKey(keys, func(k string) {
			if key == "" {
				key = k
			}
		})
	}
	if key == "" {
		return
	}
	// Reservoir sampling: every keyed record is equally likely to be probed.
	c.sampled++
	p := indexProbe{phys: phys, storeTime: r.StoreTimestamp, key: ref.Topic + "#" + key}
	if len(c.probes) < c.opts.IndexSamples {
		c.probes = append(c.probes, p)
	} else if j := c.rng.Int64N(c.sampled); j < int64(len(c.probes)) {
		c.probes[j] = p
	}
}

// cutAt makes cut the end of the log for the checks of derived data: the
// records at or past it, which recovery drops, no longer need entries or
// index keys.
func (c *storeChecker) cutAt(cut int64) {
	c.end = min(c.end, cut)
	for _, g := range c.afterGap {
		if g.phys < cut {
			continue
		}
		switch g.kind {
		case 'd':
			c.rep.DeletedRecords--
		case 'u':
			c.rep.UndispatchedRecords--
		case 't':
			c.tran[g.ref]--
		case 'c':
			if c.counts[g.ref]--; c.counts[g.ref] == 0 {
				delete(c.counts, g.ref)
			}
		}
	}
	c.probes = slices.DeleteFunc(c.probes, func(p indexProbe) bool { return p.phys >= cut })
}

// checkQueues verifies every entry in Pebble, in one pass in key order.
func (c *storeChecker) checkQueues() error {
	states := c.qdb.Queues()
	c.rep.Queues = len(states)
	cl := c.rep.CommitLog
	type progress struct {
		next, good, holes int64
	}
	seen := map[queue.Ref]*progress{}
	var cur queue.Ref
	var pr *progress
	finish := func(ref queue.Ref, pr *progress) {
		st := states[ref]
		if pr.next < st.Max {
			pr.holes += st.Max - pr.next
		}
		switch {
		case pr.holes > 0 && pr.holes <= c.tran[ref]:
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s/%d: %d queue offsets without entries, taken by transactional records", ref.Topic, ref.QueueID, pr.holes))
		case pr.holes > 0:
			c.problem(Problem{Area: "queue", Topic: ref.Topic, QueueID: ref.QueueID, QueueOffset: pr.next, Offset: -1,
				Reason: fmt.Sprintf("%d offsets in [%d, %d) have no entry", pr.holes, st.Min, st.Max)})
		}
		if missing := c.counts[ref] - pr.good; missing > 0 {
			c.problem(Problem{Area: "queue", Topic: ref.Topic, QueueID: ref.QueueID, Offset: -1,
				Reason: fmt.Sprintf("%d records below the dispatch checkpoint have no matching entry (%d records, %d entries verified)", missing, c.counts[ref], pr.good)})
		}
	}
	err := c.qdb.ScanAllEntries(func(ref queue.Ref, off int64, e queue.Entry) bool {
		c.rep.QueueEntries++
		if pr == nil || ref != cur {
			if pr != nil {
				finish(cur, pr)
			}
			st := states[ref]
			cur, pr = ref, &progress{next: st.Min}
			seen[ref] = pr
		}
		st, ok := states[ref]
		bad := func(reason string) {
			c.problem(Problem{Area: "queue", Topic: ref.Topic, QueueID: ref.QueueID, QueueOffset: off, Offset: e.Phys, Reason: reason})
		}
		switch {
		case !ok:
			bad("entry of a queue that has no state record")
			return true
		case off < st.Min || off >= st.Max:
			bad(fmt.Sprintf("entry outside the queue's range [%d, %d)", st.Min, st.Max))
			return true
		}
		if off > pr.next {
			pr.holes += off - pr.next
		}
		pr.next = off + 1
		if e.Phys+int64(e.Size) > c.end && c.rep.UncleanStop {
			c.rep.EntriesPastEnd++
			return true
		}
		if reason := c.checkEntry(ref, off, e, cl); reason != "" {
			bad(reason)
			return true
		}
		pr.good++
		c.rep.EntriesVerified++
		return true
	})
	if err != nil {
		return err
	}
	if pr != nil {
		finish(cur, pr)
	}
	if c.rep.DeletedRecords > 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%d records of deleted topics (kept in the log, without queue entries)", c.rep.DeletedRecords))
	}
	if c.rep.EntriesPastEnd > 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%d queue entries point past the end of the log (trimmed at the next start)", c.rep.EntriesPastEnd))
	}
	for _, ref := range queue.SortedRefs(states) {
		st := states[ref]
		if st.Min > st.Max {
			c.problem(Problem{Area: "queue", Topic: ref.Topic, QueueID: ref.QueueID, Offset: -1,
				Reason: fmt.Sprintf("state has min %d > max %d", st.Min, st.Max)})
		}
		if seen[ref] == nil {
			finish(ref, &progress{next: st.Min})
		}
	}
	for ref, n := range c.counts {
		if _, ok := states[ref]; !ok {
			c.problem(Problem{Area: "queue", Topic: ref.Topic, QueueID: ref.QueueID, Offset: -1,
				Reason: fmt.Sprintf("%d records below the dispatch checkpoint but the queue does not exist", n)})
		}
	}
	return nil
}

// checkEntry returns what is wrong with one entry, "" if nothing.
func (c *storeChecker) checkEntry(ref queue.Ref, off int64, e queue.Entry, cl *commitlog.CheckReport) string {
	switch {
	case e.Phys < cl.MinOffset:
		return fmt.Sprintf("points below the first segment (%d)", cl.MinOffset)
	case e.Size < msg.MinRecordSize || int64(e.Size) > cl.SegmentSize:
		return fmt.Sprintf("entry size %d is impossible", e.Size)
	case e.Phys+int64(e.Size) > c.end:
		return fmt.Sprintf("points past the end of the log %d", c.end)
	}
	if _, found := slices.BinarySearch(c.damaged, e.Phys); found {
		return "points at a damaged record"
	}
	c.buf = slices.Grow(c.buf[:0], int(e.Size))[:e.Size]
	if err := c.rd.ReadAt(c.buf, e.Phys); err != nil {
		return err.Error()
	}
	size, kind, err := msg.PeekHeader(c.buf)
	if err != nil || kind != msg.KindRecord {
		return "does not point at a record"
	}
	if size != int(e.Size) {
		return fmt.Sprintf("entry size %d, record size %d", e.Size, size)
	}
	if err := commitlog.VerifyRecord(c.buf, e.Phys); err != nil {
		return fmt.Sprintf("record: %v", err)
	}
	r, _ := msg.Decode(c.buf)
	tag, _ := msg.Property(r.Properties, msg.PropTags)
	code, delayed := c.tagsCode(ref.Topic, ref.QueueID, r.StoreTimestamp)
	if !delayed {
		code = msg.TagsCode(tag)
	}
	switch {
	case string(r.Topic) != ref.Topic || r.QueueID != ref.QueueID:
		return fmt.Sprintf("points at a record of %s/%d", r.Topic, r.QueueID)
	case r.QueueOffset != off:
		return fmt.Sprintf("points at the record with queue offset %d", r.QueueOffset)
	case code != e.TagsCode && delayed:
		return fmt.Sprintf("tags code %d, the delivery time from the record's store time and level is %d", e.TagsCode, code)
	case code != e.TagsCode:
		return fmt.Sprintf("tags code %d, record's tag %q has %d", e.TagsCode, tag, code)
	case r.StoreTimestamp != e.StoreTime:
		return fmt.Sprintf("store time %d, record says %d", e.StoreTime, r.StoreTimestamp)
	}
	return ""
}

// checkIndex looks every sampled record up by its key.
func (c *storeChecker) checkIndex() error {
	for _, p := range c.probes {
		c.rep.IndexProbes++
		hits, err := c.idx.Query(p.key, 1<<12, p.storeTime, p.storeTime)
		if err != nil {
			c.problem(Problem{Area: "index", Offset: p.phys, Reason: fmt.Sprintf("query %q: %v", p.key, err)})
			c.rep.IndexMisses++
			continue
		}
		found := false
		for _, h := range hits {
			found = found || h.Phys == p.phys
		}
		if !found {
			c.rep.IndexMisses++
			c.problem(Problem{Area: "index", Offset: p.phys, Reason: fmt.Sprintf("key %q of the record is not in the index", p.key)})
		}
	}
	return nil
}
