package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/msg"
	"github.com/wharfmq/wharf/internal/durable"
)

// CheckOptions configure Check.
type CheckOptions struct {
	// FS holds the segments; vfs.Default if nil.
	FS vfs.FS
	// Dir is the CommitLog directory.
	Dir string
	// SegmentSize is the segment size; 0 infers it (InferSegmentSize).
	SegmentSize int64
	// OnRecord, if set, is called for every record that passes every
	// check, in log order. rec is valid only during the call.
	OnRecord func(phys int64, rec []byte)
	// MaxProblems bounds the problems kept in the report (default 1000);
	// ProblemCount counts them all.
	MaxProblems int
}

// Problem is one piece of damage Check found.
type Problem struct {
	// Segment is the file name of the segment, "" for problems not tied to
	// one (the checkpoint).
	Segment string `json:"segment,omitempty"`
	// Offset is the CommitLog (physical) offset of the damaged record or
	// region; Offset minus the segment's base is the offset in the file.
	Offset int64 `json:"offset"`
	// Reason says what is wrong.
	Reason string `json:"reason"`
}

// String formats the problem for a human.
func (p Problem) String() string {
	if p.Segment == "" {
		return fmt.Sprintf("at %d: %s", p.Offset, p.Reason)
	}
	base, _ := ParseSegmentName(p.Segment)
	return fmt.Sprintf("segment %s +%d (offset %d): %s", p.Segment, p.Offset-base, p.Offset, p.Reason)
}

// CheckReport is what Check found.
type CheckReport struct {
	Dir         string `json:"dir"`
	SegmentSize int64  `json:"segmentSize"`
	Segments    int    `json:"segments"`
	// MinOffset is the first segment's base; End the end of the last
	// valid record (where the log ends).
	MinOffset int64 `json:"minOffset"`
	End       int64 `json:"end"`
	// Records and RecordBytes count the records that passed every check.
	Records     int64 `json:"records"`
	RecordBytes int64 `json:"recordBytes"`
	Blanks      int   `json:"blanks"`
	// NoRecordCRC counts valid records without the whole-record checksum
	// property (not written by Wharf): only their body CRC protects them,
	// so damage to their other fields can go unseen.
	NoRecordCRC int64 `json:"noRecordCRC"`
	// BadRegions counts damaged records or regions; SkippedBytes the bytes
	// the scan had to step over to resynchronise.
	BadRegions   int   `json:"badRegions"`
	SkippedBytes int64 `json:"skippedBytes"`
	// BytesScanned is every byte read from the segments.
	BytesScanned int64 `json:"bytesScanned"`
	// Checkpoint is the newest valid checkpoint slot, if any.
	CheckpointFound bool  `json:"checkpointFound"`
	Checkpoint      int64 `json:"checkpoint"`
	CheckpointClean bool  `json:"checkpointClean"`
	// PendingCut is the offset of a truncation a crash interrupted
	// (TruncateTo's durable mark), -1 if none: the next Open ends the log
	// there, whatever lies past it.
	PendingCut int64 `json:"pendingCut"`
	// Problems lists damage, in log order (at most MaxProblems of them).
	Problems     []Problem     `json:"problems"`
	ProblemCount int           `json:"problemCount"`
	Duration     time.Duration `json:"durationNs"`
}

// OK says whether Check found no problem.
func (r *CheckReport) OK() bool { return r.ProblemCount == 0 }

// MBPerSec is the scan rate in MB (10^6 bytes) per second.
func (r *CheckReport) MBPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.BytesScanned) / 1e6 / r.Duration.Seconds()
}

// InferSegmentSize guesses the segment size from the segment files in dir:
// the distance between consecutive segments when there are several, else
// fallback when the single segment fits it, else that segment's file size.
// ok is false when there are no segments (fallback is returned).
func InferSegmentSize(fs vfs.FS, dir string, fallback int64) (size int64, ok bool, err error) {
	if fs == nil {
		fs = vfs.Default
	}
	bases, err := listSegments(fs, dir)
	if err != nil || len(bases) == 0 {
		return fallback, false, err
	}
	if len(bases) > 1 {
		d := int64(0)
		for i := 1; i < len(bases); i++ {
			if g := bases[i] - bases[i-1]; d == 0 || g < d {
				d = g
			}
		}
		return d, true, nil
	}
	st, err := fs.Stat(fs.PathJoin(dir, SegmentName(bases[0])))
	if err != nil {
		return fallback, false, fmt.Errorf("commitlog: stat segment: %w", err)
	}
	if st.Size() <= fallback && bases[0]%fallback == 0 {
		return fallback, true, nil
	}
	return st.Size(), true, nil
}

