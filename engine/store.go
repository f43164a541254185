package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/dispatch"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
	"github.com/wharfmq/wharf/internal/durable"
)

// Store is the message store: a CommitLog, consume queues and metadata in
// Pebble, and a key index, kept consistent by one dispatcher.
type Store struct {
	opts Options
	log  *slog.Logger
	lock *durable.LockFile
	cl   *commitlog.CommitLog
	qdb  *queue.DB
	idx  *index.Index
	disp *dispatch.Dispatcher
	disk diskGuard
	retentionState

	// next is the next queue offset per queue. Touched only inside the
	// CommitLog's append lock (patch callbacks), which orders it.
	next map[queue.Ref]int64
	// lastStoreTime keeps store times non-decreasing; same lock.
	lastStoreTime int64

	// watchers wait for the readable end to grow (WatchReadable);
	// watchList is the current slice, read without a lock by the hook.
	watchMu   sync.Mutex
	watchers  []*ReadableWatch
	watchList atomic.Pointer[[]*ReadableWatch]

	closeOnce sync.Once
	closing   chan struct{}
	wg        sync.WaitGroup
}

// Open opens or creates the store in opts.Dir and recovers it. On error
// everything it opened is closed and the lock released.
func Open(opts Options) (_ *Store, err error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	fs := opts.FS
	// A local, not the named result: "return nil, err" must not clear
	// what the deferred cleanup closes.
	s := &Store{opts: opts, log: opts.Logger.With("component", "store"), closing: make(chan struct{})}
	s.disk = diskGuard{fs: fs, dir: opts.Dir, ratio: opts.DiskFullRatio, every: diskCheckEvery, log: s.log}
	began := time.Now()
	if err := durable.MkdirAll(fs, opts.Dir); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	s.lock, err = lockFile(fs, opts.Dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeParts()
			// A start that made the lock file removes it, so the next
			// start is not taken for a crash.
			_ = s.lock.Undo()
		}
	}()
	_, newErr := fs.Stat(fs.PathJoin(opts.Dir, "commitlog"))
	if s.lock.Existed() && newErr == nil {
		s.log.Warn("the last stop was not clean (lock file present): recovering")
	}
	// meta/ first: its Pebble LOCK is the second guard against another
	// process on this store (one started after `rm lock`), and it must
	// refuse before the CommitLog recovery, which writes (zeroes a torn
	// tail, removes segments past the end, rewrites the checkpoint) and
	// would cut the live log of the other process.
	metaDir := fs.PathJoin(opts.Dir, "meta")
	// Pebble does not sync the new directory's entry in opts.Dir: a crash
	// could lose the whole meta/ of a new store.
	if err := durable.MkdirAll(fs, metaDir); err != nil {
		return nil, metaOpenErr("engine", opts.Dir, err)
	}
	s.qdb, err = queue.Open(queue.Options{FS: fs, Dir: metaDir, Logger: opts.Logger})
	if err != nil {
		return nil, metaOpenErr("engine", opts.Dir, err)
	}
	s.cl, err = commitlog.Open(commitlog.Options{
		FS: fs, Dir: fs.PathJoin(opts.Dir, "commitlog"), SegmentSize: opts.SegmentSize,
		FlushMode: opts.FlushMode, FlushInterval: opts.FlushInterval,
		Prewrite: opts.Prewrite, Logger: opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := s.checkMeta(); err != nil {
		return nil, err
	}
	if err := s.checkLogFloor(); err != nil {
		return nil, err
	}
	s.idx, err = openIndex(opts, s.log)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// Derived data may lead the durable log after a crash: cut it back.
	end := s.cl.End()
	if n, err := s.qdb.TruncateFrom(end); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	} else if n > 0 {
		s.log.Warn("dropped consume-queue entries past the end of the CommitLog", "entries", n, "end", end)
	}
	if s.idx.Checkpoint() > end {
		if err := s.idx.TruncateFrom(end); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	if err := s.checkIndexFiles(); err != nil {
		return nil, err
	}
	s.disp, err = dispatch.New(dispatch.Options{
		Log: s.cl, Queues: s.qdb, Index: s.idx, Logger: opts.Logger, OnDispatch: s.onDispatch,
		TagsCode: delayTagsCode(opts.DelayLevels), MinInterval: opts.DispatchInterval,
		OnCommit: replayProgress(opts.Progress),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if p := opts.Progress; p != nil {
		p.From.Store(s.disp.Pos())
		p.At.Store(s.disp.Pos())
		p.To.Store(end)
	}
	if opts.HoldUnconfirmed {
		qcp, err := s.qdb.Checkpoint()
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		s.disp.SetLimit(max(s.disp.Pos(), qcp))
	}
	if err := s.disp.CatchUp(); err != nil {
		return nil, fmt.Errorf("engine: replay: %w", err)
	}
	s.next = map[queue.Ref]int64{}
	for ref, st := range s.qdb.Queues() {
		s.next[ref] = st.Max
	}
	s.cl.SetAppendHook(func(end int64) {
		s.disp.Notify()
		s.notifyReadable(end)
	})
	s.disp.Start()
	if opts.RetentionInterval > 0 {
		s.wg.Add(1)
		go s.retentionLoop()
	}
	rep := s.cl.Report()
	attrs := []any{"dir", opts.Dir, "flush", opts.FlushMode, "commitlogEnd", end, "queues", len(s.next)}
	if rep.New {
		attrs = append(attrs, "lastStop", "new store")
	} else {
		attrs = append(attrs, "cleanLastStop", rep.Clean)
	}
	// What the store holds on disk now (du): the pre-allocated active
	// segment, and index files and Pebble files in proportion to the data.
	attrs = append(attrs, "diskReserved", diskUsage(fs, opts.Dir), "took", time.Since(began))
	s.log.Info("store open", attrs...)
	return s, nil
}

func (s *Store) onDispatch(touched map[queue.Ref]queue.State) {
	if s.opts.OnDispatch == nil {
		return
	}
	for ref, st := range touched {
		s.opts.OnDispatch(ref.Topic, ref.QueueID, st.Max)
	}
}

// RecoveryReport says what the CommitLog recovery found at Open.
func (s *Store) RecoveryReport() commitlog.Report { return s.cl.Report() }

// WaitDispatched blocks until everything appended before the call is visible
// to Get (or the timeout passes). Tests and tools use it.
func (s *Store) WaitDispatched(timeout time.Duration) error {
	end := s.cl.End()
	if err := s.cl.WaitSynced(end); err != nil && s.opts.FlushMode == commitlog.SyncFlush {
		return err
	}
	return s.disp.WaitFor(end, timeout)
}

// DispatchedOffset is the CommitLog offset the dispatcher has reached.
func (s *Store) DispatchedOffset() int64 { return s.disp.Pos() }

// Close stops the background work, dispatches and syncs everything, and
// removes the lock file (a clean stop).
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closing)
		s.wg.Wait()
		err = s.closeParts()
		if err == nil {
			// A clean stop: the lock file goes.
			if lerr := s.lock.Release(); lerr != nil {
				err = fmt.Errorf("engine: %w", lerr)
			}
		} else if lerr := s.lock.Unlock(); lerr != nil {
			// Kept: the next Open recovers.
			err = errors.Join(err, fmt.Errorf("engine: %w", lerr))
		}
		if err == nil {
			s.log.Info("store closed cleanly", "dir", s.opts.Dir)
		}
	})
	return err
}

// closeParts closes what Open opened, in dependency order; the caller
// deals with the lock.
func (s *Store) closeParts() error {
	var errs []error
	if s.disp != nil && s.cl != nil {
		// Let the dispatcher see every appended record before it stops.
		_ = s.cl.WaitSynced(s.cl.End())
	}
	if s.disp != nil {
		errs = append(errs, s.disp.Close())
	}
	if s.cl != nil {
		errs = append(errs, s.cl.Close())
	}
	if s.idx != nil {
		errs = append(errs, s.idx.Close())
	}
	if s.qdb != nil {
		if err := s.qdb.FlushMemtable(); err != nil {
			// Still durable through the WAL; the next start replays it.
			s.log.Warn("flushing the queue memtable at close failed", "err", err)
			if err := s.qdb.Flush(); err != nil {
				errs = append(errs, err)
			}
		}
		errs = append(errs, s.qdb.Close())
	}
	return errors.Join(errs...)
}
