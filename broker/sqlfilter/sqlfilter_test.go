package sqlfilter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/cockroachdb/datadriven"
)

// props builds a properties string from "name=value" pairs separated by
// ';' (values may be empty; a pair without '=' is copied raw).
func props(s string) []byte {
	if s == "" {
		return nil
	}
	var b []byte
	for i, kv := range strings.Split(s, ";") {
		if i > 0 {
			b = append(b, '\x02')
		}
		name, value, ok := strings.Cut(kv, "=")
		b = append(b, name...)
		if ok {
			b = append(b, '\x01')
			b = append(b, value...)
		}
	}
	return b
}

// result is the three-valued outcome of an expression, or ERROR where
// RocketMQ's evaluation throws.
func result(x *Expr, p []byte) string {
	c := evalCtx{props: p}
	v, ok := x.eval(&c, x.root)
	switch {
	case !ok:
		return "ERROR"
	case v.k == kNull:
		return "NULL"
	case v.k != kBool:
		return "NONBOOL"
	case v.b:
		return "TRUE"
	}
	return "FALSE"
}

// TestEvaluate runs testdata/eval: an expression and property sets, each
// with its result (see the file's head). Match must agree: TRUE matches,
// anything else does not.
func TestEvaluate(t *testing.T) {
	datadriven.RunTest(t, "testdata/eval", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "eval" {
			d.Fatalf(t, "unknown command %q", d.Cmd)
		}
		lines := strings.Split(d.Input, "\n")
		expr := ddLine(t, d, lines[0])
		x, err := Compile(expr)
		if err != nil {
			d.Fatalf(t, "Compile(%q): %v", expr, err)
		}
		var out strings.Builder
		for _, line := range lines[1:] {
			p := props(ddLine(t, d, line))
			got := result(x, p)
			if m := x.Match(p); m != (got == "TRUE") {
				t.Errorf("%s: %q with %s: Match %v, result %s", d.Pos, expr, line, m, got)
			}
			fmt.Fprintf(&out, "%s: %s\n", line, got)
		}
		return out.String()
	})
}

// ddLine reads one input line of a testdata file: a Go-quoted string where
// it starts with '"', "" for "-", else the line as it is.
func ddLine(t *testing.T, d *datadriven.TestData, line string) string {
	switch {
	case line == "-":
		return ""
	case strings.HasPrefix(line, `"`):
		s, err := strconv.Unquote(line)
		if err != nil {
			d.Fatalf(t, "%s: %v", line, err)
		}
		return s
	}
	return line
}

// TestCompileErrors runs testdata/compile: expressions RocketMQ's
// SelectorParser rejects, and Wharf's limits, with the error and its
// column.
func TestCompileErrors(t *testing.T) {
	datadriven.RunTest(t, "testdata/compile", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "compile" {
			d.Fatalf(t, "unknown command %q", d.Cmd)
		}
		return compileResult(t, ddLine(t, d, d.Input))
	})
}

// compileResult is "ok" or the *Error Compile returns, checked to point
// inside the expression.
func compileResult(t *testing.T, expr string) string {
	t.Helper()
	_, err := Compile(expr)
	if err == nil {
		return "ok"
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Errorf("Compile(%.40q): %v, want an *Error", expr, err)
		return err.Error()
	}
	if ce.Pos < 0 || ce.Pos > len(expr) {
		t.Errorf("Compile(%.40q): position %d outside the expression", expr, ce.Pos)
	}
	return err.Error()
}