func listSegments(fs vfs.FS, dir string) ([]int64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("commitlog: list %s: %w", dir, err)
	}
	var bases []int64
	for _, n := range names {
		if base, ok := ParseSegmentName(n); ok {
			bases = append(bases, base)
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// Check is a read-only full scan of every segment, sealed ones included
// (recovery scans only from the checkpoint). It never writes: files are
// opened read-only, so it may run on a store no CommitLog has open.
//
// Every record is held to what recovery holds it to: magic, TOTALSIZE
// fitting the segment, every length field agreeing with it (msg.Decode), the
// body CRC, the whole-record CRC property, and the physical offset field
// naming the record's own position. A record whose header carries the
// checksum property but has FlagRecordCRC clear is also damaged (a flip of
// that bit would otherwise turn the whole-record CRC off). A BLANK must reach
// exactly the end of its segment and hold only zeros after its header. Past
// the end of the log (a zero header in the last segment) every byte must be
// zero. Segments must be contiguous multiples of the segment size, and the
// checkpoint must not claim more than the log holds.
//
// # Resynchronising after damage
//
// After a bad record at offset X the scan resumes at the earliest position
// P > X in the same segment that holds a plausible header: the record magic
// with a TOTALSIZE that fits the segment and a physical offset field equal to
// P itself, or the BLANK magic with a size reaching exactly the segment end.
// If none exists the rest of the segment is skipped. A valid record always
// has a plausible header, so no valid record after X is ever skipped; a
// plausible header inside damaged bytes (a body holding a copy of a record
// header with the right offset) is itself verified in full and, being bad,
// only causes one more resync. The damaged record's own TOTALSIZE is not
// trusted on its own (a flipped size could jump over valid records); when
// X+TOTALSIZE is where the next plausible header is, the report says the
// size field was intact. The bytes between X and P are counted as skipped.
//
// The error is for failures to read; damage goes into the report.
func Check(opts CheckOptions) (*CheckReport, error) {
	began := time.Now()
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 1000
	}
	if opts.SegmentSize <= 0 {
		s, _, err := InferSegmentSize(opts.FS, opts.Dir, DefaultSegmentSize)
		if err != nil {
			return nil, err
		}
		opts.SegmentSize = s
	}
	if opts.SegmentSize < msg.BlankHeaderSize {
		return nil, fmt.Errorf("commitlog: check: segment size %d", opts.SegmentSize)
	}
	bases, err := listSegments(opts.FS, opts.Dir)
	if err != nil {
		return nil, err
	}
	k := &checker{
		opts: opts, fs: opts.FS, segSize: opts.SegmentSize,
		rep: &CheckReport{Dir: opts.Dir, SegmentSize: opts.SegmentSize, Segments: len(bases), PendingCut: -1},
		sc:  segScanner{segSize: opts.SegmentSize, window: scanWindow},
	}
	if len(bases) > 0 {
		k.rep.MinOffset = bases[0]
		k.rep.End = bases[0]
	}
	// Trailing segments that start with a zero header were pre-written
	// ahead of the writer and hold nothing yet: the one before them is the
	// last one with data, where a zero header is the end of the log.
	lastData := len(bases) - 1
	for lastData > 0 {
		empty, err := k.startsEmpty(bases[lastData])
		if err != nil {
			return nil, err
		}
		if !empty {
			break
		}
		lastData--
	}
	for i, base := range bases {
		if base%k.segSize != 0 {
			k.problem(base, base, fmt.Sprintf("segment base is not a multiple of the segment size %d", k.segSize))
		}
		if i > 0 && base != bases[i-1]+k.segSize {
			k.problem(base, base, fmt.Sprintf("segments missing between %s and %s", SegmentName(bases[i-1]), SegmentName(base)))
		}
		if err := k.scanSegment(base, i >= lastData); err != nil {
			return k.rep, err
		}
	}
	if err := k.checkCheckpoint(); err != nil {
		return k.rep, err
	}
	k.rep.Duration = time.Since(began)
	return k.rep, nil
}

// startsEmpty says whether the segment at base starts with a zero header.
func (k *checker) startsEmpty(base int64) (bool, error) {
	path := k.fs.PathJoin(k.opts.Dir, SegmentName(base))
	f, err := k.fs.Open(path)
	if err != nil {
		return false, fmt.Errorf("commitlog: check: open %s: %w", path, err)
	}
	defer f.Close()
	var h [msg.BlankHeaderSize]byte
	n, err := f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("commitlog: check: read %s: %w", path, err)
	}
	_, kind, perr := msg.PeekHeader(h[:n])
	return perr == nil && kind == msg.KindEnd, nil
}

