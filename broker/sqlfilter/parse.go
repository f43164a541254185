package sqlfilter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits of one expression (see the package doc).
const (
	// MaxLength is the longest expression accepted, in bytes. Real
	// selectors are well under 1 KiB; 64 KiB leaves room for long IN
	// lists while bounding parse time and memory.
	MaxLength = 64 << 10
	// MaxDepth bounds nesting: parentheses, unary operators and chains of
	// = / IS NULL (AND and OR chains are flattened and do not count).
	// It keeps the parser's and the evaluator's recursion shallow.
	MaxDepth = 100
	// MaxNodes bounds the work of one evaluation: about 20 µs per
	// message at the limit (BenchmarkMatchWorst), where real selectors
	// take well under 1 µs.
	MaxNodes = 1024
	// MaxProperties bounds the distinct property names, each looked up at
	// most once per message.
	MaxProperties = 64
)

// Error is a compile error: where in the expression, and what was wrong.
type Error struct {
	Pos int // byte offset in the expression
	Msg string
}

func (e *Error) Error() string {
	return fmt.Sprintf("sqlfilter: at column %d: %s", e.Pos+1, e.Msg)
}

// Expr is a compiled filter expression. It is immutable and safe for
// concurrent use.
type Expr struct {
	src   string
	nodes []node
	root  int32
	names []string // distinct property names; node.slot indexes them
	// nameLens has bit min(len, 63) set for each name's length, a cheap
	// first test of a property's name; slots maps names to slots when
	// there are too many to compare one by one.
	nameLens uint64
	slots    map[string]int32
}

// slotMapMin is how many names make a map faster than comparing each.
const slotMapMin = 5

// String returns the source expression.
func (x *Expr) String() string { return x.src }

type op uint8

const (
	opConst op = iota
	opProp
	opNeg
	opNot
	opCast // a property used as a boolean
	opAnd
	opOr
	opEq
	opIsNull
	opGt
	opGe
	opLt
	opLe
	opIn
	opContains
	opStartsWith
	opEndsWith
)

// node is one expression node. Children are indexes into Expr.nodes.
type node struct {
	op     op
	not    bool // NOT IN, NOT CONTAINS, ...
	depth  uint8
	a, b   int32
	slot   int32   // opProp: index into Expr.names
	kids   []int32 // opAnd, opOr
	val    value   // opConst
	list   []string
	set    map[string]struct{} // opIn with many elements
	search []byte              // string operators
	pos    int                 // where it starts in the source, for errors
}

// isBoolean says whether Java would see a BooleanExpression: every
// comparison and logical node, and the TRUE, FALSE and NULL literals.
func (n *node) isBoolean() bool {
	switch n.op {
	case opConst:
		return n.val.k == kBool || n.val.k == kNull
	case opProp, opNeg:
		return false
	}
	return true
}

// Compile parses a SQL92 filter expression.
func Compile(src string) (*Expr, error) {
	if len(src) > MaxLength {
		return nil, &Error{Pos: MaxLength, Msg: fmt.Sprintf("expression longer than %d bytes", MaxLength)}
	}
	p := &parser{lx: lexer{src: src}, x: &Expr{src: src}}
	p.x.root = p.boolean(p.orExpr())
	if p.err != nil {
		return nil, p.err
	}
	for i, n := range p.x.names {
		p.x.nameLens |= 1 << min(len(n), 63)
		if len(p.x.names) >= slotMapMin {
			if p.x.slots == nil {
				p.x.slots = make(map[string]int32, len(p.x.names))
			}
			p.x.slots[n] = int32(i)
		}
	}
	return p.x, nil
}

// parser is a recursive-descent rendering of SelectorParser.jj with the
// same one- and two-token lookahead. The first error sticks; every method
// returns -1 once it is set.
type parser struct {
	lx    lexer
	ahead [2]token
	n     int // tokens in ahead
	x     *Expr
	err   error
	depth int
}

