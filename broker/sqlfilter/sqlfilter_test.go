package sqlfilter

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode"
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

// TestEvaluate: each expected value is what RocketMQ's filter module gives;
// the comment names the Java class (org.apache.rocketmq.filter.expression
// unless said otherwise) whose behaviour decides it.
func TestEvaluate(t *testing.T) {
	for _, tt := range []struct {
		expr, props, want string
	}{
		// Numbers against property strings: ComparisonExpression.__compare
		// parses the string as the literal's type (Integer.valueOf for an
		// int literal) and throws when it cannot.
		{"a > 5", "a=7", "TRUE"},
		{"a > 5", "a=5", "FALSE"},
		{"a > 5", "", "NULL"},          // evaluate(): left null -> null
		{"a > 5", "a=abc", "ERROR"},    // NumberFormatException
		{"a > 5", "a=7.5", "ERROR"},    // Integer.valueOf("7.5") throws
		{"a > 5.0", "a=7.5", "TRUE"},   // Double literal: Double.valueOf
		{"a > 5", "a=+7", "TRUE"},      // Integer.parseInt takes a sign
		{"a > 5", "a= 7", "ERROR"},     // ... but no spaces
		{"a > 5", "a=\u0667", "TRUE"},  // Character.digit: ARABIC-INDIC SEVEN
		{"a > 5", "a=007", "TRUE"},     // leading zeros are decimal
		{"a > 5.0", "a= 7.5 ", "TRUE"}, // Double.valueOf trims
		{"a > 5.0", "a=7.5f", "TRUE"},  // ... and takes a type suffix
		{"a > 5.0", "a=0x1p3", "TRUE"}, // ... and hex floats (8.0)
		{"a > 5.0", "a=NaN", "TRUE"},   // Double.compareTo: NaN is greatest
		{"a > 5.0", "a=-Infinity", "FALSE"},
		{"a > 5.0", "a=1e", "ERROR"},
		{"a > 5.0", "a=infinity", "ERROR"},         // exact spelling only
		{"a > 3000000000", "a=3000000001", "TRUE"}, // Long literal: Long.valueOf
		{"a > 5", "a=3000000001", "ERROR"},         // Integer overflow
		{"a > 5L", "a=6", "TRUE"},                  // 5L fits an int: Integer
		{"a >= 0.5", "a=-0.0", "FALSE"},
		{"a > 0L", "a=1", "TRUE"}, // "0" cannot take L: "a > 0", then "L" is not read (SelectorParser: no EOF)
		// Equality: doCreateEqual tries equals, then __compare.
		{"a = 5", "a=5", "TRUE"},
		{"a = 5", "a=05", "TRUE"},
		{"a = 5", "a=5.0", "ERROR"},
		{"a = 5", "a=abc", "ERROR"},
		{"a = 5.0", "a=5", "TRUE"},
		{"a = 0.5", "a=5e-1", "TRUE"},
		{"a = 'abc'", "a=abc", "TRUE"},
		{"a = 'abc'", "a=ABC", "FALSE"},
		{"a = 'abc'", "", "NULL"},       // left null, right not: null
		{"'abc' = a", "", "FALSE"},      // right null, left not: FALSE
		{"'abc' <> a", "", "TRUE"},      // <> is NOT(=)
		{"a <> 'abc'", "", "NULL"},      // NOT null is null
		{"a <> 'abc'", "a=x", "TRUE"},   //
		{"a = b", "", "TRUE"},           // both null: lv == rv
		{"a = b", "a=1", "FALSE"},       //
		{"a = b", "b=1", "NULL"},        //
		{"a = b", "a=1.0;b=1", "FALSE"}, // two strings compare as text under =
		{"a > b", "a=10;b=9", "TRUE"},   // two strings under > are both Double.valueOf'd
		{"a > b", "a=x;b=9", "ERROR"},   // ... or throw
		{"a >= b", "a=NaN;b=NaN", "TRUE"},
		{"a = TRUE", "a=true", "TRUE"}, // String vs Boolean: Boolean.valueOf
		{"a = TRUE", "a=TRUE", "TRUE"},
		{"a = TRUE", "a=yes", "FALSE"},
		{"a = FALSE", "a=1", "TRUE"},    // Boolean.valueOf("1") is false
		{"TRUE = a", "a=true", "ERROR"}, // Boolean vs String: (String) cast of a Boolean throws
		{"TRUE = a", "", "FALSE"},
		{"5 = TRUE", "", "FALSE"}, // Integer vs Boolean: __compare returns -1
		{"5 = 5.0", "", "TRUE"},   // Integer widened to Double
		{"5 = 5000000000", "", "FALSE"},
		{"3000000000 > 5", "", "TRUE"},
		{"a = -2147483648", "a=-2147483648", "TRUE"}, // negated Long literal
		{"a = 1 = TRUE", "a=1", "TRUE"},              // (a = 1) = TRUE
		{"a = 1 = TRUE", "", "NULL"},                 // null = TRUE
		// IS [NOT] NULL; MessageDecoder.string2messageProperties.
		{"a IS NULL", "", "TRUE"},
		{"a IS NULL", "a=", "TRUE"}, // an empty value is dropped
		{"a IS NULL", "a=x", "FALSE"},
		{"a IS NOT NULL", "a=x", "TRUE"},
		{"a IS NULL IS NULL", "", "FALSE"},
		{"a = '2'", "a=1;a=2", "TRUE"},       // last pair wins (HashMap.put)
		{"a = '1'", "a=1;a=", "TRUE"},        // an empty pair does not override
		{"a IS NULL", "=x;a", "TRUE"},        // empty name, no separator: skipped
		{"b = 'x\x01y'", "b=x\x01y", "TRUE"}, // value holds \x01: first \x01 splits
		// Negation (UnaryExpression.createNegate): numbers only, else null.
		{"-a > 1", "a=5", "NULL"},
		{"a > -5", "a=-3", "TRUE"},
		{"a BETWEEN -5 AND -10", "a=-7", "FALSE"}, // no literal check: -5 is not a ConstantExpression
		// BETWEEN is >= AND <=; NOT BETWEEN is < OR > (ComparisonExpression.createBetween).
		{"a BETWEEN 1 AND 5", "a=3", "TRUE"},
		{"a BETWEEN 1 AND 5", "a=5", "TRUE"},
		{"a BETWEEN 1 AND 5", "a=6", "FALSE"},
		{"a BETWEEN 1 AND 5", "", "NULL"},
		{"a BETWEEN 1 AND 5", "a=x", "ERROR"},
		{"a NOT BETWEEN 1 AND 5", "a=6", "TRUE"},
		{"a NOT BETWEEN 1 AND 5", "a=3", "FALSE"},
		{"a NOT BETWEEN 1 AND 5", "", "NULL"},
		{"a BETWEEN 1 AND 5.5", "a=5.2", "ERROR"}, // a >= 1 parses a as Integer
		{"a BETWEEN 1.0 AND 5.5", "a=5.2", "TRUE"},
		// IN (UnaryExpression.createInExpression): strings only, null for missing.
		{"a IN ('x', 'y')", "a=x", "TRUE"},
		{"a IN ('x', 'y')", "a=z", "FALSE"},
		{"a IN ('x', 'y')", "", "NULL"},
		{"a NOT IN ('x')", "", "NULL"},
		{"a NOT IN ('x')", "a=z", "TRUE"},
		{"a IN ('1','2','3','4','5','6')", "a=6", "TRUE"}, // set form
		{"a NOT IN ('1','2','3','4','5','6')", "a=6", "FALSE"},
		{"(a) IN ('x')", "a=x", "TRUE"},
		// CONTAINS / STARTSWITH / ENDSWITH (5.x ComparisonExpression.ContainsExpression etc.):
		// FALSE for null, non-string or empty search, negated forms included.
		{"a CONTAINS 'b'", "a=abc", "TRUE"},
		{"a CONTAINS 'b'", "", "FALSE"},
		{"a NOT CONTAINS 'b'", "", "FALSE"},
		{"NOT (a CONTAINS 'b')", "", "TRUE"},
		{"a NOT CONTAINS 'x'", "a=abc", "TRUE"},
		{"a CONTAINS ''", "a=abc", "FALSE"},
		{"a NOT CONTAINS ''", "a=abc", "FALSE"},
		{"a STARTSWITH 'ab'", "a=abc", "TRUE"},
		{"a NOT STARTSWITH 'ab'", "a=abc", "FALSE"},
		{"a ENDSWITH 'bc'", "a=abc", "TRUE"},
		{"a NOT ENDSWITH 'x'", "a=abc", "TRUE"},
		{"'axb' contains 'x'", "", "TRUE"},
		{"5 CONTAINS '5'", "", "FALSE"},
		{"(a = 1) CONTAINS ''", "a=zz", "FALSE"}, // empty search: left not evaluated
		{"(a = 1) CONTAINS 'x'", "a=zz", "ERROR"},
		// LogicExpression: three-valued, left to right, short circuit; an
		// exception aborts everything (ExpressionMessageFilter catches it).
		{"a = 1 OR b = 'x'", "a=abc;b=x", "ERROR"},
		{"b = 'x' OR a = 1", "a=abc;b=x", "TRUE"},
		{"b = 'y' AND a = 1", "a=abc;b=x", "FALSE"},
		{"a > 1 AND b = 'x'", "b=y", "FALSE"},
		{"a > 1 AND b = 'x'", "b=x", "NULL"},
		{"a > 1 OR b = 'x'", "b=y", "NULL"},
		{"a > 1 OR b = 'x'", "b=x", "TRUE"},
		{"a > 1 AND b > 1 AND c > 1", "a=2;b=2;c=2", "TRUE"},
		{"a > 1 AND b > 1 AND c > 1", "a=2;c=0", "FALSE"},
		{"a > 1 OR b > 1 OR c > 1", "c=0", "NULL"},
		{"(a > 1 OR b > 1) OR c > 1", "c=2", "TRUE"},
		{"NOT (a > 1)", "", "NULL"},
		{"NOT (a > 1)", "a=0", "TRUE"},
		{"a = 1 OR b = 2 AND c = 3", "a=1", "TRUE"}, // AND binds tighter
		{"(a = 1 OR b = 2) AND c = 3", "a=1", "NULL"},
		{"NOT a = 1", "a=1", "FALSE"}, // (NOT a) = 1: Boolean vs Integer
		{"NOT a", "a=x", "TRUE"},      // UnaryExpression.createBooleanCast: a String is FALSE
		{"NOT a", "", "NULL"},
		{"a", "a=true", "FALSE"},
		{"a AND b", "a=x;b=y", "FALSE"},
		{"TRUE", "", "TRUE"},
		{"FALSE", "", "FALSE"},
		{"NULL", "", "NULL"},
		{"NOT NULL", "", "NULL"},
		{"NOT NOT TRUE", "", "TRUE"},
		// Lexical details of SelectorParser.jj.
		{"a = 'it''s'", "a=it's", "TRUE"},
		{"TAGS is not null and TAGS='''''tag'''''", "TAGS=''tag''", "TRUE"}, // ExpressionTest.testEvaluate_stringHasString
		{"tags = 'A'", "TAGS=A", "NULL"},                                    // names are case-sensitive
		{"a Is NoT nUlL aNd b iN ('x')", "a=1;b=x", "TRUE"},
		{"a = --1", "a=1", "TRUE"},                        // no line break: two minus signs
		{"a = 1 -- note\n AND b = 2", "a=1;b=3", "FALSE"}, // a line comment
		{"a = 1 /* x */ AND b = 2", "a=1;b=2", "TRUE"},
		{"a = 1 b = 2", "a=1", "TRUE"},   // the rest is not read
		{"a = 05", "a=0", "TRUE"},        // "0" is a whole literal: "a = 0", then "5" is not read
		{"a = 1 )", "a=1", "TRUE"},       // likewise
		{"$x_1 = 'v'", "$x_1=v", "TRUE"}, // identifier characters
		{"a=1and b=2", "a=1;b=2", "TRUE"},
		{"a = 1.", "a=1", "TRUE"},
		{"a = .5e1", "a=5", "TRUE"}, // a Double literal: "5" is read by Double.valueOf
		{"a = 1 -- note\n", "a=1", "TRUE"},
	} {
		x, err := Compile(tt.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		if got := result(x, props(tt.props)); got != tt.want {
			t.Errorf("%q with %q: %s, want %s", tt.expr, tt.props, got, tt.want)
		}
		if m := x.Match(props(tt.props)); m != (tt.want == "TRUE") {
			t.Errorf("%q with %q: Match %v, want %v", tt.expr, tt.props, m, tt.want == "TRUE")
		}
	}
}

// TestCompileErrors: expressions RocketMQ's SelectorParser rejects, and
// Wharf's limits.
func TestCompileErrors(t *testing.T) {
	for _, tt := range []struct {
		expr, want string
	}{
		{"", "expected a property"},
		{"   ", "expected a property"},
		{"a >", "found end of expression"},
		{"a = 'x", "unterminated string"},
		{"(a = 1", "expected ')'"},
		{"a IN ()", "expected string"},
		{"a IN (1, 2)", "expected string"},     // IN takes string literals only
		{"'x' IN ('x')", "must be a property"}, // createInFilter
		{"a BETWEEN 1", "expected AND"},
		{"a BETWEEN 5 AND 1", "greater than upper bound"}, // createBetween's check
		{"a BETWEEN NULL AND 5", "cannot be NULL"},
		{"a BETWEEN 'x' AND 5", "cannot be compared"},
		{"a CONTAINS x", "expected string"},
		{"a CONTAINS 123", "expected string"},
		{"a NOT CONTAINS", "expected string"},
		{"a > 'x'", "cannot be compared"},       // checkLessThanOperand
		{"a > TRUE", "cannot be compared"},      //
		{"a > NULL", "cannot be compared"},      //
		{"(a > 1) > 2", "boolean expression"},   //
		{"NOT a > 1", "boolean expression"},     // (NOT a) > 1
		{"a = NULL", "NULL cannot be compared"}, // checkEqualOperand
		{"NULL <> a", "NULL cannot be compared"},
		{"TRUE = 5", "boolean literal"},             // checkEqualOperandCompatability
		{"TRUE = 'x'", "boolean literal"},           //
		{"5", "boolean value"},                      // asBooleanExpression
		{"'x'", "boolean value"},                    //
		{"-a", "boolean value"},                     //
		{"5 AND a", "boolean value"},                //
		{"NOT 5", "boolean value"},                  //
		{"a > 0.0", "smallest positive"},            // ConstantExpression.createFloat
		{"a > 1e-400", "smallest positive"},         //
		{"a > 1e400", "greater than the largest"},   //
		{"a > 9223372036854775808", "does not fit"}, // createFromDecimal: new Long
		{"a = 1 #", "unexpected character"},         // the next token must lex
		{"a.b = 1", "unexpected character"},         //
		{"a = 1 IS x", "expected NULL"},             // IS commits to IS [NOT] NULL
		{"a = 1 NOT x", "after NOT"},                // NOT commits to NOT BETWEEN/IN/...
		{"a = 1 OR", "found end of expression"},
		{"a = 1 /* open", "unexpected character"},
		{strings.Repeat("(", 150) + "a = 1" + strings.Repeat(")", 150), "nested"},
		{strings.Repeat("NOT ", 150) + "TRUE", "nested"},
		{strings.Repeat("- ", 150) + "a = 1", "nested"},
		{"a" + strings.Repeat(" = 1", 150), "nested"},
		{strings.Repeat("a", MaxLength+1), "longer than"},
	} {
		_, err := Compile(tt.expr)
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("Compile(%.40q): %v, want an *Error containing %q", tt.expr, err, tt.want)
			continue
		}
		if !strings.Contains(ce.Msg, tt.want) {
			t.Errorf("Compile(%.40q): %v, want %q", tt.expr, err, tt.want)
		}
		if ce.Pos < 0 || ce.Pos > len(tt.expr) {
			t.Errorf("Compile(%.40q): position %d outside the expression", tt.expr, ce.Pos)
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
