// Package epoch is a replica's epoch file in failover mode (issue 12): the
// list of master epochs its CommitLog holds and the offset where each one
// starts, RocketMQ 5's EpochFileCache over its epochFileCheckpoint file.
// Replicas compare their lists at the AutoSwitch handshake to find the
// last offset they agree on (FindConsistentPoint); a returning replica
// truncates its log there.
//
// # The file (RocketMQ's CheckpointFile, byte for byte)
//
//	<number of entries>\n
//	<CRC32 of the entry lines, as a decimal int>\n
//	<epoch>-<startOffset>\n      one line per entry, oldest first
//
// The CRC is java.util.zip.CRC32 (IEEE) of the entry lines, each with its
// "\n", masked to 31 bits (RocketMQ's UtilAll.crc32); 0 means "not
// checked". A reader that finds the file missing, empty, short of entries
// or failing its CRC reads "<file>.bak" instead, which holds the previous
// version. A line that is not two numbers joined by "-" is skipped (and
// then the count does not match).
//
// RocketMQ writes the file in place after copying the old one to .bak
// (MixAll.string2File), so a crash can leave a torn file, and relies on
// the .bak. Wharf writes each version to a temporary file, fsyncs it,
// renames it over the old one and fsyncs the directory, so the file is
// always whole; it still keeps the previous version in .bak (written the
// same way) for a RocketMQ reader of the same directory.
//
// # Rules (EpochFileCache)
//
// Epochs and start offsets both strictly increase. An entry ends where the
// next begins; the last one is open-ended (its end is the log's end,
// which the caller knows). Append refuses an entry that does not follow
// the last one; TruncateFrom drops the entries that start at or past an
// offset (the log was cut there).
package epoch

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/wharfmq/wharf/internal/durable"
)

// FileName is RocketMQ's name for the file under storePathRootDir.
const FileName = "epochFileCheckpoint"

// NoEnd is the end of the last entry until the caller says where the log
// ends (RocketMQ's Long.MAX_VALUE).
const NoEnd = math.MaxInt64

// Entry is one epoch: its number and the CommitLog range [Start, End) it
// wrote.
type Entry struct {
	Epoch int32
	Start int64
	End   int64
}

// ErrNotAfter is returned by Append for an entry whose epoch or start is
// not above the last one's.
var ErrNotAfter = errors.New("epoch: entry does not follow the last one")

// File is the epoch list of one store, kept in memory and written through
// to its file on every change. Safe for concurrent use.
type File struct {
	fs   vfs.FS
	path string

	// fromBak and refused say whether Open took the list from the .bak
	// and why it would not use the file (see FromBak); set once by Open.
	fromBak bool
	refused error

	mu      sync.Mutex
	entries []Entry // ascending; the last End is NoEnd
}

// Open reads the file at path (through fs; the .bak when the file is
// missing, empty or damaged) and returns the list. A missing file and
// .bak give an empty list. Damage in both is an error. FromBak tells the
// caller when the .bak was used, so it can say so: the .bak holds the
// previous version, which may lack the newest epochs.
func Open(fs vfs.FS, path string) (*File, error) {
	f := &File{fs: fs, path: path}
	entries, err := read(fs, path)
	if err != nil || len(entries) == 0 {
		bak, berr := read(fs, path+".bak")
		if berr != nil {
			if err != nil {
				return nil, fmt.Errorf("epoch: %s: %w; and %s.bak: %w", path, err, path, berr)
			}
			return nil, fmt.Errorf("epoch: %s.bak: %w", path, berr)
		}
		// A missing or empty file with an empty (or missing) .bak is a
		// replica that never had an epoch: nothing was refused.
		if err != nil || len(bak) > 0 {
			f.fromBak, f.refused = true, err
			if err == nil {
				f.refused = errors.New("missing or holding no entries while the .bak holds some")
			}
		}
		entries = bak
	}
	for i := 1; i < len(entries); i++ {
		if entries[i].Epoch <= entries[i-1].Epoch || entries[i].Start <= entries[i-1].Start {
			return nil, fmt.Errorf("epoch: %s: entry %d-%d does not follow %d-%d", path,
				entries[i].Epoch, entries[i].Start, entries[i-1].Epoch, entries[i-1].Start)
		}
	}
	f.entries = linkEnds(entries)
	return f, nil
}

