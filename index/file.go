package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

const (
	slotPage          = 4096      // slot-table bytes tracked by one dirty bit
	pendingFlushBytes = 64 << 10  // buffered entries are written once they pass this
	preallocStep      = 4 << 20   // entry bytes reserved ahead of the writer
	scanChunkEntries  = 4096      // entries read per ReadAt when scanning
	maxTimeDelta      = 1<<31 - 1 // a store time must fit an int32 ms delta
	minTimeDelta      = -1 << 31
)

// file is one index file. Fields are changed by the Index's writers while
// they hold both Index.wmu and Index.mu; queries read them under mu.RLock.
//
// A file is either sealed (slotBuf == nil: everything is in the file and
// synced, queries pread the slots) or active (the newest file, taking Adds:
// the slot table is in slotBuf, and entries [written, count) wait in pending).
type file struct {
	fs   vfs.FS
	path string
	base int64 // the number in the file name
	f    vfs.File

	hdr       header // live state; hdr.count includes unsynced entries
	durCount  uint32 // count in the newest header known to be synced
	diskClean bool   // the synced header has flagClean
	dirty     bool   // entries or slots changed since the last header write

	// Active files only.
	slotBuf    []byte   // the slot table, byte for byte as on disk
	dirtyPages []uint64 // one bit per slotPage of slotBuf not yet written
	written    uint32   // entries [1, written) have been written to f
	reserved   int64    // the file is preallocated below this offset (at least)
	pending    []byte   // encoded entries [written, count)
}

// createFile makes a new, empty, active file whose first entry will have
// phys and storeTime, and makes its header and size durable, including the
// directory entry.
func createFile(fs vfs.FS, dir string, base int64, slotCount, entryCap uint32, phys, storeTime int64) (_ *file, err error) {
	path := fs.PathJoin(dir, durable.Name(base))
	fh, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("index: create %s: %w", path, err)
	}
	f := &file{
		fs:   fs,
		path: path,
		base: base,
		f:    fh,
		hdr: header{
			slotCount: slotCount,
			entryCap:  entryCap,
			count:     1,
			gen:       1,
			baseTime:  storeTime,
			beginPhys: phys,
			endPhys:   phys,
			minTime:   storeTime,
			maxTime:   storeTime,
		},
		durCount: 1,
		written:  1,
	}
	defer func() {
		if err != nil {
			_ = fh.Close()
			_ = fs.Remove(path)
		}
	}()
	size := fileSize(slotCount, entryCap)
	// A zero at the last byte fixes the size, so every read inside the file
	// succeeds and unwritten entries read as zeros. The file is sparse:
	// with RocketMQ's sizes a full one is 420 MB, so reserving it whole
	// made an empty store take that much disk at its first message. The
	// slot pages take disk as they are written; entries are reserved a
	// step ahead of the writer (flushPending).
	if _, err := fh.WriteAt([]byte{0}, size-1); err != nil {
		return nil, fmt.Errorf("index: size %s: %w", path, err)
	}
	if err := f.writeHeader(1, false); err != nil {
		return nil, err
	}
	if err := f.sync(); err != nil {
		return nil, err
	}
	if err := durable.SyncDir(fs, dir); err != nil {
		return nil, err
	}
	f.slotBuf = make([]byte, int(slotCount)*slotSize)
	f.dirtyPages = make([]uint64, (len(f.slotBuf)/slotPage+64)/64)
	return f, nil
}

// openFile opens an existing file as sealed. A file whose header copies are
// both unreadable, or that is shorter than its header says, gets an error
// wrapping errBadFile.
func openFile(fs vfs.FS, path string, base int64, readOnly bool) (*file, error) {
	var fh vfs.File
	var err error
	if readOnly {
		fh, err = fs.Open(path)
	} else {
		fh, err = fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	}
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	f, err := readFileHeader(fh, path)
	if err != nil {
		_ = fh.Close()
		return nil, err
	}
	f.fs, f.path, f.base = fs, path, base
	return f, nil
}