func (p *parser) fail(pos int, format string, args ...any) int32 {
	if p.err == nil {
		p.err = &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	return -1
}

// peek returns the k-th token ahead (0 or 1), lexing it if needed.
func (p *parser) peek(k int) token {
	for p.n <= k && p.err == nil {
		t, err := p.lx.next()
		if err != nil {
			p.err = err
			break
		}
		p.ahead[p.n] = t
		p.n++
	}
	if p.err != nil {
		return token{kind: tEOF, pos: p.lx.pos}
	}
	return p.ahead[k]
}

func (p *parser) take() token {
	t := p.peek(0)
	if p.err == nil {
		p.ahead[0] = p.ahead[1]
		p.n--
	}
	return t
}

// expect consumes a token of kind k.
func (p *parser) expect(k tokKind) (token, bool) {
	t := p.peek(0)
	if p.err != nil {
		return t, false
	}
	if t.kind != k {
		p.fail(t.pos, "expected %s, found %s", k, t.describe())
		return t, false
	}
	return p.take(), true
}

func (p *parser) add(n node) int32 {
	if p.err != nil {
		return -1
	}
	if len(p.x.nodes) >= MaxNodes {
		return p.fail(n.pos, "expression has more than %d nodes", MaxNodes)
	}
	// Every caller sets a and b, -1 when absent.
	for _, c := range [2]int32{n.a, n.b} {
		if c >= 0 {
			n.depth = max(n.depth, p.x.nodes[c].depth+1)
		}
	}
	if int(n.depth) > MaxDepth {
		return p.fail(n.pos, "expression nested more than %d levels deep", MaxDepth)
	}
	p.x.nodes = append(p.x.nodes, n)
	return int32(len(p.x.nodes) - 1)
}

func (p *parser) node(i int32) *node { return &p.x.nodes[i] }

// boolean is asBooleanExpression: boolean nodes pass, a property becomes a
// boolean cast, anything else is an error.
func (p *parser) boolean(i int32) int32 {
	if p.err != nil {
		return -1
	}
	n := p.node(i)
	switch {
	case n.isBoolean():
		return i
	case n.op == opProp:
		return p.add(node{op: opCast, a: i, b: -1, pos: n.pos})
	}
	return p.fail(n.pos, "expression will not result in a boolean value")
}

// logic parses a chain of AND (or OR) and flattens it into one node.
func (p *parser) logic(o op, kw tokKind, operand func() int32) int32 {
	left := operand()
	for p.err == nil && p.peek(0).kind == kw {
		p.take()
		right := p.boolean(operand())
		if p.err != nil {
			return -1
		}
		if p.node(left).op == o {
			n := p.node(left)
			n.kids = append(n.kids, right)
			n.depth = max(n.depth, p.node(right).depth+1)
			if int(n.depth) > MaxDepth {
				return p.fail(n.pos, "expression nested more than %d levels deep", MaxDepth)
			}
			continue
		}
		l := p.boolean(left)
		if p.err != nil {
			return -1
		}
		d := max(p.node(l).depth, p.node(right).depth) + 1
		left = p.add(node{op: o, a: -1, b: -1, kids: []int32{l, right}, depth: d, pos: p.node(l).pos})
	}
	return left
}

func (p *parser) orExpr() int32 { return p.logic(opOr, tOr, p.andExpr) }

func (p *parser) andExpr() int32 { return p.logic(opAnd, tAnd, p.equalityExpr) }

func (p *parser) equalityExpr() int32 {
	left := p.comparisonExpr()
	for p.err == nil {
		t := p.peek(0)
		switch t.kind {
		case tEq, tNe:
			p.take()
			right := p.comparisonExpr()
			if p.err != nil {
				return -1
			}
			left = p.equal(left, right, t.pos)
			if t.kind == tNe {
				left = p.add(node{op: opNot, a: left, b: -1, pos: t.pos})
			}
		case tIs:
			p.take()
			not := p.peek(0).kind == tNot
			if not {
				p.take()
			}
			if _, ok := p.expect(tNull); !ok {
				return -1
			}
			left = p.add(node{op: opIsNull, a: left, b: -1, pos: p.node(left).pos})
			if not {
				left = p.add(node{op: opNot, a: left, b: -1, pos: t.pos})
			}
		default:
			return left
		}
	}
	return -1
}

// equal is ComparisonExpression.createEqual with its operand checks.
func (p *parser) equal(l, r int32, pos int) int32 {
	ln, rn := p.node(l), p.node(r)
	for _, n := range [2]*node{ln, rn} {
		if n.op == opConst && n.val.k == kNull {
			return p.fail(n.pos, "NULL cannot be compared with '=' or '<>' (use IS NULL)")
		}
	}
	if ln.op == opConst && rn.op == opConst && ln.isBoolean() && !rn.isBoolean() {
		return p.fail(pos, "a boolean literal cannot be compared with %s", rn.val.describe())
	}
	return p.add(node{op: opEq, a: l, b: r, pos: ln.pos})
}

// ordered is createGreaterThan etc. with checkLessThanOperand: only numbers,
// properties and negations can be ordered.
func (p *parser) ordered(o op, l, r int32, pos int) int32 {
	for _, i := range [2]int32{l, r} {
		n := p.node(i)
		if n.op == opConst && !n.val.isNumber() {
			return p.fail(n.pos, "%s cannot be compared with %s", n.val.describe(), opSymbol[o])
		}
		if n.isBoolean() {
			return p.fail(n.pos, "a boolean expression cannot be compared with %s", opSymbol[o])
		}
	}
	return p.add(node{op: o, a: l, b: r, pos: p.node(l).pos})
}

var opSymbol = map[op]string{opGt: "'>'", opGe: "'>='", opLt: "'<'", opLe: "'<='"}

// tokOps maps operator tokens of comparisonExpr to their nodes.
var tokOps = map[tokKind]op{tGt: opGt, tGe: opGe, tLt: opLt, tLe: opLe,
	tContains: opContains, tStartsWith: opStartsWith, tEndsWith: opEndsWith}

func (p *parser) comparisonExpr() int32 {
	left := p.unaryExpr()
	for p.err == nil {
		t := p.peek(0)
		not := false
		if t.kind == tNot {
			// LOOKAHEAD(2): NOT only continues with these operators.
			switch p.peek(1).kind {
			case tContains, tStartsWith, tEndsWith, tBetween, tIn:
			default:
				if p.err != nil {
					return -1
				}
				return p.fail(t.pos, "expected CONTAINS, STARTSWITH, ENDSWITH, BETWEEN or IN after NOT, found %s", p.peek(1).describe())
			}
			p.take()
			not = true
			t = p.peek(0)
		}
		switch t.kind {
		case tGt, tGe, tLt, tLe:
			p.take()
			right := p.unaryExpr()
			if p.err != nil {
				return -1
			}
			left = p.ordered(tokOps[t.kind], left, right, t.pos)
		case tContains, tStartsWith, tEndsWith:
			p.take()
			s, ok := p.expect(tString)
			if !ok {
				return -1
			}
			left = p.add(node{op: tokOps[t.kind], not: not, a: left, b: -1, search: []byte(unquote(s.text)), pos: p.node(left).pos})
		case tBetween:
			p.take()
			low := p.unaryExpr()
			if _, ok := p.expect(tAnd); !ok {
				return -1
			}
			high := p.unaryExpr()
			if p.err != nil {
				return -1
			}
			left = p.between(left, low, high, not, t.pos)
		case tIn:
			p.take()
			left = p.in(left, not, t.pos)
		default:
			return left
		}
	}
	return -1
}

// between is createBetween (>= AND <=) and createNotBetween (< OR >).
func (p *parser) between(v, low, high int32, not bool, pos int) int32 {
	if !not {
		ln, hn := p.node(low), p.node(high)
		if ln.op == opConst && hn.op == opConst {
			if ln.val.k == kNull || hn.val.k == kNull {
				return p.fail(pos, "BETWEEN bounds cannot be NULL")
			}
			// Java compares high with low and refuses high < low.
			c, ok := compare(hn.val, ln.val)
			if !ok {
				return p.fail(pos, "BETWEEN bounds %s and %s cannot be compared", ln.val.describe(), hn.val.describe())
			}
			if c < 0 {
				return p.fail(pos, "BETWEEN lower bound %s is greater than upper bound %s", ln.val.describe(), hn.val.describe())
			}
		}
	}
	o1, o2, lo := opGe, opLe, opAnd
	if not {
		o1, o2, lo = opLt, opGt, opOr
	}
	a := p.ordered(o1, v, low, pos)
	b := p.ordered(o2, v, high, pos)
	if p.err != nil {
		return -1
	}
	d := max(p.node(a).depth, p.node(b).depth) + 1
	return p.add(node{op: lo, a: -1, b: -1, kids: []int32{a, b}, depth: d, pos: p.node(v).pos})
}

// setThreshold is where IN switches from a list to a set (Java: 5).
const setThreshold = 5

func (p *parser) in(left int32, not bool, pos int) int32 {
	if _, ok := p.expect(tLParen); !ok {
		return -1
	}
	var list []string
	for {
		s, ok := p.expect(tString)
		if !ok {
			return -1
		}
		list = append(list, unquote(s.text))
		if p.peek(0).kind != tComma {
			break
		}
		p.take()
	}
	if _, ok := p.expect(tRParen); !ok {
		return -1
	}
	if p.node(left).op != opProp {
		return p.fail(pos, "the left side of IN must be a property")
	}
	n := node{op: opIn, not: not, a: left, b: -1, pos: p.node(left).pos}
	if len(list) < setThreshold {
		n.list = list
	} else {
		n.set = make(map[string]struct{}, len(list))
		for _, s := range list {
			n.set[s] = struct{}{}
		}
	}
	return p.add(n)
}

func (p *parser) unaryExpr() int32 {
	p.depth++
	defer func() { p.depth-- }()
	t := p.peek(0)
	if p.err != nil {
		return -1
	}
	if p.depth > MaxDepth {
		return p.fail(t.pos, "expression nested more than %d levels deep", MaxDepth)
	}
	switch t.kind {
	case tPlus:
		p.take()
		return p.unaryExpr()
	case tMinus:
		p.take()
		c := p.unaryExpr()
		return p.add(node{op: opNeg, a: c, b: -1, pos: t.pos})
	case tNot:
		p.take()
		c := p.boolean(p.unaryExpr())
		return p.add(node{op: opNot, a: c, b: -1, pos: t.pos})
	}
	return p.primaryExpr()
}

func (p *parser) primaryExpr() int32 {
	t := p.take()
	if p.err != nil {
		return -1
	}
	switch t.kind {
	case tLParen:
		e := p.orExpr()
		if _, ok := p.expect(tRParen); !ok {
			return -1
		}
		return e
	case tID:
		return p.add(node{op: opProp, slot: p.slot(t), a: -1, b: -1, pos: t.pos})
	case tString:
		s := unquote(t.text)
		return p.add(node{op: opConst, val: value{k: kString, s: []byte(s)}, a: -1, b: -1, pos: t.pos})
	case tTrue, tFalse:
		return p.add(node{op: opConst, val: value{k: kBool, b: t.kind == tTrue}, a: -1, b: -1, pos: t.pos})
	case tNull:
		return p.add(node{op: opConst, val: value{k: kNull}, a: -1, b: -1, pos: t.pos})
	case tDecimal:
		v, err := decimalLiteral(t.text)
		if err != nil {
			return p.fail(t.pos, "%v", err)
		}
		return p.add(node{op: opConst, val: v, a: -1, b: -1, pos: t.pos})
	case tFloat:
		v, err := floatLiteral(t.text)
		if err != nil {
			return p.fail(t.pos, "%v", err)
		}
		return p.add(node{op: opConst, val: v, a: -1, b: -1, pos: t.pos})
	}
	return p.fail(t.pos, "expected a property, a literal, '(', NOT, '+' or '-', found %s", t.describe())
}

func (p *parser) slot(t token) int32 {
	for i, n := range p.x.names {
		if n == t.text {
			return int32(i)
		}
	}
	if len(p.x.names) >= MaxProperties {
		return p.fail(t.pos, "expression names more than %d properties", MaxProperties)
	}
	p.x.names = append(p.x.names, t.text)
	return int32(len(p.x.names) - 1)
}

// decimalLiteral is ConstantExpression.createFromDecimal: a Java long,
// narrowed to Integer when it fits.
func decimalLiteral(text string) (value, error) {
	text = strings.TrimRight(text, "lL")
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return value{}, fmt.Errorf("integer %s does not fit a 64-bit long", text)
	}
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		return value{k: kInt, n: n}, nil
	}
	return value{k: kLong, n: n}, nil
}

// floatLiteral is ConstantExpression.createFloat, which refuses infinities
// and anything below Double.MIN_VALUE, zero included.
func floatLiteral(text string) (value, error) {
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return value{}, fmt.Errorf("bad number %s", text)
	}
	if math.IsInf(f, 1) {
		return value{}, fmt.Errorf("%s is greater than the largest double", text)
	}
	if f < math.SmallestNonzeroFloat64 {
		return value{}, fmt.Errorf("%s is less than the smallest positive double (write 0 for zero)", text)
	}
	return value{k: kDouble, f: f}, nil
}
