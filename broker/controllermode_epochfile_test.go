package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wharfmq/wharf/broker/ha/autoswitch"
	"github.com/wharfmq/wharf/broker/ha/epoch"
	"github.com/wharfmq/wharf/remoting"
)

// lockedBuffer is a log sink safe for the broker's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestEpochFileBakFallbackIsLoggedAndMustCoverTheLog: a controller-mode
// replica whose epochFileCheckpoint is garbled reads the .bak, and says
// so (a WARN naming both files and why the file was refused). A stale
// .bak that does not cover the CommitLog (no epochs, or a first epoch
// starting above the log's first byte) is refused at start with
// ErrNoEpochs, naming the file, the log's range and the remedy: taken
// as it was, the replica became master and wrote its new epoch at the
// log's end, leaving the bytes below it in no epoch. A .bak that covers
// the log starts normally, with the same WARN.
func TestEpochFileBakFallbackIsLoggedAndMustCoverTheLog(t *testing.T) {
	dir := t.TempDir()
	b := openBroker(t, testConfig(dir))
	if err := b.Start(); err != nil {
		b.Close()
		t.Fatal(err)
	}
	createTopic(t, newTestClient(t, b.Addr()), "Epochs", 1)
	for range 3 {
		if code := sendRaw(t, newTestClient(t, b.Addr()), "Epochs", "body"); code != remoting.RespSuccess {
			t.Fatalf("send: code %d", code)
		}
	}
	end := b.store.MaxPhysOffset()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if end <= 0 {
		t.Fatalf("log end %d after three sends", end)
	}

	path := filepath.Join(dir, epoch.FileName)
	cfg := testConfig(dir)
	cfg.EnableControllerMode = true
	cfg.ControllerAddr = "127.0.0.1:1" // never dialled: the broker is not started
	open := func(bak string) (*lockedBuffer, error) {
		t.Helper()
		if err := os.WriteFile(path, []byte("3\n99\n1-0\n2-1x"), 0o644); err != nil { // garbled
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".bak", []byte(bak), 0o644); err != nil {
			t.Fatal(err)
		}
		var logs lockedBuffer
		nb, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err == nil {
			nb.Close()
		}
		return &logs, err
	}
	warned := func(logs *lockedBuffer) bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "epoch file refused") &&
				strings.Contains(l, path) && strings.Contains(l, path+".bak") && strings.Contains(l, "expected 3 entries") {
				return true
			}
		}
		return false
	}

	stale := map[string]string{
		"no epochs":          string(epoch.Format(nil)),
		"first epoch at end": string(epoch.Format([]epoch.Entry{{Epoch: 1, Start: end}})),
	}
	for name, bak := range stale {
		logs, err := open(bak)
		if !errors.Is(err, autoswitch.ErrNoEpochs) {
			t.Fatalf("%s: stale .bak below a log of %d bytes: got %v, want ErrNoEpochs", name, end, err)
		}
		for _, want := range []string{path, "[0, ", "restore", "move the store"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: refusal %q does not name %q", name, err, want)
			}
		}
		if !warned(logs) {
			t.Errorf("%s: no WARN about the .bak:\n%s", name, logs)
		}
	}

	logs, err := open(string(epoch.Format([]epoch.Entry{{Epoch: 1, Start: 0}})))
	if err != nil {
		t.Fatalf("a .bak covering the log: %v", err)
	}
	if !warned(logs) {
		t.Errorf("good .bak: no WARN about the fallback:\n%s", logs)
	}
}
