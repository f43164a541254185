// Package dispatch follows the CommitLog and derives from it the consume
// queues (with their tag blooms) and the key index.
//
// One owned goroutine reads records between its checkpoint and the log's
// readable end, writes queue entries in batches together with the new
// checkpoint (package queue), adds each message's keys and unique id to the
// index, and then calls the OnDispatch hook with the queues it touched (the
// broker wakes long-polling pulls from it). Entries become visible to readers
// only when their batch commits.
//
// A round that fails (a full disk, a file that cannot be created) is not the
// end: the dispatcher drops the uncommitted batch, goes back to its last
// checkpoint and retries with backoff until a round succeeds. Stalled says
// so meanwhile (the store refuses sends), and the log says it once when the
// dispatcher stalls and once when it resumes.
//
// SetLimit holds the dispatcher below an offset short of the readable end
// (failover mode's confirm offset); Rewind runs a cut of the log and its
// derived data between two rounds and moves the dispatcher back.
//
// The queue checkpoint and the index keep separate checkpoints; after a crash
// the dispatcher replays from the older one. Rewriting a queue entry is
// idempotent, and the index is only fed records at or past its own
// checkpoint, so the result equals an uninterrupted run.
package dispatch

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/invariants"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
)

// Defaults.
const (
	DefaultBatchRecords   = 4096
	DefaultIndexSyncEvery = time.Second
)

// Retry backoff after a failed round: doubling from the first to the cap.
const (
	retryFirst = 10 * time.Millisecond
	retryMax   = time.Second
)

// Stall describes a dispatcher that cannot make progress.
type Stall struct {
	Err   error     // the last round's error
	Since time.Time // when the first failing round began
	At    int64     // the CommitLog offset it is stuck at
}

// Options configure a Dispatcher.
type Options struct {
	Log    *commitlog.CommitLog
	Queues *queue.DB
	Index  *index.Index
	Logger *slog.Logger
	// OnDispatch is called after each committed batch with the queues it
	// touched and their new states. It runs on the dispatcher goroutine.
	OnDispatch func(map[queue.Ref]queue.State)
	// TagsCode, when set, may replace a record's tags code (ok true); the
	// engine puts delivery times of delayed messages there.
	TagsCode func(topic string, queueID int32, storeTimestamp int64) (code int64, ok bool)
	// BatchRecords bounds the records per Pebble batch.
	BatchRecords int
	// IndexSyncEvery is how often the index is fsynced and checkpointed.
	IndexSyncEvery time.Duration
	// MinInterval spaces the dispatcher's rounds: after a round it starts
	// the next one no sooner than MinInterval after the last began (0:
	// at once). Records appended meanwhile are dispatched together, in one
	// Pebble batch, and a lone appender's reply does not compete with a
	// dispatch round for the CPU. RocketMQ's reput service polls every 1 ms.
	MinInterval time.Duration
	// OnCommit, if set, is called after each committed batch with the new
	// checkpoint and the records the batch covered (progress of a replay).
	// It runs on the dispatcher goroutine and must be cheap.
	OnCommit func(pos int64, records int)
}

// Dispatcher derives queues and index from the CommitLog.
type Dispatcher struct {
	opts     Options
	log      *slog.Logger
	it       *commitlog.Iterator
	batch    *queue.Batch
	lastSync time.Time
	// The index holds every key of the records below idxPhys and the
	// first idxKeys keys of the record at idxPhys: a retried round does not
	// add them twice.
	idxPhys int64
	idxKeys int
	// pending counts the records read since the last commit (OnCommit).
	pending int

	stall atomic.Pointer[Stall] // nil while rounds succeed
	// limit caps what a round dispatches below the readable end
	// (SetLimit); math.MaxInt64 when there is none.
	limit atomic.Int64
	// rewinds carries Rewind's work to the dispatcher goroutine.
	rewinds chan rewindReq

	mu      sync.Mutex
	cond    sync.Cond
	pos     int64 // dispatched up to here (committed)
	kick    chan struct{}
	closing chan struct{}
	done    chan struct{}
	started bool
}

// New prepares a dispatcher positioned at the older of the queue and index
// checkpoints. Call CatchUp and then Start.
func New(opts Options) (*Dispatcher, error) {
	if opts.BatchRecords <= 0 {
		opts.BatchRecords = DefaultBatchRecords
	}
	if opts.IndexSyncEvery <= 0 {
		opts.IndexSyncEvery = DefaultIndexSyncEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	qcp, err := opts.Queues.Checkpoint()
	if err != nil {
		return nil, err
	}
	icp := opts.Index.Checkpoint()
	from := min(qcp, icp)
	if m := opts.Log.MinOffset(); from < m {
		from = m
	}
	d := &Dispatcher{
		opts:     opts,
		log:      opts.Logger.With("component", "dispatch"),
		it:       opts.Log.NewIterator(from),
		idxPhys:  icp,
		batch:    opts.Queues.NewBatch(),
		pos:      from,
		kick:     make(chan struct{}, 1),
		rewinds:  make(chan rewindReq),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		lastSync: time.Now(),
	}
	d.cond.L = &d.mu
	d.limit.Store(NoLimit)
	if from < qcp || from < icp {
		d.log.Info("replaying the CommitLog into queues and index", "from", from, "queueCheckpoint", qcp, "indexCheckpoint", icp)
	}
	return d, nil
}

// Pos is the CommitLog offset dispatched so far.
func (d *Dispatcher) Pos() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.pos
}

