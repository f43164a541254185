package config

import (
	"strings"
	"testing"
)

// TestMessageDelayLevelKey: broker.conf's messageDelayLevel is checked by
// engine.ParseDelayLevels (tested there) when the file is read.
func TestMessageDelayLevelKey(t *testing.T) {
	cfg := Default()
	if err := Parse(strings.NewReader("messageDelayLevel=1s 2s\n"), &cfg, nil); err != nil || cfg.MessageDelayLevel != "1s 2s" {
		t.Fatalf("config key: %v %q", err, cfg.MessageDelayLevel)
	}
	if err := Parse(strings.NewReader("messageDelayLevel=1q\n"), &cfg, nil); err == nil {
		t.Fatal("bad messageDelayLevel accepted")
	}
}
