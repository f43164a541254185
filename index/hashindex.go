package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

// Defaults for Options, RocketMQ's IndexFile sizes.
const (
	DefaultSlotCount      = 5_000_000
	DefaultEntriesPerFile = 20_000_000
)

// Options configures an Index.
type Options struct {
	// FS is the file system; vfs.Default if nil.
	FS vfs.FS
	// Dir holds the index files. It is created if missing; its parent must
	// already exist durably.
	Dir string
	// SlotCount is the number of hash slots of a new file
	// (DefaultSlotCount if 0). Existing files keep the shape they were
	// created with.
	SlotCount int
	// EntriesPerFile is the number of entries of a new file
	// (DefaultEntriesPerFile if 0).
	EntriesPerFile int
	// Logger receives recovery reports; slog.Default() if nil.
	Logger *slog.Logger
	// ReadOnly opens the index without writing to Dir (Check): recovery
	// happens in memory only (files it would remove are skipped, slot
	// tables are repaired in memory, entries past the checkpoint are
	// dropped from view), and every write fails with ErrReadOnly.
	ReadOnly bool
}

// Hit is a candidate found by Query: an entry whose key hash matches.
type Hit struct {
	Phys      int64 // CommitLog offset of the message
	StoreTime int64 // store time of the message, ms since the epoch
}

// Index is the key hash index. Add, Sync, TruncateFrom, DeleteBefore and
// Close are meant for one goroutine (the dispatcher) but are serialized
// anyway; Query may run concurrently with all of them.
//
// Lock order: wmu, then mu.
type Index struct {
	fs  vfs.FS
	dir string
	log *slog.Logger

	slotCount uint32
	entryCap  uint32
	readOnly  bool

	// wmu serializes the writers. The fields below it are used only by
	// writers, with wmu held.
	wmu      sync.Mutex
	ckpt     *checkpointFile
	durCkpt  int64 // checkpoint value in the checkpoint file
	lastPhys int64 // phys of the newest entry; Add refuses to go back
	werr     error // sticky: after a failed write the index refuses writes

	checkpoint atomic.Int64 // the value Checkpoint reports

	// mu guards the file list against queries. Writers change it (and the
	// state of the files in it) holding wmu and mu; queries hold mu.RLock.
	mu struct {
		sync.RWMutex
		files  []*file // ascending by name
		active *file   // nil or files[len(files)-1], the file taking Adds
		closed bool
	}
}

var scratchPool = sync.Pool{New: func() any { return new([entrySize]byte) }}

// Open opens the index in opts.Dir, creating it if needed, and recovers it
// to its checkpoint: entries at or past the checkpoint are dropped, damaged
// slot tables are repaired, and files left half-created by a crash are
// removed. What it did is logged.
func Open(opts Options) (*Index, error) {
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SlotCount == 0 {
		opts.SlotCount = DefaultSlotCount
	}
	if opts.EntriesPerFile == 0 {
		opts.EntriesPerFile = DefaultEntriesPerFile
	}
	switch {
	case opts.Dir == "":
		return nil, errors.New("index: Options.Dir is empty")
	case opts.SlotCount < 1 || opts.SlotCount > maxSlotCount:
		return nil, fmt.Errorf("index: SlotCount %d out of range [1, %d]", opts.SlotCount, maxSlotCount)
	case opts.EntriesPerFile < 1 || opts.EntriesPerFile > maxEntryCap-1:
		return nil, fmt.Errorf("index: EntriesPerFile %d out of range [1, %d]", opts.EntriesPerFile, maxEntryCap-1)
	}
	x := &Index{
		fs:        opts.FS,
		dir:       opts.Dir,
		log:       opts.Logger.With("component", "index"),
		slotCount: uint32(opts.SlotCount),
		entryCap:  uint32(opts.EntriesPerFile) + 1,
		readOnly:  opts.ReadOnly,
	}
	if err := x.recover(); err != nil {
		for _, f := range x.mu.files {
			_ = f.close()
		}
		if x.ckpt != nil {
			_ = x.ckpt.close()
		}
		return nil, err
	}
	return x, nil
}

