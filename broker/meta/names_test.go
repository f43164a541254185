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