// checkCheckpoint reads the checkpoint read-only and compares it with the
// scanned end.
func (k *checker) checkCheckpoint() error {
	k.rep.PendingCut = -1
	if p, _, err := durable.ReadSlotFile(k.fs, k.fs.PathJoin(k.opts.Dir, truncMarkName), &truncMarkLayout); err != nil {
		return fmt.Errorf("commitlog: truncation mark: %w", err)
	} else if p != nil {
		k.rep.PendingCut = int64(binary.BigEndian.Uint64(p))
	}
	best, found, exists, err := readCheckpoint(k.fs, k.opts.Dir)
	if err != nil {
		return fmt.Errorf("commitlog: %w", err)
	}
	if !exists {
		if k.rep.Segments > 0 {
			k.problem(-1, 0, "no checkpoint file")
		}
		return nil
	}
	k.rep.CheckpointFound, k.rep.Checkpoint, k.rep.CheckpointClean = found, best.offset, best.clean
	switch {
	case !found && k.rep.Segments > 0:
		k.problem(-1, 0, "checkpoint file holds no valid slot")
	case found && best.clean && best.offset != k.rep.End:
		// Recovery trusts a clean checkpoint without scanning.
		k.problem(-1, best.offset, fmt.Sprintf("clean checkpoint says the log ends at %d, the scan ends at %d", best.offset, k.rep.End))
	case found && best.offset > k.rep.End:
		k.problem(-1, best.offset, fmt.Sprintf("checkpoint says %d bytes are durable, the log ends at %d", best.offset, k.rep.End))
	}
	return nil
}

type checker struct {
	opts    CheckOptions
	fs      vfs.FS
	segSize int64
	rep     *CheckReport

	// The current segment and its scanner.
	base int64
	sc   segScanner
}

// problem records damage at phys; base < 0 means no segment.
func (k *checker) problem(base, phys int64, reason string) {
	k.rep.ProblemCount++
	if len(k.rep.Problems) >= k.opts.MaxProblems {
		return
	}
	p := Problem{Offset: phys, Reason: reason}
	if base >= 0 {
		p.Segment = SegmentName(base)
	}
	k.rep.Problems = append(k.rep.Problems, p)
}

// read returns n bytes at segment offset at (zeros past the file's end).
func (k *checker) read(at int64, n int) ([]byte, error) {
	b, err := k.sc.read(at, n)
	if err != nil {
		return nil, fmt.Errorf("commitlog: check: %w", err)
	}
	return b, nil
}

