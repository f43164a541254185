package msg

import "strings"

// RemoveProperty drops every pair named name from a properties string.
func RemoveProperty(props, name string) string {
	if !strings.Contains(props, name) {
		return props
	}
	var sb strings.Builder
	for p := range strings.SplitSeq(props, string(PropertySep)) {
		if p == "" {
			continue
		}
		if n, _, _ := strings.Cut(p, string(NameValueSep)); n == name {
			continue
		}
		sb.WriteString(p)
		sb.WriteByte(PropertySep)
	}
	return sb.String()
}

// CopyOf returns the properties and sysFlag of a stored record for a new
// message made from it: without the record checksum, which the store adds
// again for the new record.
func CopyOf(r *Record) (props string, sysFlag int32) {
	return RemoveProperty(string(r.Properties), PropCRC32), r.SysFlag &^ FlagRecordCRC
}