// Stalled describes why the dispatcher cannot make progress, or is nil
// while its rounds succeed. It is one atomic load (the store asks on every
// send).
func (d *Dispatcher) Stalled() *Stall { return d.stall.Load() }

// Notify rings the dispatcher's doorbell; the CommitLog calls it after new
// records become readable.
func (d *Dispatcher) Notify() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// CatchUp dispatches everything readable now, on the calling goroutine.
// Use it before Start (at open).
func (d *Dispatcher) CatchUp() error {
	return d.run()
}

// Start launches the dispatcher goroutine.
func (d *Dispatcher) Start() {
	d.started = true
	go d.loop()
}

func (d *Dispatcher) loop() {
	defer close(d.done)
	tick := time.NewTicker(d.opts.IndexSyncEvery)
	defer tick.Stop()
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	var last time.Time // when the last round began
	backoff := time.Duration(0)
	for {
		if backoff == 0 {
			select {
			case <-d.kick:
			case <-tick.C:
			case req := <-d.rewinds:
				req.done <- d.rewind(req.fn)
			case <-d.closing:
				return
			}
		}
		if wait := max(d.opts.MinInterval-time.Since(last), backoff); wait > 0 {
			pause.Reset(wait)
			select {
			case <-pause.C:
			case req := <-d.rewinds:
				pause.Stop()
				req.done <- d.rewind(req.fn)
			case <-d.closing:
				return
			}
		}
		last = time.Now()
		err := d.run()
		if err == nil {
			backoff = 0
			if st := d.stall.Swap(nil); st != nil {
				d.log.Info("dispatcher resumed", "at", d.Pos(), "stalledFor", time.Since(st.Since).Round(time.Millisecond))
			}
			continue
		}
		d.restart()
		backoff = min(max(2*backoff, retryFirst), retryMax)
		st := &Stall{Err: err, Since: last, At: d.Pos()}
		if old := d.stall.Load(); old != nil {
			st.Since = old.Since
		} else {
			d.log.Error("dispatcher stalled: retrying; sends are refused until it resumes", "at", st.At, "err", err)
		}
		d.stall.Store(st)
	}
}

// restart drops what a failed round did not commit and goes back to the
// last checkpoint, so the next round starts clean.
func (d *Dispatcher) restart() {
	// Let go of the queue writer lock: retention and topic deletion must
	// not wait for a batch that never commits.
	d.batch.Discard()
	d.pending = 0
	d.it = d.opts.Log.NewIterator(d.Pos())
}

// run dispatches up to the readable end (or the limit below it) and
// syncs the index when due.
func (d *Dispatcher) run() error {
	readable, limit := d.opts.Log.Readable(), d.limit.Load()
	n := 0
	for {
		rec, phys, err := d.it.Next(readable)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("dispatch: read at %d: %w", phys, err)
		}
		if phys+int64(len(rec)) > limit {
			// Past the limit (which may fall inside a record): next round.
			d.it.SetPos(phys)
			break
		}
		if err := d.dispatchRecord(rec, phys); err != nil {
			return err
		}
		d.pending++
		n++
		if n >= d.opts.BatchRecords {
			if err := d.commit(); err != nil {
				return err
			}
			n = 0
		}
	}
	if err := d.commit(); err != nil {
		return err
	}
	if time.Since(d.lastSync) >= d.opts.IndexSyncEvery {
		return d.syncIndex()
	}
	return nil
}

func (d *Dispatcher) dispatchRecord(rec []byte, phys int64) error {
	r, err := msg.Decode(rec)
	if err != nil {
		return fmt.Errorf("dispatch: record at %d: %w", phys, err)
	}
	tran := r.SysFlag & msg.FlagTransactionMask
	topic := string(r.Topic)
	tag, _ := msg.Property(r.Properties, msg.PropTags)
	// Java skips prepared and rolled-back transactional records.
	if tran != msg.FlagTransactionPrep && tran != msg.FlagTransactionRoll {
		code := msg.TagsCode(tag)
		if d.opts.TagsCode != nil {
			if c, ok := d.opts.TagsCode(topic, r.QueueID, r.StoreTimestamp); ok {
				code = c
			}
		}
		e := queue.Entry{Phys: phys, Size: int32(len(rec)), TagsCode: code, StoreTime: r.StoreTimestamp}
		if err := d.batch.Add(topic, r.QueueID, r.QueueOffset, e); err != nil {
			return fmt.Errorf("dispatch: record at %d: %w", phys, err)
		}
	}
	if phys >= d.idxPhys && tran != msg.FlagTransactionRoll {
		var ierr error
		k := 0
		add := func(key string) {
			if ierr != nil {
				return
			}
			if phys > d.idxPhys || k >= d.idxKeys {
				if ierr = d.opts.Index.Add(topic+"#"+key, phys, r.StoreTimestamp); ierr != nil {
					return
				}
				d.idxPhys, d.idxKeys = phys, k+1
			}
			k++
		}
		if keys, ok := msg.Property(r.Properties, msg.PropKeys); ok {
			msg.ForEachKey(keys, add)
		}
		if uk, ok := msg.Property(r.Properties, msg.PropUniqKey); ok && uk != "" {
			add(uk)
		}
		if ierr != nil {
			return fmt.Errorf("dispatch: index record at %d: %w", phys, ierr)
		}
	}
	return nil
}