func (x *Index) recover() error {
	fs, dir := x.fs, x.dir
	var (
		ckpt    *checkpointFile
		ck      int64
		damaged bool
		err     error
	)
	if x.readOnly {
		ckpt = &checkpointFile{}
		ck, damaged, err = readCheckpointReadOnly(fs, dir)
	} else {
		if err := durable.MkdirAll(fs, dir); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		ckpt, ck, damaged, err = readCheckpoint(fs, dir)
	}
	if err != nil {
		return err
	}
	x.ckpt, x.durCkpt = ckpt, ck
	x.checkpoint.Store(ck)
	if damaged {
		x.log.Warn("index checkpoint unreadable; dropping every entry", "file", fs.PathJoin(dir, checkpointName))
	}

	names, err := fs.List(dir)
	if err != nil && !(x.readOnly && errors.Is(err, os.ErrNotExist)) {
		return fmt.Errorf("index: list %s: %w", dir, err)
	}
	var bases []int64
	for _, n := range names {
		if b, ok := durable.ParseName(n); ok {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)

	removed := false
	remove := func(path, why string, attrs ...any) error {
		if x.readOnly {
			x.log.Info("index file skipped (a writable open removes it)", append([]any{"file", path, "reason", why}, attrs...)...)
			return nil
		}
		x.log.Warn("index file removed", append([]any{"file", path, "reason", why}, attrs...)...)
		if err := fs.Remove(path); err != nil {
			return fmt.Errorf("index: remove %s: %w", path, err)
		}
		removed = true
		return nil
	}
	for _, b := range bases {
		path := fs.PathJoin(dir, durable.Name(b))
		f, err := openFile(fs, path, b, x.readOnly)
		switch {
		case errors.Is(err, errBadFile) && b >= ck:
			// Created after the last checkpoint and torn by a crash: it
			// held nothing the checkpoint vouches for.
			if err := remove(path, "header unreadable, file past checkpoint", "error", err.Error()); err != nil {
				return err
			}
			continue
		case errors.Is(err, errBadFile):
			return fmt.Errorf("%w: %w (below checkpoint %d)", ErrCorrupt, err, ck)
		case err != nil:
			return err
		}
		if f.hdr.count <= 1 || f.hdr.beginPhys >= ck {
			_ = f.close()
			if err := remove(path, "no entries below checkpoint", "entries", f.hdr.count-1, "checkpoint", ck); err != nil {
				return err
			}
			continue
		}
		x.mu.files = append(x.mu.files, f)
	}
	if removed {
		if err := durable.SyncDir(fs, dir); err != nil {
			return err
		}
	}

	files := x.mu.files
	for i, f := range files {
		last := i == len(files)-1
		if x.readOnly {
			// The slot tables a writable open would repair on disk are
			// repaired in memory, and the newest file keeps its table
			// there for the drop below.
			if !f.diskClean || (last && f.hdr.endPhys >= ck) {
				if _, _, err := f.loadSlots(); err != nil {
					return err
				}
				if last {
					x.mu.active = f
				}
			}
			continue
		}
		if last && (!f.full() || f.hdr.endPhys >= ck) {
			walked, scanned, err := f.activate()
			if err != nil {
				return err
			}
			x.mu.active = f
			x.reportRepair(f, walked, scanned)
			continue
		}
		if !f.diskClean {
			walked, scanned, err := f.repairSealed()
			if err != nil {
				return err
			}
			x.reportRepair(f, walked, scanned)
		}
	}
	if a := x.mu.active; a != nil && a.hdr.endPhys >= ck {
		k, err := a.firstAtOrAfter(ck)
		if err != nil {
			return err
		}
		if k < a.hdr.count && x.readOnly {
			if err := a.dropInMemory(k); err != nil {
				return err
			}
		} else if k < a.hdr.count {
			// k >= 2: beginPhys < ck was checked above.
			x.log.Info("index entries past checkpoint dropped",
				"file", a.path, "entries", a.hdr.count-k, "checkpoint", ck)
			if err := a.truncate(k); err != nil {
				return err
			}
		}
		if err := x.checkInvariants(); err != nil {
			return err
		}
	}
	if n := len(files); n > 0 {
		x.lastPhys = files[n-1].hdr.endPhys
	}
	return nil
}

func (x *Index) reportRepair(f *file, walked, scanned int) {
	if walked+scanned > 0 {
		x.log.Info("index slot table repaired after crash",
			"file", f.path, "slotsByChain", walked, "slotsByScan", scanned, "entries", f.hdr.count-1)
	}
}

// Add records that the message at phys (a CommitLog offset) stored at
// storeTime (ms) carries key. phys must not go below that of the previous
// Add. The entry is visible to Query at once and durable after the next
// Sync.
func (x *Index) Add(key string, phys, storeTime int64) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if err := x.writable(); err != nil {
		return err
	}
	if phys < x.lastPhys || phys < 0 {
		return fmt.Errorf("index: Add at phys %d after phys %d", phys, x.lastPhys)
	}
	a := x.mu.active
	if a == nil || a.full() || !a.timeFits(storeTime) {
		if err := x.roll(phys, storeTime); err != nil {
			return err
		}
		a = x.mu.active
	}
	x.mu.Lock()
	a.add(hashKey(key), phys, storeTime)
	var err error
	if len(a.pending) >= pendingFlushBytes {
		err = a.flushPending()
	}
	x.mu.Unlock()
	if err != nil {
		return x.setErr(err)
	}
	x.lastPhys = phys
	return nil
}

