package broker

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
)

// mountSmallFS mounts a fresh ext4 image of sizeMB at a temp dir and
// unmounts it and removes the image at cleanup. It skips, saying why,
// where the test cannot mount (not root, no loop devices).
func mountSmallFS(t *testing.T, sizeMB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a small ext4 filesystem needs root (CI runs as root)")
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(int64(sizeMB) << 20)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Skipf("skipped: mkfs.ext4 unavailable: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("skipped: this kernel or container refuses a loop mount: %v %s", err, out)
	}
	// Registered after TempDir's cleanup, so it runs first: unmount, then
	// TempDir removes the image.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	return mnt
}

// TestSmallDiskKeepsUnconsumed is issue 9 §1 on a real filesystem, as it
// was reproduced: SYNC_FLUSH into small segments on a small ext4 disk,
// retention running all along as the disk passes 75 % and 85 %, until sends
// are refused. Every acknowledged message must still be pulled from offset
// 0 (the old retention removed unconsumed segments there), and the refusal
// must say why.
func TestSmallDiskKeepsUnconsumed(t *testing.T) {
	mnt := mountSmallFS(t, 128)
	cfg := testConfig(filepath.Join(mnt, "store"))
	cfg.FlushDiskType = config.SyncFlush
	cfg.MappedFileSizeCommitLog = 4 << 20
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 1024, 4096
	b := startBroker(t, cfg)
	c := newTestClient(t, b.Addr())
	if err := b.store.CommitOffset("G", "Full", 0, 10); err != nil {
		t.Fatal(err)
	}

	var acked []string
	var refused *remoting.Command
	deadline := time.Now().Add(2 * time.Minute)
	for refused == nil && time.Now().Before(deadline) {
		var more []string
		more, refused = sendUntilRefused(t, c, "Full", 64<<10, 50)
		acked = append(acked, more...)
		if _, err := b.store.CleanExpired(time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if refused == nil {
		t.Fatalf("%d sends acknowledged in 2 minutes, none refused", len(acked))
	}
	if refused.Code != remoting.RespServiceNotAvailable || !strings.Contains(refused.Remark, "disk full") {
		t.Fatalf("refusal after %d sends: code %d %q", len(acked), refused.Code, refused.Remark)
	}
	t.Logf("%d messages of 64 KiB acknowledged, then refused: %s", len(acked), refused.Remark)
	waitDispatched(t, b)
	// Retention considers only segments the index has synced past too.
	eventually(t, 5*time.Second, "the index checkpoint", func() bool {
		return b.store.Index().Checkpoint() >= b.store.DispatchedOffset()
	})
	if _, err := b.store.CleanExpired(time.Now()); err != nil {
		t.Fatal(err)
	}
	if min := b.store.CommitLog().MinOffset(); min != 0 {
		t.Fatalf("retention removed the CommitLog below %d", min)
	}
	sameBodies(t, pullBodies(t, c, "Full", 0), acked)
}
