package durable

import "strconv"

// NameLen is the length of a file name made by Name. Part of the format.
const NameLen = 20

// Name is the file name for n (n >= 0): n in decimal, zero-padded to
// NameLen digits, so that names sort in the order of the numbers they
// encode. Segment and index files are named by their first offset.
func Name(n int64) string {
	var b [NameLen]byte
	for i := range b {
		b[i] = '0'
	}
	d := strconv.AppendInt(make([]byte, 0, NameLen), n, 10)
	copy(b[NameLen-len(d):], d)
	return string(b[:])
}

// ParseName returns the number a file name encodes, and false for any name
// that Name cannot have produced.
func ParseName(name string) (int64, bool) {
	if len(name) != NameLen {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(name, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}