// roll seals the active file and starts a new one for an entry at phys.
// Queries wait while it runs (a few fsyncs, once per EntriesPerFile Adds).
// A failed seal leaves the file half-written and stops writes (setErr); a
// failed create (a full disk) does not: createFile removed what it made and
// no file is active, so the next Add tries again, and the dispatcher
// resumes by itself once there is room. REQUIRES: wmu held.
func (x *Index) roll(phys, storeTime int64) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if a := x.mu.active; a != nil {
		if err := a.seal(); err != nil {
			return x.setErr(err)
		}
		x.mu.active = nil
	}
	base := phys
	if n := len(x.mu.files); n > 0 && base <= x.mu.files[n-1].base {
		// Several files can start at one phys (a message with more keys than
		// a file holds); names must still be unique and sorted.
		base = x.mu.files[n-1].base + 1
	}
	f, err := createFile(x.fs, x.dir, base, x.slotCount, x.entryCap, phys, storeTime)
	if err != nil {
		return err
	}
	x.mu.files = append(x.mu.files, f)
	x.mu.active = f
	return nil
}

// Query returns up to max candidates for key with begin <= storeTime <= end,
// newest (highest phys) first. A candidate's key hash matches key; the
// caller confirms the key by reading the message.
func (x *Index) Query(key string, max int, begin, end int64) ([]Hit, error) {
	if max <= 0 || begin > end {
		return nil, nil
	}
	h := hashKey(key)
	buf := scratchPool.Get().(*[entrySize]byte)
	defer scratchPool.Put(buf)
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.mu.closed {
		return nil, ErrClosed
	}
	var hits []Hit
	for i := len(x.mu.files) - 1; i >= 0 && len(hits) < max; i-- {
		f := x.mu.files[i]
		if f.hdr.count <= 1 || f.hdr.maxTime < begin || f.hdr.minTime > end {
			continue
		}
		var err error
		if hits, err = f.query(h, max, begin, end, hits, buf[:]); err != nil {
			return hits, err
		}
	}
	return hits, nil
}

// query appends f's hits to hits. REQUIRES: Index.mu held (read or write).
func (f *file) query(h uint64, max int, begin, end int64, hits []Hit, buf []byte) ([]Hit, error) {
	idx, err := f.slot(f.slotOf(h), buf)
	if err != nil {
		return hits, err
	}
	for idx != 0 && len(hits) < max {
		if idx >= f.hdr.count {
			return hits, fmt.Errorf("%w: %s: chain reaches entry %d, count %d", ErrCorrupt, f.path, idx, f.hdr.count)
		}
		b, err := f.readEntry(idx, buf)
		if err != nil {
			return hits, err
		}
		e := decodeEntry(b)
		if e.hash == h {
			if t := f.hdr.baseTime + int64(e.delta); t >= begin && t <= end {
				if hits == nil {
					hits = make([]Hit, 0, min(max, 16))
				}
				hits = append(hits, Hit{Phys: e.phys, StoreTime: t})
			}
		}
		if e.prev >= idx {
			return hits, fmt.Errorf("%w: %s: entry %d has prev %d", ErrCorrupt, f.path, idx, e.prev)
		}
		idx = e.prev
	}
	return hits, nil
}

// Sync makes every Add so far durable and records that the index is
// complete for every phys below upTo.
func (x *Index) Sync(upTo int64) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if err := x.writable(); err != nil {
		return err
	}
	if upTo < 0 {
		return fmt.Errorf("index: Sync(%d)", upTo)
	}
	if a := x.mu.active; a != nil && a.dirty {
		x.mu.Lock()
		err := a.flushPending()
		if err == nil {
			err = a.flushSlots()
		}
		x.mu.Unlock()
		// The fsyncs run without mu: queries go on, and no writer can
		// change the file while wmu is held.
		if err == nil {
			err = a.commitHeader(false)
		}
		if err != nil {
			return x.setErr(err)
		}
	}
	if upTo != x.durCkpt {
		if err := x.ckpt.write(x.fs, x.dir, upTo); err != nil {
			return x.setErr(err)
		}
		x.durCkpt = upTo
	}
	x.checkpoint.Store(upTo)
	return nil
}

// Checkpoint is the upTo of the last successful Sync: as found at Open (0 for
// a new index), later as set by Sync and lowered by TruncateFrom. Entries at
// or past it did not survive Open, so the caller replays the CommitLog from
// there.
func (x *Index) Checkpoint() int64 {
	return x.checkpoint.Load()
}

