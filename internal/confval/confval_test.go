package confval

import (
	"errors"
	"testing"
)

func TestParseBool(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{{"true", true}, {"TRUE", true}, {"True", true}, {" tRuE ", true}, {"false", false}, {"FALSE", false}, {"False", false}} {
		if got, err := ParseBool(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseBool(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// Java's Boolean.parseBoolean reads all of these as false; strconv's
	// forms (1, t, F) would read some as true. Both are refused.
	for _, in := range []string{"", "ture", "yes please", "yes", "no", "on", "1", "0", "t", "F", "true!", "truefalse"} {
		if got, err := ParseBool(in); !errors.Is(err, ErrNotBool) || got {
			t.Errorf("ParseBool(%q) = %v, %v; want false, ErrNotBool", in, got, err)
		}
	}
}
