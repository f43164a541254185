package commitlog

import (
	"errors"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
)

var errInjected = errors.New("injected I/O error")

// failingFS fails Sync and SyncData of files while failSync is set.
type failingFS struct {
	vfs.FS
	failSync atomic.Bool
}

func (f *failingFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	if err != nil {
		return nil, err
	}
	return &failingFile{File: file, fs: f}, nil
}

func (f *failingFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	file, err := f.FS.OpenReadWrite(name, c, opts...)
	if err != nil {
		return nil, err
	}
	return &failingFile{File: file, fs: f}, nil
}

type failingFile struct {
	vfs.File
	fs *failingFS
}

func (f *failingFile) Sync() error {
	if f.fs.failSync.Load() {
		return errInjected
	}
	return f.File.Sync()
}

func (f *failingFile) SyncData() error {
	if f.fs.failSync.Load() {
		return errInjected
	}
	return f.File.SyncData()
}
