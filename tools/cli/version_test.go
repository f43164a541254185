package cli

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: `wharf version`, `wharf --version` and `wharf version
// --json` report the same build, with the Go version, and a link-time
// stamp wins over the module version.
func TestVersion(t *testing.T) {
	out, err := runWharf("", "version")
	if err != nil || !strings.HasPrefix(out, "wharf ") || !strings.Contains(out, runtime.GOOS+"/"+runtime.GOARCH) || !strings.Contains(out, "go1.") {
		t.Fatalf("version: %v %q", err, out)
	}
	flag, err := runWharf("", "--version")
	if err != nil || flag != out {
		t.Fatalf("--version %q (%v), version %q", flag, err, out)
	}
	defer func(v, r, tm string) { stampedVersion, stampedRevision, stampedTime = v, r, tm }(stampedVersion, stampedRevision, stampedTime)
	stampedVersion, stampedRevision, stampedTime = "v9.8.7-dirty", "0123456789abcdef0123", "2026-12-07T00:00:00Z"
	out, err = runWharf("", "version", "--json")
	var bi BuildInfo
	if err != nil || json.Unmarshal([]byte(out), &bi) != nil {
		t.Fatalf("version --json: %v %q", err, out)
	}
	if bi.Version != "v9.8.7-dirty" || bi.Revision != "0123456789abcdef0123" || !bi.Modified || bi.Module != "github.com/wharfmq/wharf" && bi.Module != "" || bi.GoVersion == "" {
		t.Fatalf("version --json %+v", bi)
	}
	if s := bi.String(); !strings.HasPrefix(s, "wharf v9.8.7-dirty (0123456789ab+dirty 2026-12-07T00:00:00Z) go1.") {
		t.Fatalf("line %q", s)
	}
}
