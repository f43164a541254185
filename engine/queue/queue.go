package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/index"
)

// BlockSize is the number of entries one tag bloom covers. Part of the format.
const BlockSize = index.DefaultBloomBlock

// bloomFPRate is the false-positive rate of a block's bloom.
const bloomFPRate = 0.01

// SubBlockSize is the granularity inside a block: a block's bloom holds each
// tag code and each (tag code, sub-block) pair, so a filtered read visits
// only the sub-blocks that may hold the tag. With a tag on 1 % of messages
// spread evenly, whole blocks of 1024 always hold it, but only ~8 % of
// 8-entry sub-blocks do. Part of the format.
const SubBlockSize = 8

// SubBlockKey is the bloom key of tag code in sub-block sub of its block.
func SubBlockKey(code int64, sub int) int64 {
	x := uint64(code) ^ (uint64(sub)+1)*0x9E3779B97F4A7C15
	x ^= x >> 31
	return int64(x * 0xBF58476D1CE4E5B9)
}

// Ref names one queue.
type Ref struct {
	Topic   string
	QueueID int32
}

// State is a queue's offset range: entries [Min, Max) are stored.
type State struct {
	Min, Max int64
}

// Options configure a DB.
type Options struct {
	FS     vfs.FS
	Dir    string
	Logger *slog.Logger
	// ReadOnly opens Pebble read-only (Check): nothing in Dir is written,
	// and damaged derived records are reported by Damaged instead of
	// being deleted for a rebuild.
	ReadOnly bool
}

// DB holds the consume queues and metadata.
type DB struct {
	db  *pebble.DB
	log *slog.Logger

	mu     sync.RWMutex
	states map[Ref]State

	// wmu serializes the writers of derived data: a Batch from its first
	// write to its Commit (or Discard/Close), TrimBelow, DeleteQueues and
	// TruncateFrom. Each of them reads queue states and writes them back,
	// so they must not interleave: retention racing a dispatch batch moved
	// a queue's Max (or Min) backwards.
	wmu sync.Mutex

	// The tag codes of each queue's incomplete block. REQUIRES: wmu.
	partial map[Ref]*partialBlock

	// deleted holds, per deleted topic, the log offset below which its
	// records were deleted with the topic (DeleteQueues): the dispatcher
	// skips them, so a replay of the log does not bring the topic's old
	// queues back, and Check does not miss their queues. REQUIRES: wmu.
	deleted map[string]int64

	bloomMu    sync.Mutex
	bloomCache map[string]*index.TagBloom

	// damaged lists the damaged derived records a read-only Open found
	// (readonly.go).
	damaged []string
}

type partialBlock struct {
	block int64
	next  int64 // next queue offset expected in the block
	codes []int64
}

// maxBloomCache bounds the blooms kept decoded in memory.
const maxBloomCache = 8192

// ErrLocked is returned by Open when another process (or another DB in
// this one) has the Pebble directory open: its LOCK file is held.
var ErrLocked = errors.New("queue: the Pebble directory is in use")