func readFileHeader(fh vfs.File, path string) (*file, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("index: stat %s: %w", path, err)
	}
	size := st.Size()
	var (
		best    header
		found   bool
		reasons [2]error
		buf     [headerSize]byte
	)
	for i := int64(0); i < 2; i++ {
		off := i * headerStride
		if off+headerSize > size {
			reasons[i] = fmt.Errorf("file too short (%d bytes)", size)
			continue
		}
		if _, err := fh.ReadAt(buf[:], off); err != nil {
			return nil, fmt.Errorf("index: read header of %s: %w", path, err)
		}
		h, err := decodeHeader(buf[:])
		if err != nil {
			reasons[i] = err
			continue
		}
		if !found || h.seq > best.seq {
			best, found = h, true
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: %s: copy 0: %v; copy 1: %v", errBadFile, path, reasons[0], reasons[1])
	}
	if want := fileSize(best.slotCount, best.entryCap); size < want {
		return nil, fmt.Errorf("%w: %s: %d bytes, header says %d", errBadFile, path, size, want)
	}
	return &file{
		f:         fh,
		hdr:       best,
		durCount:  best.count,
		diskClean: best.flags&flagClean != 0,
		written:   best.count,
	}, nil
}

func (f *file) active() bool { return f.slotBuf != nil }

func (f *file) full() bool { return f.hdr.count >= f.hdr.entryCap }

// timeFits says whether storeTime can be stored as a delta in this file.
func (f *file) timeFits(storeTime int64) bool {
	// Unsigned differences: the int64 one could overflow.
	b := f.hdr.baseTime
	if storeTime >= b {
		return uint64(storeTime)-uint64(b) <= maxTimeDelta
	}
	return uint64(b)-uint64(storeTime) <= -minTimeDelta
}

func (f *file) slotOf(hash uint64) uint32 {
	return uint32(hash % uint64(f.hdr.slotCount))
}

func (f *file) entryOffset(idx uint32) int64 {
	return entriesOffset(f.hdr.slotCount) + int64(idx)*entrySize
}

// slot returns the head of slot s. buf is scratch of at least slotSize bytes.
func (f *file) slot(s uint32, buf []byte) (uint32, error) {
	if f.slotBuf != nil {
		return binary.BigEndian.Uint32(f.slotBuf[s*slotSize:]), nil
	}
	if err := readFull(f.f, buf[:slotSize], slotsOffset+int64(s)*slotSize); err != nil {
		return 0, fmt.Errorf("index: read slot %d of %s: %w", s, f.path, err)
	}
	return binary.BigEndian.Uint32(buf), nil
}

// setSlot changes slot s of an active file.
func (f *file) setSlot(s, v uint32) {
	binary.BigEndian.PutUint32(f.slotBuf[s*slotSize:], v)
	p := s * slotSize / slotPage
	f.dirtyPages[p/64] |= 1 << (p % 64)
}

// readEntry returns the raw bytes of entry idx (< count) in buf.
func (f *file) readEntry(idx uint32, buf []byte) ([]byte, error) {
	if f.slotBuf != nil && idx >= f.written {
		o := int(idx-f.written) * entrySize
		return f.pending[o : o+entrySize], nil
	}
	b := buf[:entrySize]
	if err := readFull(f.f, b, f.entryOffset(idx)); err != nil {
		return nil, fmt.Errorf("index: read entry %d of %s: %w", idx, f.path, err)
	}
	return b, nil
}

// readEntries fills dst with the raw entries [lo, lo+len(dst)/entrySize).
func (f *file) readEntries(lo uint32, dst []byte) error {
	n := uint32(len(dst) / entrySize)
	hi := lo + n
	if f.slotBuf != nil && hi > f.written {
		from := max(lo, f.written)
		copy(dst[int(from-lo)*entrySize:], f.pending[int(from-f.written)*entrySize:int(hi-f.written)*entrySize])
		dst = dst[:int(from-lo)*entrySize]
	}
	if len(dst) == 0 {
		return nil
	}
	if err := readFull(f.f, dst, f.entryOffset(lo)); err != nil {
		return fmt.Errorf("index: read entries [%d, %d) of %s: %w", lo, hi, f.path, err)
	}
	return nil
}

// forEachEntryDesc calls fn for the entries hi-1 down to lo, newest first,
// reading in chunks. fn returns false to stop.
func (f *file) forEachEntryDesc(lo, hi uint32, fn func(idx uint32, e entry) bool) error {
	buf := make([]byte, min(int(hi-lo), scanChunkEntries)*entrySize)
	for hi > lo {
		n := min(hi-lo, scanChunkEntries)
		from := hi - n
		if err := f.readEntries(from, buf[:int(n)*entrySize]); err != nil {
			return err
		}
		for i := n; i > 0; i-- {
			idx := from + i - 1
			if !fn(idx, decodeEntry(buf[int(i-1)*entrySize:])) {
				return nil
			}
		}
		hi = from
	}
	return nil
}

