package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/engine/commitlog"
)

// Replication (broker/ha) reads a master's CommitLog as bytes and appends
// them to a slave's at the same offsets; these methods are all it needs.

// Replica errors: the bytes offered do not continue this store's log, and
// nothing was appended (package commitlog says more).
var (
	ErrReplicaOffset = commitlog.ErrReplicaOffset
	ErrReplicaLayout = commitlog.ErrReplicaLayout
)

// SegmentSize is the CommitLog's segment size (mappedFileSizeCommitLog).
func (s *Store) SegmentSize() int64 { return s.cl.SegmentSize() }

// ReadableOffset is the CommitLog offset below which bytes may be read (and
// shipped to a slave): durable under SYNC_FLUSH, written under ASYNC_FLUSH.
func (s *Store) ReadableOffset() int64 { return s.cl.Readable() }

// ReadLog reads CommitLog bytes at phys into p; the range must lie below
// ReadableOffset and inside one segment.
func (s *Store) ReadLog(p []byte, phys int64) error {
	if err := s.cl.ReadAt(p, phys); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// AppendReplica appends bytes copied from a master's CommitLog at phys,
// which must be this log's end: whole records and segment-ending BLANKs,
// each verified as recovery verifies it (commitlog.AppendReplica). The
// dispatcher derives queues, blooms and the index from them as from local
// appends. It refuses while the disk is too full to take them, like a Put.
// Call WaitPut(end) before reporting the bytes as held.
func (s *Store) AppendReplica(phys int64, data []byte) (end int64, err error) {
	if err := s.disk.check(time.Now(), s.cl.Written()); err != nil {
		return s.cl.End(), err
	}
	end, err = s.cl.AppendReplica(phys, data)
	if err != nil {
		return end, fmt.Errorf("engine: replica append at %d: %w", phys, err)
	}
	return end, nil
}

// Rebase moves the start of an empty store's CommitLog to base, the
// segment start a master begins an empty slave at (its oldest retained
// segment), so the slave's bytes sit at the master's offsets.
func (s *Store) Rebase(base int64) error {
	// The floor first (checkLogFloor): a crash between the two leaves
	// a log below its floor, which is harmless, never one above it.
	if err := s.setLogFloor(base); err != nil {
		return err
	}
	if err := s.cl.Rebase(base); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// ReadableWatch is one subscription to the growth of the readable end
// (Store.WatchReadable). A master's sender to a slave waits on it.
type ReadableWatch struct {
	// C gets a value (it holds one and is never closed) when the readable
	// end may have grown to the watch's floor or past it.
	C     <-chan struct{}
	ch    chan struct{}
	floor atomic.Int64
	stop  func()
}

// WakeAt makes C get a value only once the readable end reaches off (0,
// the default: on any growth). A sender holding a frame shorter than a
// batch need not wake for every append, only when a whole batch is there.
func (w *ReadableWatch) WakeAt(off int64) { w.floor.Store(off) }

// Stop ends the watch; C gets nothing more.
func (w *ReadableWatch) Stop() { w.stop() }

// WatchReadable starts a watch of ReadableOffset's growth.
func (s *Store) WatchReadable() *ReadableWatch {
	ch := make(chan struct{}, 1)
	w := &ReadableWatch{C: ch, ch: ch}
	s.watchMu.Lock()
	// The hook reads the published slice without a lock: publish a new
	// variable each time, never a pointer to s.watchers, which the next
	// change overwrites.
	list := append(s.watchers[:len(s.watchers):len(s.watchers)], w)
	s.watchers = list
	s.watchList.Store(&list)
	s.watchMu.Unlock()
	var once sync.Once
	w.stop = func() {
		once.Do(func() {
			s.watchMu.Lock()
			defer s.watchMu.Unlock()
			next := make([]*ReadableWatch, 0, len(s.watchers))
			for _, x := range s.watchers {
				if x != w {
					next = append(next, x)
				}
			}
			s.watchers = next
			s.watchList.Store(&next)
		})
	}
	return w
}

// notifyReadable wakes, without blocking, every watcher whose floor the
// readable end reached; it runs in the CommitLog's append hook, so it
// takes no lock.
func (s *Store) notifyReadable(end int64) {
	p := s.watchList.Load()
	if p == nil {
		return
	}
	for _, w := range *p {
		if end < w.floor.Load() {
			continue
		}
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}
