package commitlog

import (
	"fmt"
	"strconv"
)

// segmentNameLen is the width of a segment file name. Part of the format.
const segmentNameLen = 20

// SegmentName is the file name of the segment starting at base.
func SegmentName(base int64) string {
	return fmt.Sprintf("%020d", base)
}

// ParseSegmentName returns the base offset a segment file name encodes.
func ParseSegmentName(name string) (int64, bool) {
	if len(name) != segmentNameLen {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	base, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, false
	}
	return base, true
}