// add appends an entry. REQUIRES: f active, not full, timeFits(storeTime).
func (f *file) add(hash uint64, phys, storeTime int64) {
	s := f.slotOf(hash)
	idx := f.hdr.count
	e := entry{
		hash:  hash,
		phys:  phys,
		delta: int32(storeTime - f.hdr.baseTime),
		prev:  binary.BigEndian.Uint32(f.slotBuf[s*slotSize:]),
	}
	n := len(f.pending)
	f.pending = append(f.pending, make([]byte, entrySize)...)
	encodeEntry(f.pending[n:], e, f.hdr.gen, idx)
	f.setSlot(s, idx)
	if idx == 1 {
		f.hdr.beginPhys = phys
	}
	f.hdr.count++
	f.hdr.endPhys = max(f.hdr.endPhys, phys)
	f.hdr.minTime = min(f.hdr.minTime, storeTime)
	f.hdr.maxTime = max(f.hdr.maxTime, storeTime)
	f.dirty = true
}

// flushPending writes the buffered entries.
func (f *file) flushPending() error {
	if len(f.pending) == 0 {
		return nil
	}
	off := f.entryOffset(f.written)
	if end := off + int64(len(f.pending)); end > f.reserved {
		// Reserve the next step at once: fewer, larger extents than
		// 64 KiB writes into a sparse file would get.
		n := min(max(end-off, preallocStep), fileSize(f.hdr.slotCount, f.hdr.entryCap)-off)
		if err := f.f.Preallocate(off, n); err != nil {
			return fmt.Errorf("index: reserve %d bytes of %s: %w", n, f.path, err)
		}
		f.reserved = off + n
	}
	if _, err := f.f.WriteAt(f.pending, off); err != nil {
		return fmt.Errorf("index: write entries of %s: %w", f.path, err)
	}
	f.written = f.hdr.count
	f.pending = f.pending[:0]
	return nil
}

// flushSlots writes the dirty pages of the slot table, runs of adjacent
// pages in one write.
func (f *file) flushSlots() error {
	nPages := (len(f.slotBuf) + slotPage - 1) / slotPage
	for p := 0; p < nPages; {
		if f.dirtyPages[p/64]&(1<<(p%64)) == 0 {
			p++
			continue
		}
		q := p
		for q < nPages && f.dirtyPages[q/64]&(1<<(q%64)) != 0 {
			f.dirtyPages[q/64] &^= 1 << (q % 64)
			q++
		}
		lo, hi := p*slotPage, min(q*slotPage, len(f.slotBuf))
		if _, err := f.f.WriteAt(f.slotBuf[lo:hi], slotsOffset+int64(lo)); err != nil {
			return fmt.Errorf("index: write slots of %s: %w", f.path, err)
		}
		p = q
	}
	return nil
}

// writeHeader writes the live header with the given count and clean flag
// into the older copy. It does not sync.
func (f *file) writeHeader(count uint32, clean bool) error {
	h := f.hdr
	h.seq++
	h.count = count
	h.flags = 0
	if clean {
		h.flags = flagClean
	}
	var b [headerSize]byte
	h.encode(b[:])
	if _, err := f.f.WriteAt(b[:], int64(h.seq%2)*headerStride); err != nil {
		return fmt.Errorf("index: write header of %s: %w", f.path, err)
	}
	f.hdr.seq = h.seq
	return nil
}

func (f *file) sync() error {
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("index: sync %s: %w", f.path, err)
	}
	return nil
}

// commitHeader makes the live count durable: data first, then the header
// that vouches for it. This ordering is what lets Open trust entries below a
// synced header's count without checking them.
func (f *file) commitHeader(clean bool) error {
	if err := f.sync(); err != nil {
		return err
	}
	if err := f.writeHeader(f.hdr.count, clean); err != nil {
		return err
	}
	if err := f.sync(); err != nil {
		return err
	}
	f.durCount = f.hdr.count
	f.diskClean = clean
	f.dirty = false
	return nil
}

// loadSlots reads the slot table into memory and checks it against count,
// repairing it if the file was not closed clean. It returns how many slots
// were repaired and how.
func (f *file) loadSlots() (walked, scanned int, err error) {
	f.slotBuf = make([]byte, int(f.hdr.slotCount)*slotSize)
	f.dirtyPages = make([]uint64, (len(f.slotBuf)/slotPage+64)/64)
	if err := readFull(f.f, f.slotBuf, slotsOffset); err != nil {
		f.slotBuf, f.dirtyPages = nil, nil
		return 0, 0, fmt.Errorf("index: read slots of %s: %w", f.path, err)
	}
	f.written = f.hdr.count
	f.pending = f.pending[:0]
	if f.diskClean {
		return 0, 0, nil
	}
	return f.repairSlots()
}

