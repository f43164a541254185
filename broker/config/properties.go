package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// propSpace is the whitespace of the properties format (Java's LineReader).
const propSpace = " \t\f"

// readProperties calls fn with each key and value of a Java properties
// file, as java.util.Properties.load reads it: '#' and '!' comment lines,
// blank lines, a line ending in an odd number of '\' continued on the next
// (whose leading whitespace is dropped), the key ending at the first
// unescaped '=', ':' or whitespace, and the escapes \t \n \r \f \uXXXX and
// '\' before any other character standing for that character, in keys and
// values. Unlike Java, trailing unescaped whitespace of a value is dropped.
// lineNo is the line the key and value ended on.
func readProperties(r io.Reader, fn func(lineNo int, key, value string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	var logical strings.Builder
	lineNo, continued := 0, false
	emit := func() error {
		line := logical.String()
		logical.Reset()
		key, value, err := splitProperty(line)
		if err != nil {
			return fmt.Errorf("line %d: %v", lineNo, err)
		}
		return fn(lineNo, key, value)
	}
	for sc.Scan() {
		lineNo++
		text := strings.TrimLeft(sc.Text(), propSpace)
		if !continued && (text == "" || text[0] == '#' || text[0] == '!') {
			continue
		}
		if continued = endsInEscape(text); continued {
			logical.WriteString(text[:len(text)-1])
			continue
		}
		logical.WriteString(text)
		if err := emit(); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if continued {
		// The file ends in a continued line: Java takes what there is.
		return emit()
	}
	return nil
}

// endsInEscape reports whether s ends in an odd number of '\': the last one
// escapes the line break.
func endsInEscape(s string) bool {
	n := len(s) - len(strings.TrimRight(s, `\`))
	return n%2 == 1
}

// splitProperty splits a logical line at the first unescaped '=', ':' or
// whitespace (and the whitespace and one '=' or ':' after it), and
// unescapes both parts.
func splitProperty(line string) (key, value string, err error) {
	i := 0
	for i < len(line) && !strings.ContainsRune("=:"+propSpace, rune(line[i])) {
		if line[i] == '\\' {
			i++
		}
		i++
	}
	i = min(i, len(line))
	rest := strings.TrimLeft(line[i:], propSpace)
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], propSpace)
	}
	if key, err = unescape(line[:i]); err != nil {
		return "", "", err
	}
	if value, err = unescape(trimUnescapedRight(rest)); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// trimUnescapedRight drops trailing whitespace that no '\' escapes.
func trimUnescapedRight(s string) string {
	for s != "" && strings.ContainsRune(propSpace, rune(s[len(s)-1])) && !endsInEscape(s[:len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

var errMalformedU = errors.New(`malformed \uXXXX escape`)

// unescape decodes the escapes of the properties format.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			// A lone '\' at the very end (only at the end of a file) is
			// dropped, as Java does.
			if c != '\\' {
				b.WriteByte(c)
			}
			continue
		}
		i++
		switch c = s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, err := hex4(s, i+1)
			if err != nil {
				return "", err
			}
			i += 4
			// Java strings are UTF-16: a surrogate pair is two escapes.
			if utf16.IsSurrogate(r) && i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, err := hex4(s, i+3); err == nil {
					if pair := utf16.DecodeRune(r, lo); pair != utf8.RuneError {
						r = pair
						i += 6
					}
				}
			}
			b.WriteRune(r)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// hex4 decodes the four hex digits of a \uXXXX escape at s[i:].
func hex4(s string, i int) (rune, error) {
	if i+4 > len(s) {
		return 0, errMalformedU
	}
	n, err := strconv.ParseUint(s[i:i+4], 16, 16)
	if err != nil {
		return 0, errMalformedU
	}
	return rune(n), nil
}