// FromBak says whether Open took the list from the .bak, and why it
// refused the file: damaged (the parse or read error), or missing or
// empty while the .bak holds entries.
func (f *File) FromBak() (bool, error) { return f.fromBak, f.refused }

// Path is the file's path.
func (f *File) Path() string { return f.path }

// linkEnds sets each entry's end to the next one's start.
func linkEnds(es []Entry) []Entry {
	for i := range es {
		es[i].End = NoEnd
		if i > 0 {
			es[i-1].End = es[i].Start
		}
	}
	return es
}

// read parses one file; a missing one is an empty list.
func read(fs vfs.FS, path string) ([]Entry, error) {
	fh, err := fs.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	// An epoch file holds a line per failover: a few KiB. Bound what a
	// damaged one makes us read.
	const maxSize = 16 << 20
	b, err := io.ReadAll(io.LimitReader(fh, maxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSize {
		return nil, fmt.Errorf("larger than %d bytes", maxSize)
	}
	return Parse(b)
}

// Parse decodes the file format (see the package doc), as RocketMQ's
// reader does: lines may end in "\n" or "\r\n", lines that are not an
// entry are skipped, and the count and the CRC (unless 0) must match.
func Parse(b []byte) ([]Entry, error) {
	lines := strings.Split(string(b), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1] // the last line's terminator
	}
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	if len(lines) < 2 {
		return nil, errors.New("no count and CRC lines")
	}
	count, err := strconv.ParseInt(lines[0], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("count line %q: %w", lines[0], err)
	}
	sum, err := strconv.ParseInt(lines[1], 10, 32)
	if err != nil {
		return nil, fmt.Errorf("CRC line %q: %w", lines[1], err)
	}
	var entries []Entry
	h := crc32.NewIEEE()
	for _, l := range lines[2:] {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
		if e, ok := parseLine(l); ok {
			entries = append(entries, e)
		}
	}
	if int64(len(entries)) != count {
		return nil, fmt.Errorf("expected %d entries, found %d", count, len(entries))
	}
	if got := int64(h.Sum32() & 0x7fffffff); sum != 0 && got != sum {
		return nil, fmt.Errorf("entries CRC %d, file says %d", got, sum)
	}
	return entries, nil
}

// parseLine reads "<epoch>-<start>": exactly two fields around one "-",
// as Java's split sees it (trailing "-"s are dropped; a negative number
// makes it no entry).
func parseLine(l string) (Entry, bool) {
	a, b, ok := strings.Cut(strings.TrimRight(l, "-"), "-")
	if !ok || a == "" || strings.Contains(b, "-") {
		return Entry{}, false
	}
	ep, err1 := strconv.ParseInt(a, 10, 32)
	st, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil {
		return Entry{}, false
	}
	return Entry{Epoch: int32(ep), Start: st}, true
}

// Format encodes entries in the file format.
func Format(entries []Entry) []byte {
	var body strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&body, "%d-%d\n", e.Epoch, e.Start)
	}
	sum := crc32.ChecksumIEEE([]byte(body.String())) & 0x7fffffff
	return []byte(fmt.Sprintf("%d\n%d\n%s", len(entries), sum, body.String()))
}

// Entries returns a copy of the list, oldest first.
func (f *File) Entries() []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.entries)
}

// LastEpoch is the newest epoch, -1 when there is none (RocketMQ's).
func (f *File) LastEpoch() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return -1
	}
	return f.entries[len(f.entries)-1].Epoch
}

// Last returns the newest entry, ok false when there is none.
func (f *File) Last() (Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.entries) == 0 {
		return Entry{}, false
	}
	return f.entries[len(f.entries)-1], true
}