// repairSlots brings an unclean slot table back in line with count.
//
// Writers keep this invariant on disk: every slot holds either its correct
// head for the synced header's count, or a number >= that count (a head
// written after the last header; see TruncateFrom for why lowering count
// keeps it too). So only slots >= count need work, and each needs the newest
// entry below count with that slot.
//
// Fast path: follow the chain from the bad head through entries >= count,
// accepting an entry only if its CRC matches this generation and position
// and it belongs to the slot; such an entry was written after the header,
// so its prev is exactly the head it replaced. The first number below count is the answer. Slow path,
// for chains that break (an entry that never reached the disk): scan the
// entries below count from the newest, which are all durable.
func (f *file) repairSlots() (walked, scanned int, err error) {
	count, gen := f.hdr.count, f.hdr.gen
	var unresolved map[uint32]bool
	buf := make([]byte, entrySize)
	for s := uint32(0); s < f.hdr.slotCount; s++ {
		v := binary.BigEndian.Uint32(f.slotBuf[s*slotSize:])
		if v < count {
			continue
		}
		if head, ok := f.walkUnsynced(s, v, buf, count, gen); ok {
			f.setSlot(s, head)
			walked++
			continue
		}
		if unresolved == nil {
			unresolved = make(map[uint32]bool)
		}
		unresolved[s] = true
	}
	if len(unresolved) == 0 {
		return walked, 0, nil
	}
	scanned = len(unresolved)
	for s := range unresolved {
		f.setSlot(s, 0)
	}
	err = f.forEachEntryDesc(1, count, func(idx uint32, e entry) bool {
		s := f.slotOf(e.hash)
		if unresolved[s] {
			f.setSlot(s, idx)
			delete(unresolved, s)
		}
		return len(unresolved) > 0
	})
	return walked, scanned, err
}

// walkUnsynced follows slot s's chain from v down to the first entry below
// count. Every entry on the way must have been written in this generation
// and belong to slot s: the slot on disk may be older than the entries (a
// repaired slot whose page was not rewritten before the next crash), and an
// entry of another slot at that position has another chain.
func (f *file) walkUnsynced(s, v uint32, buf []byte, count, gen uint32) (uint32, bool) {
	for v >= count {
		if v >= f.hdr.entryCap {
			return 0, false
		}
		if err := readFull(f.f, buf, f.entryOffset(v)); err != nil || !entryValid(buf, gen, v) {
			return 0, false
		}
		e := decodeEntry(buf)
		if f.slotOf(e.hash) != s || e.prev >= v {
			return 0, false
		}
		v = e.prev
	}
	return v, true
}

