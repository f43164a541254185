package msg

import (
	"sort"
	"strings"
)

// Property separators and the keys the store itself reads.
const (
	NameValueSep = '\x01'
	PropertySep  = '\x02'

	PropKeys      = "KEYS"
	PropTags      = "TAGS"
	PropUniqKey   = "UNIQ_KEY"
	PropDelay     = "DELAY"
	PropRealTopic = "REAL_TOPIC"
	PropRealQueue = "REAL_QID"
	PropTranMsg   = "TRAN_MSG"
	PropCluster   = "CLUSTER"
	PropWait      = "WAIT"
)

// Property finds key in a properties string without allocating. Like Java's
// parser it skips empty pairs and pairs without a value separator.
func Property[S ~string | ~[]byte](props S, key string) (string, bool) {
	for len(props) > 0 {
		end := 0
		for end < len(props) && props[end] != PropertySep {
			end++
		}
		pair := props[:end]
		if end < len(props) {
			props = props[end+1:]
		} else {
			props = props[:0]
		}
		sep := -1
		for i := 0; i < len(pair); i++ {
			if pair[i] == NameValueSep {
				sep = i
				break
			}
		}
		if sep > 0 && string(pair[:sep]) == key {
			return string(pair[sep+1:]), true
		}
	}
	return "", false
}

// ParseProperties returns every name/value pair of a properties string.
func ParseProperties[S ~string | ~[]byte](props S) map[string]string {
	m := make(map[string]string)
	for _, pair := range strings.Split(string(props), string(PropertySep)) {
		name, value, ok := strings.Cut(pair, string(NameValueSep))
		if ok && name != "" {
			m[name] = value
		}
	}
	return m
}

// FormatProperties writes m as a properties string in sorted key order, with
// no trailing separator (as Java does).
func FormatProperties(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(PropertySep)
		}
		sb.WriteString(k)
		sb.WriteByte(NameValueSep)
		sb.WriteString(m[k])
	}
	return sb.String()
}

// AppendProperty adds name=value to a properties string, inserting a
// separator when props does not already end with one.
func AppendProperty(props, name, value string) string {
	if len(props) > 0 && props[len(props)-1] != PropertySep {
		props += string(PropertySep)
	}
	return props + name + string(NameValueSep) + value
}

// TagsCode is the consume-queue tag hash: Java's String.hashCode over the
// UTF-16 code units of tag, sign-extended to 64 bits; 0 for no tag.
func TagsCode(tag string) int64 {
	var h int32
	for _, r := range tag {
		if r >= 0x10000 {
			// Supplementary characters are two UTF-16 code units.
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return int64(h)
}

// ForEachKey calls fn for every space-separated key in a KEYS value.
func ForEachKey(keys string, fn func(key string)) {
	for len(keys) > 0 {
		var k string
		k, keys, _ = strings.Cut(keys, " ")
		if k != "" {
			fn(k)
		}
	}
}
