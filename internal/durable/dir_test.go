package durable

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// exists reports whether path is in fs.
func exists(fs vfs.FS, path string) bool {
	_, err := fs.Stat(path)
	return err == nil
}

func TestMkdirAllSurvivesCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	if err := MkdirAll(mem, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	// A second call on an existing dir is a no-op.
	if err := MkdirAll(mem, "a/b/c"); err != nil {
		t.Fatal(err)
	}
	// Only what was synced survives a crash clone with 0 % unsynced data.
	after := mem.CrashClone(vfs.CrashCloneCfg{})
	for _, d := range []string{"a", "a/b", "a/b/c"} {
		if !exists(after, d) {
			t.Fatalf("%s lost by a crash after MkdirAll", d)
		}
	}
	// Control: the crash model does lose what a plain MkdirAll made, so
	// the check above can fail.
	if err := mem.MkdirAll("x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	if exists(mem.CrashClone(vfs.CrashCloneCfg{}), "x") {
		t.Fatal("the crash model kept an unsynced directory: the test proves nothing")
	}
}

func TestSyncDirMakesNewFileDurable(t *testing.T) {
	mem := vfs.NewCrashableMem()
	if err := MkdirAll(mem, "d"); err != nil {
		t.Fatal(err)
	}
	f, err := mem.Create("d/f", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if exists(mem.CrashClone(vfs.CrashCloneCfg{}), "d/f") {
		t.Fatal("the crash model kept a file whose directory was not synced: the test proves nothing")
	}
	if err := SyncDir(mem, "d"); err != nil {
		t.Fatal(err)
	}
	if !exists(mem.CrashClone(vfs.CrashCloneCfg{}), "d/f") {
		t.Fatal("d/f lost by a crash after SyncDir")
	}
	f.Close()
	if err := SyncDir(mem, "missing"); err == nil {
		t.Fatal("SyncDir of a missing directory succeeded")
	}
}

func TestWriteFileReplacesDurably(t *testing.T) {
	fs := vfs.NewCrashableMem()
	if err := MkdirAll(fs, "/d"); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(fs, "/d/f", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(fs, "/d/f", []byte("two")); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	f, err := crashed.Open("/d/f")
	if err != nil {
		t.Fatalf("after a crash: %v", err)
	}
	defer f.Close()
	b := make([]byte, 8)
	n, _ := f.Read(b)
	if string(b[:n]) != "two" {
		t.Fatalf("after a crash the file holds %q, want %q", b[:n], "two")
	}
	if exists(crashed, "/d/f.tmp") {
		t.Fatal("the temporary file survived")
	}
}
