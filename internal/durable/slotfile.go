package durable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Layout is the shape of one slot of a slot file (drawn in the package
// doc). Part of the format of every file that uses it.
type Layout struct {
	// Prefix is written at the start of every slot and must match on read:
	// a magic number and, where the format has one, a version.
	Prefix []byte
	// PayloadSize is the length of the payload.
	PayloadSize int
	// Stride is the distance between the starts of the two slots; at
	// least SlotSize, and a sector (512) or more so the slots never share
	// a sector.
	Stride int64
	// Valid, if set, rejects a payload whose checksum matched but whose
	// fields are out of range: such a slot counts as damaged.
	Valid func(payload []byte) bool
}

// SlotSize is the number of bytes of one slot.
func (l *Layout) SlotSize() int { return len(l.Prefix) + 8 + l.PayloadSize + 4 }

// encode writes the slot for seq and payload into b (SlotSize bytes).
func (l *Layout) encode(b []byte, seq uint64, payload []byte) {
	p := len(l.Prefix)
	copy(b, l.Prefix)
	binary.BigEndian.PutUint64(b[p:], seq)
	copy(b[p+8:], payload)
	n := p + 8 + l.PayloadSize
	binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
}

// decode returns the sequence number and payload of slot b (aliasing b),
// and false when b is short, torn or garbage.
func (l *Layout) decode(b []byte) (uint64, []byte, bool) {
	p := len(l.Prefix)
	n := p + 8 + l.PayloadSize
	if len(b) < n+4 || string(b[:p]) != string(l.Prefix) ||
		binary.BigEndian.Uint32(b[n:]) != crc32.Checksum(b[:n], castagnoli) {
		return 0, nil, false
	}
	payload := b[p+8 : n]
	if l.Valid != nil && !l.Valid(payload) {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b[p:]), payload, true
}

// readNewest returns the payload of the valid slot of r with the higher
// sequence number, and that number; payload is nil when neither slot is
// valid. A file shorter than a slot reads as if zero-padded (invalid).
func (l *Layout) readNewest(r io.ReaderAt) (payload []byte, seq uint64, err error) {
	buf := make([]byte, l.SlotSize())
	for slot := int64(0); slot < 2; slot++ {
		n, err := r.ReadAt(buf, slot*l.Stride)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		s, p, ok := l.decode(buf[:n])
		if ok && (payload == nil || s > seq) {
			payload, seq = bytes.Clone(p), s
		}
	}
	return payload, seq, nil
}

// SlotFile is an open slot file: a small record (a checkpoint) that is
// replaced durably and atomically. Not safe for concurrent use.
//
// Why a crash cannot lose an acknowledged record: Write never touches the
// slot holding the newest record it knows (read at open or written since),
// and gives the new one a higher sequence number. A crash at any point
// therefore leaves that record whole in its slot, and the other slot old,
// new or torn. A torn or garbage slot fails its check: CRC-32C catches
// every change of 32 bits or fewer in a row and every odd number of
// flipped bits, and lets random bytes through once in 2^32 tries; the
// prefix and Layout.Valid catch more. The reader then takes the intact
// slot. The slots sit Stride apart, at least a sector, so one torn sector
// write cannot reach both.
//
// A failed Write does not advance the sequence number: after a failed
// write or fsync the slot's bytes on disk are unknown, so the next Write
// goes to that same slot again, never to the one with the last durable
// record.
type SlotFile struct {
	fs     vfs.FS
	path   string
	layout *Layout
	f      vfs.File // nil until the file exists
	named  bool     // this SlotFile synced the file's directory
	seq    uint64   // sequence number of the newest record (0: none)
	buf    []byte
}

// OpenSlotFile opens the slot file at path and returns it with the payload
// of its newest valid slot. payload is nil when the file is missing
// (exists false) or holds no valid slot (exists true): a torn first write,
// or damage. It never creates the file: the first Write does.
func OpenSlotFile(fs vfs.FS, path string, l *Layout) (sf *SlotFile, payload []byte, exists bool, err error) {
	if l.Stride < int64(l.SlotSize()) {
		return nil, nil, false, fmt.Errorf("open %s: layout stride %d below slot size %d", path, l.Stride, l.SlotSize())
	}
	sf = &SlotFile{fs: fs, path: path, layout: l, buf: make([]byte, l.SlotSize())}
	if _, err := fs.Stat(path); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, false, fmt.Errorf("stat %s: %w", path, err)
		}
		return sf, nil, false, nil
	}
	f, err := fs.OpenReadWrite(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, nil, true, fmt.Errorf("open %s: %w", path, err)
	}
	payload, sf.seq, err = l.readNewest(f)
	if err != nil {
		_ = f.Close()
		return nil, nil, true, fmt.Errorf("read %s: %w", path, err)
	}
	// named stays false: the run that made the file may have crashed
	// before syncing its directory, so the first Write syncs it (once per
	// open) before it reports a record durable.
	sf.f = f
	return sf, payload, true, nil
}

// ReadSlotFile reads the newest valid payload of the slot file at path
// without opening it for writing (for offline checks). payload is nil when
// the file is missing (exists false) or holds no valid slot.
func ReadSlotFile(fs vfs.FS, path string, l *Layout) (payload []byte, exists bool, err error) {
	f, err := fs.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	payload, _, err = l.readNewest(f)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", path, err)
	}
	return payload, true, nil
}

// Write makes payload (Layout.PayloadSize bytes) the durable record: when
// it returns nil, a crash at any later point reads payload or a newer one.
// It creates the file on first use.
//
// Order: the slot is written and the file fsynced, then, at the first
// Write after open, its directory. On error the sequence number does not advance, so the
// next Write goes to the same slot and the other one, holding the last
// durable record, is never touched.
func (s *SlotFile) Write(payload []byte) error {
	if len(payload) != s.layout.PayloadSize {
		return fmt.Errorf("write %s: payload of %d bytes, want %d", s.path, len(payload), s.layout.PayloadSize)
	}
	if s.f == nil {
		f, err := s.fs.Create(s.path, vfs.WriteCategoryUnspecified)
		if err != nil {
			return fmt.Errorf("create %s: %w", s.path, err)
		}
		s.f = f
	}
	seq := s.seq + 1
	s.layout.encode(s.buf, seq, payload)
	if _, err := s.f.WriteAt(s.buf, int64(seq%2)*s.layout.Stride); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	if !s.named {
		// The record does not count until the file's name is durable.
		if err := SyncDir(s.fs, s.fs.PathDir(s.path)); err != nil {
			return err
		}
		s.named = true
	}
	s.seq = seq
	return nil
}

// Seq is the sequence number of the newest record, read or written (0:
// none); it lives in slot Seq mod 2.
func (s *SlotFile) Seq() uint64 { return s.seq }

// Close closes the file. The SlotFile must not be used afterwards.
func (s *SlotFile) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}
