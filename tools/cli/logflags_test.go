package cli

import (
	"bytes"
	"encoding/json"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
)

// TestLogFlags: a server started with --log-format json logs JSON lines;
// --log-level filters; bad values are refused before anything starts, on
// every server command.
func TestLogFlags(t *testing.T) {
	// At warn, the info line "name server serving" must not appear once
	// it serves (seen by connecting); a debug-level process shows the line.
	addr := testkit.FreePort(t)
	p := startWharf(t, "namesrv", "--listen", addr, "--log-format", "json", "--log-level", "warn")
	testkit.Eventually(t, 20*time.Second, func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, "namesrv at warn listening on %s", addr)
	p2 := startWharf(t, "namesrv", "--listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug")
	var rec map[string]any
	deadline := time.After(20 * time.Second)
	for rec == nil {
		select {
		case line, ok := <-p2.lines:
			if !ok {
				t.Fatalf("namesrv exited:\n%s", p2.log())
			}
			if strings.Contains(line, "name server serving") {
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("not a JSON line: %q", line)
				}
			}
		case <-deadline:
			t.Fatalf("no serving line:\n%s", p2.log())
		}
	}
	if rec["level"] != "INFO" || !strings.HasPrefix(rec["addr"].(string), "127.0.0.1:") {
		t.Fatalf("serving record %v", rec)
	}
	if err := p2.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p2.log())
	}
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
	if strings.Contains(p.log(), "serving") {
		t.Fatalf("--log-level warn logged an info line:\n%s", p.log())
	}

	for _, cmd := range []string{"namesrv", "broker", "standalone", "controller"} {
		if _, err := runWharf("", cmd, "--log-format", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
			t.Errorf("%s --log-format xml: %v", cmd, err)
		}
		if _, err := runWharf("", cmd, "--log-level", "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
			t.Errorf("%s --log-level loud: %v", cmd, err)
		}
	}
	defer logConf.Store(nil)
	ls, err := parseLogFlags("text", "error")
	if err != nil {
		t.Fatal(err)
	}
	logConf.Store(ls)
	var buf bytes.Buffer
	l := newLogger(&buf)
	l.Warn("dropped")
	l.Error("kept")
	if out := buf.String(); strings.Contains(out, "dropped") || !strings.Contains(out, "level=ERROR msg=kept") {
		t.Fatalf("text at error: %q", out)
	}
}