// lockHeld says err is Pebble failing to lock its LOCK file because it is
// held (fcntl's EAGAIN, or EACCES, which POSIX allows too; Pebble's own
// check within a process), not because the file could not be opened (a
// *fs.PathError, e.g. permission denied).
func lockHeld(err error) bool {
	if err == nil {
		return false
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || err.Error() == "lock held by current process"
}

// Open opens or creates the DB. A corrupt Pebble file met while opening is
// a *CorruptionError.
func Open(opts Options) (_ *DB, err error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Every message adds a queue entry, and with Pebble's 4 MiB default
	// memtable the flushes and L0 compactions cost 1.6 µs per entry (62 % of
	// dispatch CPU at 3 M entries); a 64 MiB memtable cut that to 0.47 µs
	// and raised dispatch from 486 k to 646 k entries/s (BENCHMARKS.md,
	// Dispatch). Its arena is touched as it fills, so an idle broker does
	// not pay for it.
	pl := newPebbleLogger(opts.Logger)
	var opening atomic.Bool
	opening.Store(true)
	defer opening.Store(false)
	po := &pebble.Options{FS: noWALPreallocFS{opts.FS}, Logger: pl, EventListener: eventListener(pl, &opening), MemTableSize: 64 << 20,
		ReadOnly: opts.ReadOnly}
	defer recoverFatal(opts.Dir, &err)
	db, err := pebble.Open(opts.Dir, po)
	if lockHeld(err) {
		return nil, fmt.Errorf("%w: %s is held by another process: %v", ErrLocked, opts.FS.PathJoin(opts.Dir, "LOCK"), err)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: open pebble at %s: %w", opts.Dir, corruption(err))
	}
	d := &DB{
		db:         db,
		log:        opts.Logger.With("component", "queue"),
		states:     map[Ref]State{},
		partial:    map[Ref]*partialBlock{},
		bloomCache: map[string]*index.TagBloom{},
	}
	load := d.loadDerived
	if opts.ReadOnly {
		load = d.loadDerivedReadOnly
	}
	if err := load(); err != nil {
		db.Close()
		return nil, corruption(err)
	}
	if err := d.loadDeleted(); err != nil {
		db.Close()
		return nil, corruption(err)
	}
	return d, nil
}

func (d *DB) loadDeleted() error {
	d.deleted = map[string]int64{}
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDeleted}, UpperBound: []byte{prefixDeleted + 1}})
	if err != nil {
		return fmt.Errorf("queue: load deleted topics: %w", corruption(err))
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if v := it.Value(); len(v) != 8 || len(it.Key()) < 2 {
			return fmt.Errorf("queue: bad deleted-topic record %q", it.Key())
		}
		d.deleted[string(it.Key()[1:])] = int64(be.Uint64(it.Value()))
	}
	return corruption(it.Error())
}

// DeletedTopics returns, per deleted topic, the log offset below which its
// records were deleted with it and have no queue entries.
func (d *DB) DeletedTopics() map[string]int64 {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	return maps.Clone(d.deleted)
}

// loadStates loads the queue states. A state record that cannot be decoded
// does not stop it: the error wraps errDamagedDerived and damaged lists the
// queues of such records (a key that names no queue names none).
func (d *DB) loadStates() (damaged []Ref, err error) {
	it, err := d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixState}, UpperBound: []byte{prefixState + 1}})
	if err != nil {
		return nil, fmt.Errorf("queue: load states: %w", corruption(err))
	}
	defer it.Close()
	var bad error
	for it.First(); it.Valid(); it.Next() {
		topic, qid, _, perr := parseQueueKey(it.Key())
		v := it.Value()
		if perr != nil || len(v) != 16 {
			if bad == nil {
				bad = fmt.Errorf("%w: bad state record %q", errDamagedDerived, it.Key())
			}
			if perr == nil {
				damaged = append(damaged, Ref{topic, qid})
			}
			continue
		}
		d.states[Ref{topic, qid}] = State{Min: int64(be.Uint64(v)), Max: int64(be.Uint64(v[8:]))}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("queue: load states: %w", corruption(err))
	}
	return damaged, bad
}

// Close closes Pebble.
func (d *DB) Close() error { return d.db.Close() }

// FlushMemtable writes the memtable to an sstable and waits for it. A
// clean stop calls it so the next Open has no WAL to replay: with the
// 64 MiB memtable, replaying and flushing it took 0.2-0.9 s of a start.
func (d *DB) FlushMemtable() error {
	if err := d.db.Flush(); err != nil {
		return fmt.Errorf("queue: flush memtable: %w", err)
	}
	return nil
}

// Flush makes every derived write so far durable (used before a clean stop
// and by tests).
func (d *DB) Flush() error { return d.db.LogData(nil, pebble.Sync) }

// State returns a queue's offset range.
func (d *DB) State(topic string, queueID int32) (State, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	s, ok := d.states[Ref{topic, queueID}]
	return s, ok
}

// Queues lists every queue with its state, sorted.
func (d *DB) Queues() map[Ref]State {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make(map[Ref]State, len(d.states))
	for r, s := range d.states {
		out[r] = s
	}
	return out
}

// QueueCounts returns, per topic with queues, how many queues it has by
// its highest queue id: the count a topic config restored from the queues
// (a lost meta/) gets.
func (d *DB) QueueCounts() map[string]int32 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := map[string]int32{}
	for r := range d.states {
		out[r.Topic] = max(out[r.Topic], r.QueueID+1)
	}
	return out
}

// SortedRefs returns the keys of m in (topic, queue) order.
func SortedRefs(m map[Ref]State) []Ref {
	refs := make([]Ref, 0, len(m))
	for r := range m {
		refs = append(refs, r)
	}
	slices.SortFunc(refs, func(a, b Ref) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.QueueID) - int(b.QueueID)
	})
	return refs
}

