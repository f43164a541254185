package commitlog

import "github.com/wharfmq/wharf/internal/durable"

// SegmentName is the file name of the segment starting at base: base in 20
// zero-padded digits (durable.Name). Part of the format.
func SegmentName(base int64) string { return durable.Name(base) }

// ParseSegmentName returns the base offset a segment file name encodes.
func ParseSegmentName(name string) (int64, bool) { return durable.ParseName(name) }