func (k *checker) scanSegment(base int64, last bool) error {
	path := k.fs.PathJoin(k.opts.Dir, SegmentName(base))
	f, err := k.fs.Open(path)
	if err != nil {
		return fmt.Errorf("commitlog: check: open %s: %w", path, err)
	}
	defer f.Close()
	k.base = base
	scanned := k.sc.scanned
	defer func() { k.rep.BytesScanned += k.sc.scanned - scanned }()
	k.sc.reset(base, k.segSize, func(p []byte, at int64) (int, error) { return readZeroPadded(f, p, at) })
	if st, err := f.Stat(); err != nil {
		return fmt.Errorf("commitlog: check: stat %s: %w", path, err)
	} else if st.Size() > k.segSize {
		k.problem(base, base+k.segSize, fmt.Sprintf("file is %d bytes, larger than the segment size %d", st.Size(), k.segSize))
	}
	off := int64(0)
	for off < k.segSize {
		u, err := k.sc.next(off, true)
		if err != nil {
			return fmt.Errorf("commitlog: check: %w", err)
		}
		switch u.kind {
		case unitShort:
			// Too short for a BLANK: only zeros may follow the last record.
			return k.expectZero(off, "bytes after the last record")
		case unitZero:
			next, err := k.atZeroHeader(off, last)
			if err != nil || next >= k.segSize {
				return err
			}
			off = next
			continue
		case unitBlank:
			k.rep.Blanks++
			k.rep.End = max(k.rep.End, base+k.segSize)
			return k.expectZeroFrom(off, off+msg.BlankHeaderSize, "non-zero byte in the BLANK filler")
		case unitRecord:
			k.rep.Records++
			k.rep.RecordBytes += int64(u.size)
			if !msg.WantsCRC(u.rec) {
				k.rep.NoRecordCRC++
			}
			k.rep.End = max(k.rep.End, base+off+int64(u.size))
			if k.opts.OnRecord != nil {
				k.opts.OnRecord(base+off, u.rec)
			}
			off += int64(u.size)
			continue
		}
		reason, size := u.bad, u.size
		next, err := k.resync(off + 1)
		if err != nil {
			return err
		}
		switch {
		case size > 0 && off+int64(size) == next:
			reason += "; its size field leads to the next record"
		case next < k.segSize:
			reason += fmt.Sprintf("; next record found %d bytes on, at %d", next-off, base+next)
		default:
			reason += "; no record found after it in the segment"
		}
		k.problem(base, base+off, reason)
		k.rep.BadRegions++
		k.rep.SkippedBytes += next - off
		off = next
	}
	return nil
}

// atZeroHeader handles a zero header at off: the end of the log in the last
// segment, damage in a sealed one. Either way a later non-zero byte is
// damage, and a later record is checked too: it returns where to go on (the
// segment size when nothing follows).
func (k *checker) atZeroHeader(off int64, last bool) (int64, error) {
	base := k.base
	nz, err := k.firstNonZero(off, k.segSize)
	if err != nil {
		return 0, err
	}
	if nz < 0 {
		if !last {
			k.problem(base, base+off, fmt.Sprintf("sealed segment is zero from here to its end (%d bytes, no BLANK)", k.segSize-off))
			k.rep.BadRegions++
		}
		return k.segSize, nil
	}
	next, err := k.resync(off + 1)
	if err != nil {
		return 0, err
	}
	where := "after the end of the log"
	if !last {
		where = "in a sealed segment"
	}
	if next < k.segSize {
		k.problem(base, base+off, fmt.Sprintf("zero gap of %d bytes %s, then a record at %d", next-off, where, base+next))
	} else {
		k.problem(base, base+nz, fmt.Sprintf("non-zero bytes %s (zero header at %d)", where, base+off))
	}
	k.rep.BadRegions++
	k.rep.SkippedBytes += next - off
	return next, nil
}

// expectZero reports the first non-zero byte in [from, segSize).
func (k *checker) expectZero(from int64, what string) error {
	return k.expectZeroFrom(from, from, what)
}

// expectZeroFrom reports, at region start `at`, the first non-zero byte in
// [from, segSize).
func (k *checker) expectZeroFrom(at, from int64, what string) error {
	nz, err := k.firstNonZero(from, k.segSize)
	if err != nil || nz < 0 {
		return err
	}
	k.problem(k.base, k.base+at, fmt.Sprintf("%s at %d", what, k.base+nz))
	k.rep.BadRegions++
	return nil
}

// firstNonZero returns the segment offset of the first non-zero byte in
// [from, to), or -1.
func (k *checker) firstNonZero(from, to int64) (int64, error) {
	for p := from; p < to; {
		n := int(min(int64(scanWindow), to-p))
		b, err := k.read(p, n)
		if err != nil {
			return -1, err
		}
		// Whole pages compare at memeq speed; a check of a 1 GiB
		// segment that is mostly unwritten is mostly this loop.
		for off := 0; off < len(b); off += len(zeroPage) {
			page := b[off:min(off+len(zeroPage), len(b))]
			if bytes.Equal(page, zeroPage[:len(page)]) {
				continue
			}
			for i, c := range page {
				if c != 0 {
					return p + int64(off+i), nil
				}
			}
		}
		p += int64(n)
	}
	return -1, nil
}

