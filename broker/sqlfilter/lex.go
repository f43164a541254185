package sqlfilter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// tokKind is a token of SelectorParser.jj.
type tokKind uint8

const (
	tEOF tokKind = iota
	tNot
	tAnd
	tOr
	tBetween
	tIn
	tTrue
	tFalse
	tNull
	tIs
	tContains
	tStartsWith
	tEndsWith
	tDecimal
	tFloat
	tString
	tID
	tEq
	tNe
	tGt
	tGe
	tLt
	tLe
	tLParen
	tComma
	tRParen
	tPlus
	tMinus
)

var tokNames = [...]string{
	tEOF: "end of expression", tNot: "NOT", tAnd: "AND", tOr: "OR", tBetween: "BETWEEN", tIn: "IN",
	tTrue: "TRUE", tFalse: "FALSE", tNull: "NULL", tIs: "IS", tContains: "CONTAINS",
	tStartsWith: "STARTSWITH", tEndsWith: "ENDSWITH", tDecimal: "integer", tFloat: "decimal number",
	tString: "string", tID: "property name", tEq: "'='", tNe: "'<>'", tGt: "'>'", tGe: "'>='",
	tLt: "'<'", tLe: "'<='", tLParen: "'('", tComma: "','", tRParen: "')'", tPlus: "'+'", tMinus: "'-'",
}

func (k tokKind) String() string { return tokNames[k] }

// keywords are matched case-insensitively; they win over an identifier of
// the same length, as JavaCC's earlier-declared token does.
var keywords = [...]struct {
	word string
	kind tokKind
}{
	{"NOT", tNot}, {"AND", tAnd}, {"OR", tOr}, {"BETWEEN", tBetween}, {"IN", tIn}, {"TRUE", tTrue},
	{"FALSE", tFalse}, {"NULL", tNull}, {"IS", tIs}, {"CONTAINS", tContains},
	{"STARTSWITH", tStartsWith}, {"ENDSWITH", tEndsWith},
}

type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // the source text of the token
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of expression"
	case tDecimal, tFloat, tString, tID:
		text := t.text
		if len(text) > 40 {
			text = text[:40] + "..."
		}
		return fmt.Sprintf("%s %s", t.kind, text)
	}
	return t.kind.String()
}

// lexer reads tokens on demand: like JavaCC's token manager it never looks
// past the token the parser asks for, so what follows a complete expression
// is only lexed as far as the parser peeks.
type lexer struct {
	src string
	pos int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIDStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIDPart(c byte) bool { return isIDStart(c) || isDigit(c) }

// skip passes over white space and comments.
func (l *lexer) skip() {
	s := l.src
	for l.pos < len(s) {
		switch {
		case isSpace(s[l.pos]):
			l.pos++
		case strings.HasPrefix(s[l.pos:], "--"):
			// LINE_COMMENT needs a line break; without one "--" is two minus signs.
			nl := strings.IndexAny(s[l.pos:], "\n\r")
			if nl < 0 {
				return
			}
			l.pos += nl + 1
			if s[l.pos-1] == '\r' && l.pos < len(s) && s[l.pos] == '\n' {
				l.pos++
			}
		case strings.HasPrefix(s[l.pos:], "/*"):
			end := strings.Index(s[l.pos+2:], "*/")
			if end < 0 {
				return // not a comment: "/" then fails to lex
			}
			l.pos += 2 + end + 2
		default:
			return
		}
	}
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	l.skip()
	s, start := l.src, l.pos
	if start >= len(s) {
		return token{kind: tEOF, pos: start}, nil
	}
	c := s[start]
	kind, n := tEOF, 0
	switch {
	case isIDStart(c):
		n = 1
		for start+n < len(s) && isIDPart(s[start+n]) {
			n++
		}
		kind = tID
		for _, k := range keywords {
			if strings.EqualFold(s[start:start+n], k.word) {
				kind = k.kind
				break
			}
		}
	case isDigit(c) || c == '.':
		kind, n = lexNumber(s[start:])
	case c == '\'':
		n = lexString(s[start:])
		kind = tString
	case c == '=':
		kind, n = tEq, 1
	case c == '<':
		kind, n = tLt, 1
		if start+1 < len(s) && s[start+1] == '>' {
			kind, n = tNe, 2
		} else if start+1 < len(s) && s[start+1] == '=' {
			kind, n = tLe, 2
		}
	case c == '>':
		kind, n = tGt, 1
		if start+1 < len(s) && s[start+1] == '=' {
			kind, n = tGe, 2
		}
	case c == '(':
		kind, n = tLParen, 1
	case c == ')':
		kind, n = tRParen, 1
	case c == ',':
		kind, n = tComma, 1
	case c == '+':
		kind, n = tPlus, 1
	case c == '-':
		kind, n = tMinus, 1
	}
	if n == 0 {
		if c == '\'' {
			return token{}, &Error{Pos: start, Msg: "unterminated string"}
		}
		r, _ := utf8.DecodeRuneInString(s[start:])
		return token{}, &Error{Pos: start, Msg: fmt.Sprintf("unexpected character %q", r)}
	}
	l.pos = start + n
	return token{kind: kind, pos: start, text: s[start : start+n]}, nil
}

// lexNumber picks the longer of DECIMAL_LITERAL and FLOATING_POINT_LITERAL at
// the start of s (0 if neither matches).
func lexNumber(s string) (tokKind, int) {
	digits := func(i int) int {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		return i
	}
	exponent := func(i int) int { // EXPONENT: [eE][+-]?[0-9]+, or nothing
		if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
			j := i + 1
			if j < len(s) && (s[j] == '+' || s[j] == '-') {
				j++
			}
			if k := digits(j); k > j {
				return k
			}
		}
		return i
	}
	dec := 0
	switch {
	case s[0] == '0':
		dec = 1
	case isDigit(s[0]):
		dec = digits(0)
		if dec < len(s) && (s[dec] == 'l' || s[dec] == 'L') {
			dec++
		}
	}
	flt := 0
	if isDigit(s[0]) {
		i := digits(0)
		if i < len(s) && s[i] == '.' {
			flt = exponent(digits(i + 1)) // 5.5, 5., 5.5E10
		} else if e := exponent(i); e > i {
			flt = e // 5E10
		}
	} else if i := digits(1); i > 1 { // .5, .5E10
		flt = exponent(i)
	}
	if flt > dec {
		return tFloat, flt
	}
	return tDecimal, dec
}

// lexString returns the length of the longest STRING_LITERAL at the start of
// s (quoted, a doubled quote standing for one), 0 if there is none.
func lexString(s string) int {
	best := 0
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		best = i + 1 // a closing quote here ends a literal
		if i+1 < len(s) && s[i+1] == '\'' {
			i++ // or it is an escaped quote and the literal goes on
			continue
		}
		break
	}
	return best
}

// unquote decodes a STRING_LITERAL's text.
func unquote(text string) string {
	return strings.ReplaceAll(text[1:len(text)-1], "''", "'")
}
