package remoting

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON scanner under DecodeJSONHeader: just enough of RFC 8259 to read
// one flat object and skip whatever unknown keys hold. Every method stops
// at the end of input with an error; nothing indexes past len(p.b).

// maxJSONDepth bounds nesting inside skipped unknown values.
const maxJSONDepth = 64

// jsonParser reads b from position i.
type jsonParser struct {
	b []byte
	i int
}

type jsonSyntaxError string

func (e jsonSyntaxError) Error() string { return string(e) }

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the current byte, or 0 at the end.
func (p *jsonParser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// next consumes and returns the current byte, or 0 at the end.
func (p *jsonParser) next() byte {
	c := p.peek()
	if p.i < len(p.b) {
		p.i++
	}
	return c
}

func (p *jsonParser) consume(want byte) error {
	p.ws()
	if p.next() != want {
		return jsonSyntaxError("expected " + strconv.QuoteRune(rune(want)))
	}
	return nil
}

func (p *jsonParser) end() error {
	p.ws()
	if p.i != len(p.b) {
		return jsonSyntaxError("trailing data after header object")
	}
	return nil
}

// literal consumes lit if it is next.
func (p *jsonParser) literal(lit string) bool {
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// intOrNull parses an integer that must fit in bits; null reads as 0.
func (p *jsonParser) intOrNull(bits uint) (int64, error) {
	if p.literal("null") {
		return 0, nil
	}
	neg := p.peek() == '-'
	if neg {
		p.i++
	}
	limit := uint64(1)<<(bits-1) - 1
	if neg {
		limit++
	}
	var v uint64
	digits := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		v = v*10 + uint64(p.b[p.i]-'0')
		if v > limit {
			return 0, jsonSyntaxError(fmt.Sprintf("integer out of int%d range", bits))
		}
		p.i++
		digits++
	}
	if digits == 0 {
		return 0, jsonSyntaxError("expected an integer")
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, jsonSyntaxError("expected an integer, got a fraction")
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// number skips a JSON number.
func (p *jsonParser) number() error {
	if p.peek() == '-' {
		p.i++
	}
	if !p.digits() {
		return jsonSyntaxError("bad number")
	}
	if p.peek() == '.' {
		p.i++
		if !p.digits() {
			return jsonSyntaxError("bad number fraction")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		if !p.digits() {
			return jsonSyntaxError("bad number exponent")
		}
	}
	return nil
}

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

func (p *jsonParser) strOrNull() (string, error) {
	if p.literal("null") {
		return "", nil
	}
	return p.str()
}

// str parses a JSON string.
func (p *jsonParser) str() (string, error) {
	b, err := p.strBytes()
	return string(b), err
}

// strBytes parses a JSON string. Without escapes or invalid UTF-8 the
// result aliases the input; callers copy it (string conversion, intern).
func (p *jsonParser) strBytes() ([]byte, error) {
	p.ws()
	if p.next() != '"' {
		return nil, jsonSyntaxError("expected a string")
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if ascii || utf8.Valid(s) {
				return s, nil
			}
			return p.unescape(s), nil
		case c == '\\':
			return p.strSlow(start)
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, jsonSyntaxError("unterminated string")
}

// strSlow finds the end of a string that contains escapes and decodes it.
func (p *jsonParser) strSlow(start int) ([]byte, error) {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			s := p.b[start:p.i]
			p.i++
			out := p.unescape(s)
			if out == nil {
				return nil, jsonSyntaxError("bad escape in string")
			}
			return out, nil
		}
		p.i++
	}
	return nil, jsonSyntaxError("unterminated string")
}

// unescape decodes the body of a JSON string; nil means a bad escape.
// Lone surrogates and invalid UTF-8 become U+FFFD.
func (p *jsonParser) unescape(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				out = append(out, c)
				i++
				continue
			}
			r, size := utf8.DecodeRune(s[i:])
			out = utf8.AppendRune(out, r) // RuneError for invalid bytes
			i += size
			continue
		}
		if i+1 >= len(s) {
			return nil
		}
		e := s[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i:])
			if !ok {
				return nil
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(0), false
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2, ok2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return nil
		}
	}
	return out
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// skip consumes any JSON value (used for unknown keys).
func (p *jsonParser) skip(depth int) error {
	if depth > maxJSONDepth {
		return jsonSyntaxError("nesting too deep")
	}
	p.ws()
	switch c := p.peek(); {
	case c == '"':
		_, err := p.str()
		return err
	case c == '{' || c == '[':
		p.i++
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.ws()
		if p.peek() == closer {
			p.i++
			return nil
		}
		for {
			if c == '{' {
				if _, err := p.str(); err != nil {
					return err
				}
				if err := p.consume(':'); err != nil {
					return err
				}
			}
			if err := p.skip(depth + 1); err != nil {
				return err
			}
			p.ws()
			switch p.next() {
			case ',':
			case closer:
				return nil
			default:
				return jsonSyntaxError("expected , or " + string(closer))
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.literal("true"), p.literal("false"), p.literal("null"):
		return nil
	}
	return jsonSyntaxError("expected a value")
}
