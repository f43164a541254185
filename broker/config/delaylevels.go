package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultMessageDelayLevel is RocketMQ's messageDelayLevel: the delay of
// levels 1..18.
const DefaultMessageDelayLevel = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// Limits of messageDelayLevel (the levels are the queues of ScheduleTopic).
const (
	maxDelayLevels = 1024
	// MaxLevelDelay is the longest delay of a level; the broker also
	// bounds a transaction's check immunity by it.
	MaxLevelDelay = 365 * 24 * time.Hour
)

// ParseDelayLevels parses messageDelayLevel: space-separated durations, a
// positive integer each followed by a unit, ms (Wharf only), s, m, h or d.
// An empty string means DefaultMessageDelayLevel.
func ParseDelayLevels(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultMessageDelayLevel
	}
	var out []time.Duration
	for f := range strings.FieldsSeq(s) {
		num, unit := f, time.Duration(0)
		switch {
		case strings.HasSuffix(f, "ms"):
			num, unit = f[:len(f)-2], time.Millisecond
		case strings.HasSuffix(f, "s"):
			unit = time.Second
		case strings.HasSuffix(f, "m"):
			unit = time.Minute
		case strings.HasSuffix(f, "h"):
			unit = time.Hour
		case strings.HasSuffix(f, "d"):
			unit = 24 * time.Hour
		default:
			return nil, fmt.Errorf("level %d %q: want a number and a unit (ms, s, m, h, d)", len(out)+1, f)
		}
		if unit != time.Millisecond {
			num = f[:len(f)-1]
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || n > int64(MaxLevelDelay/unit) {
			return nil, fmt.Errorf("level %d %q: want a positive number of at most %v", len(out)+1, f, MaxLevelDelay)
		}
		out = append(out, time.Duration(n)*unit)
		if len(out) > maxDelayLevels {
			return nil, fmt.Errorf("more than %d levels", maxDelayLevels)
		}
	}
	return out, nil
}
