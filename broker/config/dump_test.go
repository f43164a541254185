package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestPropertiesRoundTrip: every key Parse takes is dumped, and Parse reads
// the dump back to the same Config, for the defaults and for a config with
// every kind of value changed (including values that need escapes).
func TestPropertiesRoundTrip(t *testing.T) {
	changed := Default()
	changed.BrokerName = `b\x` + "\n" + " y"
	changed.StorePathRootDir = " /data/with space"
	changed.FileReservedTime = 5 * time.Hour
	changed.FlushIntervalCommitLog = 1234 * time.Millisecond
	changed.DiskSpaceWarningLevelRatio = 0.875
	changed.DefaultTopicQueueNums = 3
	changed.HAMaxGapNotInSync = 1 << 40
	changed.SlaveReadEnable = !changed.SlaveReadEnable
	for _, cfg := range []Config{Default(), changed} {
		props := cfg.Properties()
		for key := range configKeys {
			if _, ok := props[key]; !ok {
				t.Errorf("key %s is not dumped: add it to Properties", key)
			}
		}
		for key := range props {
			if _, ok := configKeys[key]; !ok {
				t.Errorf("dumped key %s is not a broker.conf key", key)
			}
		}
		text := cfg.PropertiesText()
		back := Config{}
		if err := Parse(strings.NewReader(text), &back, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("parse dump: %v\n%s", err, text)
		}
		back.Listen = cfg.Listen // no broker.conf key
		if back != cfg {
			t.Errorf("round trip differs\n got %+v\nwant %+v\n%s", back, cfg, text)
		}
	}
	def := Default()
	if text := def.PropertiesText(); !strings.Contains(text, "\nbrokerName=broker-a\n") {
		t.Errorf("dump has no brokerName=broker-a line:\n%s", text)
	}
}
