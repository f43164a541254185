package sqlfilter

import (
	"errors"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// parseJavaInt is Integer.parseInt (or Long.parseLong when long): an
// optional sign and decimal digits, which Java's Character.digit takes from
// any script but only within the Basic Multilingual Plane (a supplementary
// character is two UTF-16 units, neither a digit).
func parseJavaInt(b []byte, long bool) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	limit := int64(-math.MaxInt32)
	if long {
		limit = -math.MaxInt64
	}
	neg := false
	if b[0] == '-' || b[0] == '+' {
		if len(b) == 1 {
			return 0, false
		}
		if neg = b[0] == '-'; neg {
			limit--
		}
		b = b[1:]
	}
	// Accumulate negatively, as Java does, so MinInt fits.
	multmin := limit / 10
	var result int64
	for len(b) > 0 {
		r, size := rune(b[0]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(b)
		}
		b = b[size:]
		d := javaDigit(r)
		if d < 0 || result < multmin {
			return 0, false
		}
		result *= 10
		if result < limit+int64(d) {
			return 0, false
		}
		result -= int64(d)
	}
	if neg {
		return result, true
	}
	return -result, true
}

// javaDigit is Character.digit(ch, 10) for a BMP character, -1 if it is not
// a decimal digit.
func javaDigit(r rune) int {
	if r >= '0' && r <= '9' {
		return int(r - '0')
	}
	if r < utf8.RuneSelf || r > 0xFFFF || r == utf8.RuneError {
		return -1
	}
	// Unicode decimal digits come in runs of ten starting at zero.
	for _, rg := range unicode.Nd.R16 {
		if uint16(r) < rg.Lo {
			break
		}
		if uint16(r) <= rg.Hi {
			return int(uint16(r)-rg.Lo) % 10
		}
	}
	return -1
}

// javaBool is Boolean.valueOf: "true" in any case.
func javaBool(b []byte) bool {
	return len(b) == 4 && b[0]|0x20 == 't' && b[1]|0x20 == 'r' && b[2]|0x20 == 'u' && b[3]|0x20 == 'e'
}

// javaDoubleCompare is Double.compare: -0.0 < 0.0, NaN equals NaN and is
// above everything.
func javaDoubleCompare(a, b float64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	ab, bb := int64(math.Float64bits(a)), int64(math.Float64bits(b))
	if math.IsNaN(a) {
		ab = 0x7ff8000000000000
	}
	if math.IsNaN(b) {
		bb = 0x7ff8000000000000
	}
	switch {
	case ab == bb:
		return 0
	case ab < bb:
		return -1
	}
	return 1
}

// parseJavaDouble is Double.valueOf (FloatingDecimal.readJavaFormatString):
// surrounding characters up to ' ' are trimmed; then an optional sign and
// NaN, Infinity, a decimal number with optional exponent, or a hexadecimal
// one with a binary exponent; a final f, F, d or D is allowed after a number.
// It does not allocate for inputs up to 64 bytes.
func parseJavaDouble(b []byte) (float64, bool) {
	for len(b) > 0 && b[0] <= ' ' {
		b = b[1:]
	}
	for len(b) > 0 && b[len(b)-1] <= ' ' {
		b = b[:len(b)-1]
	}
	if len(b) == 0 {
		return 0, false
	}
	i := 0
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		i++
	}
	rest := b[i:]
	switch {
	case string(rest) == "NaN":
		return math.NaN(), true
	case string(rest) == "Infinity":
		if neg {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case len(rest) > 1 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X'):
		if !validHexFloat(rest[2:]) {
			return 0, false
		}
	default:
		if !validDecimalFloat(rest) {
			return 0, false
		}
	}
	if c := b[len(b)-1]; c == 'f' || c == 'F' || c == 'd' || c == 'D' {
		b = b[:len(b)-1]
	}
	var buf [64]byte
	s := append(buf[:0], b...)
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// validDecimalFloat checks digits with at most one point (at least one
// digit), an optional exponent with at least one digit, and an optional
// type suffix, all ASCII.
func validDecimalFloat(s []byte) bool {
	i, digits, point := 0, 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point:
			point = true
		default:
			goto mantissaDone
		}
	}
mantissaDone:
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		var ok bool
		if i, _, ok = exponentDigits(s, i+1); !ok {
			return false
		}
	}
	return i == len(s) || i == len(s)-1 && isTypeSuffix(s[i])
}

// exponentDigits reads an optional sign and at least one decimal digit of
// an exponent starting at s[i]. It returns the index past them and where
// the digits start.
func exponentDigits(s []byte, i int) (end, start int, ok bool) {
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start = i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i, start, i > start
}

// validHexFloat checks what follows "0x": hex digits with at most one point
// (at least one digit), p or P, an optional sign, decimal digits that fit a
// Java long, and an optional type suffix.
func validHexFloat(s []byte) bool {
	i, digits, point := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if isHex(c) {
			digits++
		} else if c == '.' && !point {
			point = true
		} else {
			break
		}
	}
	if digits == 0 || i == len(s) || s[i] != 'p' && s[i] != 'P' {
		return false
	}
	i, start, ok := exponentDigits(s, i+1)
	if !ok {
		return false
	}
	if _, err := strconv.ParseInt(string(s[start:i]), 10, 64); err != nil {
		return false // Java reads the exponent with Long.parseLong
	}
	return i == len(s) || i == len(s)-1 && isTypeSuffix(s[i])
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isTypeSuffix(c byte) bool { return c == 'f' || c == 'F' || c == 'd' || c == 'D' }