// TestCompileLimits: nesting and length limits, on expressions too long
// for a testdata line.
func TestCompileLimits(t *testing.T) {
	for _, tt := range []struct {
		expr, want string
	}{
		{strings.Repeat("(", 150) + "a = 1" + strings.Repeat(")", 150), "nested"},
		{strings.Repeat("NOT ", 150) + "TRUE", "nested"},
		{strings.Repeat("- ", 150) + "a = 1", "nested"},
		{"a" + strings.Repeat(" = 1", 150), "nested"},
		{strings.Repeat("a", MaxLength+1), "longer than"},
	} {
		if got := compileResult(t, tt.expr); !strings.Contains(got, tt.want) {
			t.Errorf("Compile(%.40q): %s, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestJavaDigitRuns checks what javaDigit relies on: every BMP run of
// decimal digits is whole sets of ten, each starting at its zero.
func TestJavaDigitRuns(t *testing.T) {
	for _, rg := range unicode.Nd.R16 {
		if rg.Stride != 1 || (int(rg.Hi)-int(rg.Lo)+1)%10 != 0 {
			t.Errorf("digit range %#x-%#x stride %d is not whole runs of ten", rg.Lo, rg.Hi, rg.Stride)
		}
	}
	for r, want := range map[rune]int{'7': 7, '\u0667': 7, '\uFF10': 0, '\uFF19': 9, 'a': -1, '\U0001D7CF': -1, '\u00B2': -1} {
		if got := javaDigit(r); got != want {
			t.Errorf("javaDigit(%U) = %d, want %d", r, got, want)
		}
	}
}

func TestParseJavaNumbers(t *testing.T) {
	for _, tt := range []struct {
		s    string
		long bool
		n    int64
		ok   bool
	}{
		{"0", false, 0, true}, {"-0", false, 0, true}, {"+12", false, 12, true},
		{"2147483647", false, 2147483647, true}, {"-2147483648", false, -2147483648, true},
		{"2147483648", false, 0, false}, {"2147483648", true, 2147483648, true},
		{"-9223372036854775808", true, -9223372036854775808, true}, {"9223372036854775808", true, 0, false},
		{"", false, 0, false}, {"+", false, 0, false}, {"-", false, 0, false}, {"1_0", false, 0, false},
		{"1 ", false, 0, false}, {"\uFF11\uFF12", false, 12, true}, {"0x10", false, 0, false},
	} {
		n, ok := parseJavaInt([]byte(tt.s), tt.long)
		if ok != tt.ok || ok && n != tt.n {
			t.Errorf("parseJavaInt(%q, %v) = %d, %v; want %d, %v", tt.s, tt.long, n, ok, tt.n, tt.ok)
		}
	}
	for _, tt := range []struct {
		s  string
		f  float64
		ok bool
	}{
		{"1", 1, true}, {"1.", 1, true}, {".5", 0.5, true}, {"-.5e1", -5, true}, {"1e+2", 100, true},
		{"\t 2.5d \n", 2.5, true}, {"1.5F", 1.5, true}, {"0x1.8p1", 3, true}, {"-0X.8P1", -1, true},
		{"0x1p3f", 8, true}, {"1e99999", math.Inf(1), true}, {"1e-99999", 0, true},
		{".", 0, false}, {"e5", 0, false}, {"1e", 0, false}, {"1e+", 0, false}, {"1.2.3", 0, false},
		{"0x1", 0, false}, {"0x1.8", 0, false}, {"0xp1", 0, false}, {"1ff", 0, false}, {"1f ", 1, true},
		{"inf", 0, false}, {"NaNd", 0, false}, {"1_000", 0, false}, {"", 0, false}, {"+", 0, false},
		{"\u0661", 0, false}, // Double.valueOf is ASCII-only
	} {
		f, ok := parseJavaDouble([]byte(tt.s))
		if ok != tt.ok || ok && f != tt.f {
			t.Errorf("parseJavaDouble(%q) = %v, %v; want %v, %v", tt.s, f, ok, tt.f, tt.ok)
		}
	}
	if f, ok := parseJavaDouble([]byte("-NaN")); !ok || !math.IsNaN(f) {
		t.Errorf("parseJavaDouble(-NaN) = %v, %v", f, ok)
	}
	if javaDoubleCompare(math.Copysign(0, -1), 0) != -1 || javaDoubleCompare(math.NaN(), math.Inf(1)) != 1 ||
		javaDoubleCompare(math.NaN(), math.NaN()) != 0 {
		t.Error("javaDoubleCompare does not order like Double.compare")
	}
}

// TestMatchDoesNotAllocate: Match runs per message on the pull path.
func TestMatchDoesNotAllocate(t *testing.T) {
	x, err := Compile("(a > 5 AND region = 'eu') OR b BETWEEN 1.5 AND 9.0 OR c IN ('p','q','r','s','t','u') OR d CONTAINS 'z'")
	if err != nil {
		t.Fatal(err)
	}
	p := props("TAGS=A;KEYS=k1 k2;UNIQ_KEY=0A0B0C;a=3;region=us;b=2.5e0;c=u;d=xyz")
	if !x.Match(p) {
		t.Fatal("no match")
	}
	if n := testing.AllocsPerRun(100, func() { x.Match(p) }); n != 0 {
		t.Errorf("Match allocates %v times per run", n)
	}
}

func BenchmarkMatch(b *testing.B) {
	x, err := Compile("a > 5 AND region = 'eu'")
	if err != nil {
		b.Fatal(err)
	}
	p := props("TAGS=A;KEYS=k1 k2;UNIQ_KEY=0A0B0C0D0E0F00112233445566778899;WAIT=true;a=7;region=eu")
	for b.Loop() {
		if !x.Match(p) {
			b.Fatal("no match")
		}
	}
}

func TestCache(t *testing.T) {
	c := NewCache(2)
	x1, err1 := c.Compile("a > 1")
	x2, err2 := c.Compile("a > 1")
	if err1 != nil || err2 != nil || x1 != x2 {
		t.Fatalf("same source compiled twice: %p %v, %p %v", x1, err1, x2, err2)
	}
	if _, err := c.Compile("a >"); err == nil {
		t.Fatal("bad expression compiled")
	}
	if _, err := c.Compile("a >"); err == nil {
		t.Fatal("cached error lost")
	}
	if len(c.entries) != 2 {
		t.Fatalf("%d entries, want 2", len(c.entries))
	}
	if x3, _ := c.Compile("b = 'x'"); x3 == nil || len(c.entries) != 1 {
		t.Fatalf("full cache did not start over: %d entries", len(c.entries))
	}
	if x4, _ := c.Compile("a > 1"); x4 == x1 {
		t.Fatal("an evicted expression came back")
	}
}