// TruncateFrom drops every entry with phys >= from (the CommitLog was cut
// there) and lowers the checkpoint to from if it was higher. The result is
// durable when it returns.
func (x *Index) TruncateFrom(from int64) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if err := x.writable(); err != nil {
		return err
	}
	from = max(from, 0)
	// The lower checkpoint goes first: from then on a crash anywhere below
	// makes Open finish the job.
	if from < x.durCkpt {
		if err := x.ckpt.write(x.fs, x.dir, from); err != nil {
			return x.setErr(err)
		}
		x.durCkpt = from
	}
	if from < x.checkpoint.Load() {
		x.checkpoint.Store(from)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := x.truncateLocked(from); err != nil {
		return x.setErr(err)
	}
	return nil
}

// truncateLocked drops the entries at phys >= from. REQUIRES: wmu and mu.
func (x *Index) truncateLocked(from int64) error {
	files := x.mu.files
	removed := false
	for n := len(files); n > 0 && files[n-1].hdr.beginPhys >= from; n-- {
		f := files[n-1]
		if err := x.removeFile(f); err != nil {
			return err
		}
		files = files[:n-1]
		x.mu.files = files
		removed = true
	}
	if removed {
		if err := durable.SyncDir(x.fs, x.dir); err != nil {
			return err
		}
	}
	x.lastPhys = 0
	n := len(files)
	if n == 0 {
		return nil
	}
	f := files[n-1]
	if f.hdr.endPhys >= from {
		if !f.active() {
			walked, scanned, err := f.activate()
			if err != nil {
				return err
			}
			x.reportRepair(f, walked, scanned)
			x.mu.active = f
		}
		k, err := f.firstAtOrAfter(from)
		if err != nil {
			return err
		}
		if err := f.truncate(k); err != nil {
			return err
		}
	}
	x.lastPhys = f.hdr.endPhys
	return x.checkInvariants()
}

// removeFile closes and deletes f. The caller syncs the directory.
// REQUIRES: wmu and mu.
func (x *Index) removeFile(f *file) error {
	if err := x.fs.Remove(f.path); err != nil {
		return fmt.Errorf("index: remove %s: %w", f.path, err)
	}
	if x.mu.active == f {
		x.mu.active = nil
	}
	return f.close()
}

// FirstPhys is the phys of the oldest entry the index holds, ok false when
// it holds none (no files, or only empty ones).
func (x *Index) FirstPhys() (phys int64, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, f := range x.mu.files {
		if f.hdr.count > 1 {
			return f.hdr.beginPhys, true
		}
	}
	return 0, false
}

// DeleteBefore removes the oldest files all of whose entries have phys
// below before (retention). It stops at the first file that does not
// qualify, so what remains is always a suffix of the index.
func (x *Index) DeleteBefore(before int64) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if err := x.writable(); err != nil {
		return err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	var err error
	for _, f := range x.mu.files {
		if f.hdr.endPhys >= before {
			break
		}
		if err = x.removeFile(f); err != nil {
			break
		}
		x.log.Info("index file deleted by retention", "file", f.path, "endPhys", f.hdr.endPhys, "before", before)
		n++
	}
	x.mu.files = slices.Delete(x.mu.files, 0, n)
	if n > 0 {
		if serr := durable.SyncDir(x.fs, x.dir); err == nil {
			err = serr
		}
	}
	return err
}

// Close writes and syncs the active file, marks it clean, and closes all
// files. It does not move the checkpoint: call Sync first to keep the Adds.
func (x *Index) Close() error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.mu.closed {
		return ErrClosed
	}
	x.mu.closed = true
	err := x.werr
	if a := x.mu.active; a != nil && err == nil && !x.readOnly {
		err = a.seal()
	}
	x.mu.active = nil
	for _, f := range x.mu.files {
		if cerr := f.close(); err == nil {
			err = cerr
		}
	}
	x.mu.files = nil
	if cerr := x.ckpt.close(); err == nil {
		err = cerr
	}
	return err
}

// writable returns the error that stops writes, if any. REQUIRES: wmu.
func (x *Index) writable() error {
	if x.mu.closed {
		return ErrClosed
	}
	if x.readOnly {
		return ErrReadOnly
	}
	return x.werr
}

// setErr makes err sticky: an index whose files may be half-written refuses
// further writes until it is reopened (and recovered). REQUIRES: wmu.
func (x *Index) setErr(err error) error {
	if x.werr == nil {
		x.werr = err
		x.log.Error("index write failed; index is read-only until reopened", "error", err.Error())
	}
	return err
}

// checkInvariants verifies the active file's chains in invariants builds.
// REQUIRES: wmu.
func (x *Index) checkInvariants() error {
	if !invariants || x.mu.active == nil {
		return nil
	}
	if err := x.mu.active.checkChains(); err != nil {
		return fmt.Errorf("index: invariant violated: %w", err)
	}
	return nil
}