// firstAtOrAfter returns the first entry number whose phys is >= phys, or
// count if there is none. Entries are in phys order.
func (f *file) firstAtOrAfter(phys int64) (uint32, error) {
	buf := make([]byte, entrySize)
	lo, hi := uint32(1), f.hdr.count
	for lo < hi {
		mid := lo + (hi-lo)/2
		b, err := f.readEntry(mid, buf)
		if err != nil {
			return 0, err
		}
		if decodeEntry(b).phys >= phys {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// truncate drops entries [k, count). REQUIRES: f active, 2 <= k <= count.
//
// Slots are rewound by walking the dropped entries newest first: a slot
// whose head is a dropped entry takes that entry's prev, so the older entries
// of the chain stay reachable. On disk, the lowered count and a new
// generation are synced before any slot changes, which keeps repairSlots's
// invariant (a slot now pointing at a dropped entry is >= the new count) and
// makes stale entries at reused positions fail their CRC.
func (f *file) truncate(k uint32) error {
	if k >= f.hdr.count {
		return nil
	}
	if k < 2 {
		// Entry 1 is below the cut by the callers' checks; only a damaged
		// header can get here.
		return fmt.Errorf("%w: %s: truncation to entry %d", ErrCorrupt, f.path, k)
	}
	var lastPhys int64
	err := f.forEachEntryDesc(k-1, f.hdr.count, func(idx uint32, e entry) bool {
		if idx < k {
			lastPhys = e.phys
			return false
		}
		s := f.slotOf(e.hash)
		if binary.BigEndian.Uint32(f.slotBuf[s*slotSize:]) == idx {
			p := e.prev
			if p >= idx {
				p = 0 // a damaged chain ends here rather than pointing forward
			}
			f.setSlot(s, p)
		}
		return true
	})
	if err != nil {
		return err
	}
	f.hdr.gen++
	newDur := min(f.durCount, k)
	f.hdr.endPhys = lastPhys
	if err := f.writeHeader(newDur, false); err != nil {
		return err
	}
	if err := f.sync(); err != nil {
		return err
	}
	f.durCount, f.diskClean = newDur, false
	f.hdr.count = k
	if f.written > k {
		f.written = k
	}
	f.pending = f.pending[:int(k-f.written)*entrySize]
	// Entries still pending get the new generation, so that a crash before
	// they are synced leaves them walkable by repairSlots.
	for i := uint32(0); i < k-f.written; i++ {
		b := f.pending[int(i)*entrySize:]
		encodeEntry(b, decodeEntry(b), f.hdr.gen, f.written+i)
	}
	if err := f.flushSlots(); err != nil {
		return err
	}
	if err := f.sync(); err != nil {
		return err
	}
	f.dirty = true
	return nil
}

// dropInMemory drops entries [k, count) of a file whose slot table is
// loaded, without writing (a read-only index): with count lowered, the
// slots that pointed at a dropped entry are >= count, which is what
// repairSlots repairs.
func (f *file) dropInMemory(k uint32) error {
	if k >= f.hdr.count {
		return nil
	}
	f.hdr.count, f.written, f.pending = k, k, f.pending[:0]
	_, _, err := f.repairSlots()
	return err
}

// seal makes an active file sealed: everything written and synced, the
// header marked clean, and the slot table dropped from memory.
func (f *file) seal() error {
	if err := f.flushPending(); err != nil {
		return err
	}
	if err := f.flushSlots(); err != nil {
		return err
	}
	if err := f.commitHeader(true); err != nil {
		return err
	}
	f.slotBuf, f.dirtyPages, f.pending = nil, nil, nil
	return nil
}

// activate prepares a sealed file to take Adds (or a truncation): the slot
// table is loaded and repaired, and a new generation is made durable before
// any entry position can be written again.
func (f *file) activate() (walked, scanned int, err error) {
	walked, scanned, err = f.loadSlots()
	if err != nil {
		return walked, scanned, err
	}
	// A header written by a truncation may carry a loose endPhys; Add's
	// ordering check and TruncateFrom need the exact one.
	if f.hdr.count > 1 {
		b, err := f.readEntry(f.hdr.count-1, make([]byte, entrySize))
		if err != nil {
			return walked, scanned, err
		}
		f.hdr.endPhys = decodeEntry(b).phys
	}
	f.hdr.gen++
	if err := f.writeHeader(f.hdr.count, false); err != nil {
		return walked, scanned, err
	}
	if err := f.sync(); err != nil {
		return walked, scanned, err
	}
	f.diskClean = false
	return walked, scanned, nil
}

// repairSealed repairs the slot table of an unclean file that stays sealed
// (one left by a crash in the middle of a truncation or a roll).
func (f *file) repairSealed() (walked, scanned int, err error) {
	walked, scanned, err = f.loadSlots()
	if err == nil {
		err = f.flushSlots()
	}
	if err == nil {
		err = f.commitHeader(true)
	}
	f.slotBuf, f.dirtyPages, f.pending = nil, nil, nil
	return walked, scanned, err
}

func (f *file) close() error {
	if err := f.f.Close(); err != nil {
		return fmt.Errorf("index: close %s: %w", f.path, err)
	}
	return nil
}

// checkChains verifies the in-memory slot table of an active file: every
// head is below count and every chain strictly descends. Used by tests and
// in invariants builds.
func (f *file) checkChains() error {
	if f.slotBuf == nil {
		return nil
	}
	buf := make([]byte, entrySize)
	for s := uint32(0); s < f.hdr.slotCount; s++ {
		v := binary.BigEndian.Uint32(f.slotBuf[s*slotSize:])
		for v != 0 {
			if v >= f.hdr.count {
				return fmt.Errorf("%s: slot %d reaches entry %d >= count %d", f.path, s, v, f.hdr.count)
			}
			b, err := f.readEntry(v, buf)
			if err != nil {
				return err
			}
			e := decodeEntry(b)
			if f.slotOf(e.hash) != s {
				return fmt.Errorf("%s: entry %d in chain of slot %d belongs to slot %d", f.path, v, s, f.slotOf(e.hash))
			}
			if e.prev >= v {
				return fmt.Errorf("%s: entry %d has prev %d", f.path, v, e.prev)
			}
			v = e.prev
		}
	}
	return nil
}

// readFull reads exactly len(b) bytes at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}