// Checkpoint is the CommitLog offset the dispatcher has reached.
func (d *DB) Checkpoint() (int64, error) {
	v, closer, err := d.db.Get([]byte{prefixCheckpoint, 'd'})
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("queue: read checkpoint: %w", corruption(err))
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: checkpoint value of %d bytes", errDamagedDerived, len(v))
	}
	return int64(be.Uint64(v)), nil
}

var checkpointKey = []byte{prefixCheckpoint, 'd'}

// Scan calls fn for entries of a queue from offset `from`, in order, until
// fn returns false or `to` (exclusive) is reached.
func (d *DB) Scan(topic string, queueID int32, from, to int64, fn func(offset int64, e Entry) bool) error {
	if from >= to {
		return nil
	}
	var lb, ub [160]byte
	it, err := d.db.NewIter(&pebble.IterOptions{
		LowerBound: entryKey(lb[:0], topic, queueID, from),
		UpperBound: entryKey(ub[:0], topic, queueID, to),
	})
	if err != nil {
		return fmt.Errorf("queue: scan %s/%d: %w", topic, queueID, corruption(err))
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		off := int64(be.Uint64(k[len(k)-8:]))
		e, err := decodeEntry(it.Value())
		if err != nil {
			return err
		}
		if !fn(off, e) {
			break
		}
	}
	return corruption(it.Error())
}

// EntryAt returns one entry.
func (d *DB) EntryAt(topic string, queueID int32, offset int64) (Entry, bool, error) {
	var kb [160]byte
	v, closer, err := d.db.Get(entryKey(kb[:0], topic, queueID, offset))
	if errors.Is(err, pebble.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("queue: get %s/%d@%d: %w", topic, queueID, offset, corruption(err))
	}
	defer closer.Close()
	e, err := decodeEntry(v)
	return e, err == nil, err
}

// Bloom returns the tag bloom of a complete block, or nil when there is none
// (an incomplete block, or one written before blooms existed).
func (d *DB) Bloom(topic string, queueID int32, block int64) (*index.TagBloom, error) {
	var kb [160]byte
	k := bloomKey(kb[:0], topic, queueID, block)
	d.bloomMu.Lock()
	b, ok := d.bloomCache[string(k)]
	d.bloomMu.Unlock()
	if ok {
		return b, nil
	}
	v, closer, err := d.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: bloom %s/%d block %d: %w", topic, queueID, block, corruption(err))
	}
	b, err = index.UnmarshalTagBloom(v)
	closer.Close()
	if err != nil {
		d.log.Warn("unreadable tag bloom; scanning the block", "topic", topic, "queue", queueID, "block", block, "err", err)
		return nil, nil
	}
	d.bloomMu.Lock()
	if len(d.bloomCache) >= maxBloomCache {
		for key := range d.bloomCache { // drop an arbitrary one
			delete(d.bloomCache, key)
			break
		}
	}
	d.bloomCache[string(k)] = b
	d.bloomMu.Unlock()
	return b, nil
}

// SearchByTime returns the first offset of the queue whose store time is at
// or after ts (ms); Max when every entry is older; 0 for an unknown queue.
func (d *DB) SearchByTime(topic string, queueID int32, ts int64) (int64, error) {
	st, ok := d.State(topic, queueID)
	if !ok {
		return 0, nil
	}
	return d.search(topic, queueID, st, func(e Entry) bool { return e.StoreTime >= ts })
}

// SearchByPhys returns the first offset in [st.Min, st.Max) of the queue
// whose entry points at or past phys in the CommitLog; st.Max when none
// does. A queue's entries point at increasing CommitLog offsets.
func (d *DB) SearchByPhys(ref Ref, st State, phys int64) (int64, error) {
	return d.search(ref.Topic, ref.QueueID, st, func(e Entry) bool { return e.Phys >= phys })
}

// search is the first offset in [st.Min, st.Max) whose entry satisfies
// atOrPast, which must hold for a suffix of the queue (st.Max if none); a
// missing entry counts as not satisfying it.
func (d *DB) search(topic string, queueID int32, st State, atOrPast func(Entry) bool) (int64, error) {
	lo, hi := st.Min, st.Max // answer in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, found, err := d.EntryAt(topic, queueID, mid)
		if err != nil {
			return 0, err
		}
		if !found || !atOrPast(e) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
