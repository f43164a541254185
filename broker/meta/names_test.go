package meta

import (
	"regexp"
	"testing"
)

// TestLegalTopicChars checks the table against Java's pattern, for every
// byte alone and inside longer names.
func TestLegalTopicChars(t *testing.T) {
	java := regexp.MustCompile(`^[%|a-zA-Z0-9_-]+$`)
	names := []string{"", "a", "TopicTest", "%RETRY%group", "%DLQ%g", "a|b", "a-b_c9", "a b", "a.b", "é", "a\x00", "-", "日本"}
	for c := 0; c < 256; c++ {
		names = append(names, string([]byte{byte(c)}), "ok"+string([]byte{byte(c)})+"ok")
	}
	for _, n := range names {
		if got, want := legalTopicChars(n), java.MatchString(n); got != want {
			t.Errorf("legalTopicChars(%q) = %v, Java's pattern says %v", n, got, want)
		}
	}
}

// TestValidateGroupReserved: names under ReservedGroupPrefix are refused;
// other names with ':' (Go clients send them) still pass.
func TestValidateGroupReserved(t *testing.T) {
	for name, want := range map[string]bool{
		ReservedGroupPrefix + "schedule": false, ReservedGroupPrefix + "sync:G": false, ReservedGroupPrefix: false,
		"wharf": true, "app:wharf:x": true, "WHARF:x": true, "GID_a.b:c": true,
	} {
		if _, ok := ValidateGroup(name); ok != want {
			t.Errorf("ValidateGroup(%q) ok = %v, want %v", name, ok, want)
		}
	}
}