// commit writes the pending batch with the new checkpoint.
func (d *Dispatcher) commit() error {
	pos := d.it.Pos()
	if d.batch.Len() == 0 && pos == d.Pos() {
		return nil
	}
	if invariants.Enabled {
		invariants.Check(pos <= d.opts.Log.Readable(), "dispatch checkpoint %d past the readable end %d of the log", pos, d.opts.Log.Readable())
		invariants.Check(pos >= d.Pos(), "dispatch checkpoint goes back from %d to %d", d.Pos(), pos)
	}
	if err := d.batch.SetCheckpoint(pos); err != nil {
		return err
	}
	touched, err := d.batch.Commit()
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.pos = pos
	d.cond.Broadcast()
	d.mu.Unlock()
	if d.opts.OnCommit != nil {
		d.opts.OnCommit(pos, d.pending)
	}
	d.pending = 0
	if d.opts.OnDispatch != nil && len(touched) > 0 {
		d.opts.OnDispatch(touched)
	}
	return nil
}

func (d *Dispatcher) syncIndex() error {
	pos := d.Pos()
	if err := d.opts.Index.Sync(pos); err != nil {
		return fmt.Errorf("dispatch: sync index: %w", err)
	}
	d.lastSync = time.Now()
	return nil
}

// NoLimit is SetLimit's "no limit": dispatch up to the readable end.
const NoLimit = math.MaxInt64

// SetLimit makes the dispatcher stop below limit (failover mode: the
// confirm offset, below which every in-sync replica holds the bytes) even
// where the log is readable further, and wakes it. A record that ends past
// the limit waits. NoLimit removes the limit. Lowering the limit never
// withdraws what was dispatched already.
func (d *Dispatcher) SetLimit(limit int64) {
	if d.limit.Swap(limit) != limit {
		d.Notify()
	}
}

// Limit is the limit SetLimit set (NoLimit by default).
func (d *Dispatcher) Limit() int64 { return d.limit.Load() }

// rewindReq is one Rewind for the dispatcher goroutine.
type rewindReq struct {
	fn   func() (int64, error)
	done chan error
}

// Rewind runs fn between two rounds, when no batch is open and nothing is
// being dispatched, and then, if fn returned to >= 0, moves the dispatcher
// back to to (if it was past it), forgetting that the index has keys there.
// The store cuts the CommitLog and the derived data in fn. Before Start it
// runs on the caller's goroutine.
func (d *Dispatcher) Rewind(fn func() (to int64, err error)) error {
	if !d.started {
		return d.rewind(fn)
	}
	req := rewindReq{fn: fn, done: make(chan error, 1)}
	select {
	case d.rewinds <- req:
	case <-d.done:
		return errors.New("dispatch: closed")
	}
	return <-req.done
}

// rewind runs on the dispatcher goroutine (or before Start).
func (d *Dispatcher) rewind(fn func() (int64, error)) error {
	// A failed round's batch may still hold the queue writer lock.
	d.batch.Discard()
	to, err := fn()
	if to < 0 {
		return err
	}
	d.mu.Lock()
	if d.pos > to {
		d.pos = to
	}
	pos := d.pos
	d.mu.Unlock()
	if d.idxPhys > to {
		d.idxPhys, d.idxKeys = to, 0
	}
	d.it = d.opts.Log.NewIterator(pos)
	return err
}

// WaitFor blocks until everything below phys is dispatched or the timeout
// passes (a stalled dispatcher may still resume; the error then says why
// it is stuck).
func (d *Dispatcher) WaitFor(phys int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		d.mu.Lock()
		d.cond.Broadcast()
		d.mu.Unlock()
	})
	defer timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.pos < phys {
		if time.Now().After(deadline) {
			if st := d.stall.Load(); st != nil {
				return fmt.Errorf("dispatch: not at %d after %v (stalled at %d since %s): %w", phys, timeout, d.pos, st.Since.Format(time.RFC3339), st.Err)
			}
			return fmt.Errorf("dispatch: not at %d after %v (at %d)", phys, timeout, d.pos)
		}
		d.cond.Wait()
	}
	return nil
}

// Close stops the goroutine, dispatches what is left and syncs the index.
func (d *Dispatcher) Close() error {
	if d.started {
		close(d.closing)
		<-d.done
	}
	err := d.run()
	if err == nil {
		err = d.syncIndex()
	} else {
		d.batch.Discard()
	}
	if cerr := d.batch.Close(); err == nil {
		err = cerr
	}
	return err
}
