package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNamesrvConfWarnsUnknownKeys: wharf namesrv -c warns once about each
// key of namesrv.conf it does not read, naming its line, as the broker
// does for broker.conf; the keys it reads (controller, tls.*, metrics) pass
// without a word.
func TestNamesrvConfWarnsUnknownKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "namesrv.conf")
	conf := "# RocketMQ's namesrv.conf, with Wharf's keys\n" +
		"listenPort=9876\n" + // line 2
		"enableControllerInNamesrv=false\n" +
		"tls.server.mode=disabled\n" +
		"metricsExporterType=DISABLE\n" +
		"metricsPromExporterPort=5557\n" +
		"rocketmqHome = /opt/rocketmq\n" + // line 7
		"listenPort=9877\n" +
		"kvConfigPath: /tmp/kv.json\n" // line 9
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	props, err := readConf(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if props["listenPort"] != "9877" || props["rocketmqHome"] != "/opt/rocketmq" || props["tls.server.mode"] != "disabled" {
		t.Fatalf("props %v", props)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	want := map[string]string{"listenPort": "line=2", "rocketmqHome": "line=7", "kvConfigPath": "line=9"}
	if len(lines) != len(want) {
		t.Fatalf("%d warnings, want %d (each unknown key once):\n%s", len(lines), len(want), logs.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, "level=WARN") || !strings.Contains(l, "namesrv.conf: unknown or unsupported key ignored") {
			t.Errorf("warning %q", l)
		}
		found := false
		for k, line := range want {
			if strings.Contains(l, "key="+k+" ") && strings.HasSuffix(l, line) {
				found = true
				delete(want, k)
			}
		}
		if !found {
			t.Errorf("unexpected warning %q", l)
		}
	}
	if len(want) > 0 {
		t.Errorf("not warned about: %v\n%s", want, logs.String())
	}
}