// zeroPage is compared against by firstNonZero.
var zeroPage = make([]byte, 4096)

var (
	recordMagic = binary.BigEndian.AppendUint32(nil, msg.MagicCode)
	blankMagic  = binary.BigEndian.AppendUint32(nil, msg.BlankMagic)
)

// resync returns the earliest segment offset >= from holding a plausible
// header (see CheckOptions), or the segment size when there is none.
func (k *checker) resync(from int64) (int64, error) {
	// Windows overlap by a header's worth so no magic straddles two.
	const overlap = 36
	for p := from; p < k.segSize; {
		n := int(min(int64(scanWindow), k.segSize-p))
		b, err := k.read(p, n)
		if err != nil {
			return 0, err
		}
		// Candidates start 4 bytes before a magic; search from p+4.
		for i := 4; i+4 <= len(b); {
			j := indexEither(b[i:])
			if j < 0 {
				break
			}
			cand := p + int64(i+j) - 4
			ok, err := k.plausible(cand)
			if err != nil {
				return 0, err
			}
			if ok {
				return cand, nil
			}
			// plausible may have moved the window: re-read ours.
			if b, err = k.read(p, n); err != nil {
				return 0, err
			}
			i += j + 1
		}
		if p+int64(n) >= k.segSize {
			break
		}
		p += int64(n) - overlap
	}
	return k.segSize, nil
}

// indexEither returns the index of the first record or BLANK magic in b.
func indexEither(b []byte) int {
	i := bytes.Index(b, recordMagic)
	j := bytes.Index(b, blankMagic)
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

// plausible says whether a record or BLANK header that could be real starts
// at segment offset off.
func (k *checker) plausible(off int64) (bool, error) {
	left := k.segSize - off
	if left < msg.BlankHeaderSize {
		return false, nil
	}
	h, err := k.read(off, int(min(left, 36)))
	if err != nil {
		return false, err
	}
	size, kind, perr := msg.PeekHeader(h)
	switch {
	case perr != nil:
		return false, nil
	case kind == msg.KindBlank:
		return int64(size) == left, nil
	case kind == msg.KindRecord:
		if int64(size) > left || len(h) < 36 {
			return false, nil
		}
		return int64(binary.BigEndian.Uint64(h[28:36])) == k.base+off, nil
	}
	return false, nil
}

// Reader reads a CommitLog's segments read-only, for tools that must not
// open the log for writing.
type Reader struct {
	fs      vfs.FS
	segSize int64
	bases   []int64
	files   []vfs.File
}

// OpenReader opens every segment in dir read-only.
func OpenReader(fs vfs.FS, dir string, segSize int64) (*Reader, error) {
	if fs == nil {
		fs = vfs.Default
	}
	bases, err := listSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	r := &Reader{fs: fs, segSize: segSize, bases: bases}
	for _, b := range bases {
		f, err := fs.Open(fs.PathJoin(dir, SegmentName(b)))
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("commitlog: open segment %s: %w", SegmentName(b), err)
		}
		r.files = append(r.files, f)
	}
	return r, nil
}

// ReadAt reads len(p) bytes at phys; the range must lie in one segment.
// Bytes past a segment file's end read as zero.
func (r *Reader) ReadAt(p []byte, phys int64) error {
	i, ok := slices.BinarySearch(r.bases, phys)
	if !ok {
		i--
	}
	if i < 0 || phys < 0 || phys+int64(len(p)) > r.bases[i]+r.segSize {
		return fmt.Errorf("%w: [%d, %d) is not inside one segment", ErrOutOfRange, phys, phys+int64(len(p)))
	}
	if _, err := readZeroPadded(r.files[i], p, phys-r.bases[i]); err != nil {
		return fmt.Errorf("commitlog: read %d bytes at %d: %w", len(p), phys, err)
	}
	return nil
}

// Close closes the segment files.
func (r *Reader) Close() error {
	var errs []error
	for _, f := range r.files {
		errs = append(errs, f.Close())
	}
	r.files = nil
	return errors.Join(errs...)
}
