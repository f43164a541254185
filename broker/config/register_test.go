package config

import (
	"log/slog"
	"strings"
	"testing"
)

// TestRegistrationConfigKeys: compressedRegister, splitRegistrationSize and
// maxTopicNums are read from broker.conf and validated.
func TestRegistrationConfigKeys(t *testing.T) {
	cfg := Default()
	if !cfg.CompressedRegister || cfg.SplitRegistrationSize != DefaultSplitRegistrationSize || cfg.MaxTopicNums != DefaultMaxTopicNums {
		t.Fatalf("defaults %v %d %d", cfg.CompressedRegister, cfg.SplitRegistrationSize, cfg.MaxTopicNums)
	}
	in := "compressedRegister=false\nsplitRegistrationSize=500\nmaxTopicNums=1000\n"
	if err := Parse(strings.NewReader(in), &cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if cfg.CompressedRegister || cfg.SplitRegistrationSize != 500 || cfg.MaxTopicNums != 1000 {
		t.Fatalf("parsed %v %d %d", cfg.CompressedRegister, cfg.SplitRegistrationSize, cfg.MaxTopicNums)
	}
	for _, bad := range []string{"splitRegistrationSize=0", "maxTopicNums=-1"} {
		c := Default()
		if err := Parse(strings.NewReader(bad+"\n"), &c, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), strings.Split(bad, "=")[0]) {
			t.Errorf("%s: Validate error %v, want one naming the key", bad, err)
		}
	}
}
