package queue

import "github.com/cockroachdb/pebble/v2/vfs"

// walCategory is the write category Pebble creates its WAL files with.
const walCategory vfs.DiskWriteCategory = "pebble-wal"

// noWALPreallocFS passes everything to FS except the preallocation of
// Pebble's WAL files. Pebble reserves a WAL in blocks of 110 % of the
// memtable size (70 MB with our 64 MiB memtable) at its first write, so an
// empty store took 70 MB for a WAL holding a few KiB. The bulk of the WAL
// is dispatch batches, written without sync (the CommitLog is the durable
// record they are replayed from), so the reservation bought little; the
// synced writes (offsets, configs) are small.
type noWALPreallocFS struct{ vfs.FS }

func (fs noWALPreallocFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return wrapWAL(f, err, category)
}

func (fs noWALPreallocFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return wrapWAL(f, err, category)
}

func (fs noWALPreallocFS) Unwrap() vfs.FS { return fs.FS }

func wrapWAL(f vfs.File, err error, category vfs.DiskWriteCategory) (vfs.File, error) {
	if err != nil || category != walCategory {
		return f, err
	}
	return noPreallocFile{f}, nil
}

type noPreallocFile struct{ vfs.File }

func (noPreallocFile) Preallocate(offset, length int64) error { return nil }
