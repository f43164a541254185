package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/wharfmq/wharf/engine/invariants"
)

// WharfBuild builds the wharf command once per test process, for the tests
// that run it as a real process. Dir is where the binary goes (the test's
// TestMain makes and removes it).
type WharfBuild struct {
	Dir string

	once sync.Once
	path string
	err  error
}

// Path builds ./tools/wharf on first use and returns the binary's path,
// failing t if the build fails. With the invariants tag on the test, the
// server is built with it too, so the process under test checks what the
// test binary checks (a violated invariant panics the server, where its
// log shows it).
func (b *WharfBuild) Path(t testing.TB) string {
	t.Helper()
	b.once.Do(func() { b.path, b.err = b.build() })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func (b *WharfBuild) build() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "go"
	}
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	out := filepath.Join(b.Dir, "wharf")
	args := []string{"build", "-o", out}
	if invariants.Enabled {
		args = append(args, "-tags", "invariants")
	}
	cmd := exec.Command(goBin, append(args, "./tools/wharf")...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./tools/wharf: %w\n%s", err, msg)
	}
	if _, err := os.Stat(out); err != nil {
		return "", fmt.Errorf("go build ./tools/wharf left no binary: %w", err)
	}
	return out, nil
}
