package sqlfilter

import (
	"errors"
	"testing"
)

// FuzzCompile: compiling any text and matching any properties never panics;
// errors are *Error with a position inside the expression; a match is
// deterministic.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"a > 5 AND region = 'eu'", "a BETWEEN 1 AND 5", "a NOT IN ('x','y','z','w','v')", "a IS NOT NULL",
		"NOT (a CONTAINS 'b') OR b STARTSWITH 'x' OR c NOT ENDSWITH 'y'", "a = -2147483648", "-a > 1.5e3",
		"TRUE = a", "a = b", "'x' <> a", "a = 1 /* c */ -- d\n OR b = 2", "a = 'it''s'", "a > 0x", "((a))",
		"a > 0.0", "NOT NOT a", "a = 1 = TRUE IS NULL", "a IN ('x'", "a > 9223372036854775807L",
	} {
		f.Add(s, []byte("a\x017\x02region\x01eu\x02b\x01x\x02c\x01NaN"))
	}
	f.Fuzz(func(t *testing.T, src string, props []byte) {
		x, err := Compile(src)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Pos < 0 || ce.Pos > len(src) {
				t.Fatalf("Compile(%q): %v (want *Error within the expression)", src, err)
			}
			return
		}
		if x.String() != src {
			t.Fatalf("String() = %q, want %q", x.String(), src)
		}
		if m := x.Match(props); m != x.Match(props) {
			t.Fatalf("%q on %q: Match is not deterministic", src, props)
		}
	})
}
