package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDelayLevels(t *testing.T) {
	def, err := ParseDelayLevels("")
	if err != nil || len(def) != 18 || def[0] != time.Second || def[4] != time.Minute || def[17] != 2*time.Hour {
		t.Fatalf("default levels %v %v", def, err)
	}
	got, err := ParseDelayLevels(" 100ms 2s\t3m 4h 1d ")
	want := []time.Duration{100 * time.Millisecond, 2 * time.Second, 3 * time.Minute, 4 * time.Hour, 24 * time.Hour}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v %v", got, err)
	}
	for _, bad := range []string{"1x", "0s", "-1s", "s", "ms", "abc", "1.5s", "99999999999999d", "1s 2", strings.Repeat("1s ", 1025)} {
		if _, err := ParseDelayLevels(bad); err == nil {
			t.Errorf("%.20q accepted", bad)
		}
	}
	cfg := Default()
	if err := Parse(strings.NewReader("messageDelayLevel=1s 2s\n"), &cfg, nil); err != nil || cfg.MessageDelayLevel != "1s 2s" {
		t.Fatalf("config key: %v %q", err, cfg.MessageDelayLevel)
	}
	if err := Parse(strings.NewReader("messageDelayLevel=1q\n"), &cfg, nil); err == nil {
		t.Fatal("bad messageDelayLevel accepted")
	}
}