// EntryFor returns the entry whose range holds offset (the last one holds
// everything from its start on), ok false when none does.
func (f *File) EntryFor(offset int64) (Entry, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.entries {
		if e.Start <= offset && offset < e.End {
			return e, true
		}
	}
	return Entry{}, false
}

// Append adds epoch starting at start, durably. Both must be above the
// last entry's (ErrNotAfter otherwise; nothing changes).
func (f *File) Append(epoch int32, start int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n := len(f.entries); n > 0 {
		last := f.entries[n-1]
		if last.Epoch >= epoch || last.Start >= start {
			return fmt.Errorf("%w: %d-%d after %d-%d", ErrNotAfter, epoch, start, last.Epoch, last.Start)
		}
	}
	if start < 0 {
		return fmt.Errorf("epoch: negative start %d", start)
	}
	next := linkEnds(append(slices.Clone(f.entries), Entry{Epoch: epoch, Start: start}))
	if err := f.write(next); err != nil {
		return err
	}
	f.entries = next
	return nil
}

// TruncateFrom drops, durably, every entry that starts at or past offset
// (the CommitLog was cut there); the entry before becomes the last.
func (f *File) TruncateFrom(offset int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := len(f.entries)
	for i > 0 && f.entries[i-1].Start >= offset {
		i--
	}
	if i == len(f.entries) {
		return nil
	}
	next := linkEnds(slices.Clone(f.entries[:i]))
	if err := f.write(next); err != nil {
		return err
	}
	f.entries = next
	return nil
}

// FindConsistentPoint is where this store's log (ending at localMax) and
// a master's (entries and masterMax, from its handshake) last agree, or -1
// when they share no epoch that started at the same offset: walking the
// local epochs from the newest, the first one the master has with the
// same start ends at the smaller of the two ends (EpochFileCache).
func (f *File) FindConsistentPoint(master []Entry, masterMax, localMax int64) int64 {
	return FindConsistentPoint(f.Entries(), localMax, master, masterMax)
}

// FindConsistentPoint is File.FindConsistentPoint over two lists; each
// list's last entry ends at its max (the other ends are the next starts).
func FindConsistentPoint(local []Entry, localMax int64, master []Entry, masterMax int64) int64 {
	local, master = linkEnds(slices.Clone(local)), linkEnds(slices.Clone(master))
	if n := len(local); n > 0 {
		local[n-1].End = localMax
	}
	if n := len(master); n > 0 {
		master[n-1].End = masterMax
	}
	for i := len(local) - 1; i >= 0; i-- {
		for _, m := range master {
			if m.Epoch == local[i].Epoch {
				if m.Start == local[i].Start {
					return min(local[i].End, m.End)
				}
				break
			}
		}
	}
	return -1
}

// write makes entries the file's content: the previous content goes to
// .bak, then the new one replaces the file; each through a synced
// temporary file and a rename, then a directory sync. An empty list is
// written too (RocketMQ skips it, which leaves a truncated-to-nothing list
// on disk; Wharf's reader then takes the .bak, so the .bak is emptied
// first).
// REQUIRES: f.mu held.
func (f *File) write(entries []Entry) error {
	old := Format(f.entries)
	if err := f.replace(f.path+".bak", old); err != nil {
		return err
	}
	if len(entries) == 0 {
		// An empty file reads as "look in the .bak": make both empty.
		if err := f.replace(f.path+".bak", Format(nil)); err != nil {
			return err
		}
	}
	if err := f.replace(f.path, Format(entries)); err != nil {
		return err
	}
	return durable.SyncDir(f.fs, f.fs.PathDir(f.path))
}

// replace writes b to path through a synced temporary file and a rename.
func (f *File) replace(path string, b []byte) error {
	tmp := path + ".tmp"
	fh, err := f.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("epoch: %w", err)
	}
	_, werr := fh.Write(b)
	if werr == nil {
		werr = fh.Sync()
	}
	if cerr := fh.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = f.fs.Rename(tmp, path)
	}
	if werr != nil {
		_ = f.fs.Remove(tmp)
		return fmt.Errorf("epoch: write %s: %w", path, werr)
	}
	return nil
}
