//go:build unix

package commitlog

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"golang.org/x/sys/unix"
)

// TestFillHolesReservesWithoutTouchingData runs the reservation used where
// fallocate is missing (macOS, the BSDs) on this system's files: a sparse
// file with two written ranges must end fully allocated, same size, same
// bytes.
func TestFillHolesReservesWithoutTouchingData(t *testing.T) {
	const size = 1 << 20
	path := filepath.Join(t.TempDir(), "seg")
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, b := bytes.Repeat([]byte{0xa1}, 5000), bytes.Repeat([]byte{0xb2}, 100)
	if _, err := f.WriteAt(a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 300<<10); err != nil {
		t.Fatal(err)
	}
	fd := int(f.Fd())
	if err := unix.Ftruncate(fd, size); err != nil {
		t.Fatal(err)
	}
	if allocated(t, path) >= size {
		t.Skip("this file system does not keep sparse files")
	}
	if err := fillHoles(f, fd, size); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, path); got < size {
		t.Fatalf("%d of %d bytes allocated after fillHoles", got, size)
	}
	got := make([]byte, size+1)
	n, _ := f.ReadAt(got, 0)
	if n != size {
		t.Fatalf("file is %d bytes, want %d", n, size)
	}
	want := make([]byte, size)
	copy(want, a)
	copy(want[300<<10:], b)
	if !bytes.Equal(got[:n], want) {
		t.Fatal("fillHoles changed the file's bytes")
	}
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
