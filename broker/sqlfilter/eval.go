package sqlfilter

import (
	"bytes"
	"cmp"
	"strconv"

	"github.com/wharfmq/wharf/engine/msg"
)

// kind is the Java type of a value.
type kind uint8

const (
	kNull   kind = iota
	kBool        // Boolean
	kInt         // Integer
	kLong        // Long
	kDouble      // Double
	kString      // String
)

// value is one evaluated operand. Strings point into the properties being
// matched, or into the compiled expression, so evaluating copies nothing.
type value struct {
	k kind
	b bool
	n int64
	f float64
	s []byte
}

var (
	vNull  = value{}
	vTrue  = value{k: kBool, b: true}
	vFalse = value{k: kBool}
)

func boolValue(b bool) value { return value{k: kBool, b: b} }

func (v value) isNumber() bool { return v.k == kInt || v.k == kLong || v.k == kDouble }

func (v value) describe() string {
	switch v.k {
	case kBool:
		if v.b {
			return "TRUE"
		}
		return "FALSE"
	case kInt, kLong:
		return strconv.FormatInt(v.n, 10)
	case kDouble:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case kString:
		return "string " + strconv.Quote(string(v.s))
	}
	return "NULL"
}

// Match reports whether a message with this properties string passes the
// filter: the expression evaluates to TRUE (not FALSE, NULL or an error).
func (x *Expr) Match(props []byte) bool {
	c := evalCtx{props: props}
	v, ok := x.eval(&c, x.root)
	return ok && v.k == kBool && v.b
}

// evalCtx holds one evaluation's property values.
type evalCtx struct {
	props    []byte
	resolved bool // vals hold the properties
	vals     [MaxProperties][]byte
}

func (x *Expr) prop(c *evalCtx, slot int32) value {
	if !c.resolved {
		x.resolve(c)
	}
	if v := c.vals[slot]; v != nil {
		return value{k: kString, s: v}
	}
	return vNull
}

// resolve reads the properties string once, as RocketMQ's
// MessageDecoder.string2messageProperties does, keeping the values of the
// names the expression uses: pairs with an empty name or value are skipped,
// a repeated name keeps its last value, and a value may hold \x01 (only
// the first one separates).
func (x *Expr) resolve(c *evalCtx) {
	c.resolved = true
	props := c.props
	for len(props) > 0 {
		pair := props
		if end := bytes.IndexByte(props, msg.PropertySep); end >= 0 {
			pair, props = props[:end], props[end+1:]
		} else {
			props = nil
		}
		sep := bytes.IndexByte(pair, msg.NameValueSep)
		if sep <= 0 || sep == len(pair)-1 || x.nameLens&(1<<min(sep, 63)) == 0 {
			continue
		}
		if slot := x.slotOf(pair[:sep]); slot >= 0 {
			c.vals[slot] = pair[sep+1:]
		}
	}
}

// slotOf returns the slot of a property name, -1 if the expression does not
// use it.
func (x *Expr) slotOf(name []byte) int32 {
	if x.slots != nil {
		if i, ok := x.slots[string(name)]; ok {
			return i
		}
		return -1
	}
	for i, n := range x.names {
		if string(name) == n {
			return int32(i)
		}
	}
	return -1
}

// eval evaluates node i. ok is false for an evaluation error (a Java
// exception), which fails the whole match.
func (x *Expr) eval(c *evalCtx, i int32) (v value, ok bool) {
	n := &x.nodes[i]
	switch n.op {
	case opConst:
		return n.val, true
	case opProp:
		return x.prop(c, n.slot), true
	case opNeg:
		if v, ok = x.eval(c, n.a); !ok {
			return v, false
		}
		switch v.k {
		case kInt:
			return value{k: kInt, n: int64(-int32(v.n))}, true
		case kLong:
			return value{k: kLong, n: -v.n}, true
		case kDouble:
			return value{k: kDouble, f: -v.f}, true
		}
		return vNull, true // strings and booleans negate to NULL
	case opNot:
		if v, ok = x.eval(c, n.a); !ok || v.k != kBool {
			return vNull, ok
		}
		return boolValue(!v.b), true
	case opCast:
		// A property's value is a String, never a Boolean: FALSE.
		if v, ok = x.eval(c, n.a); !ok || v.k == kNull {
			return vNull, ok
		}
		return boolValue(v.k == kBool && v.b), true
	case opAnd, opOr:
		stop := n.op == opOr // the value that decides: FALSE for AND, TRUE for OR
		sawNull := false
		for _, k := range n.kids {
			if v, ok = x.eval(c, k); !ok {
				return v, false
			}
			if v.k != kBool {
				sawNull = true
			} else if v.b == stop {
				return v, true
			}
		}
		if sawNull {
			return vNull, true
		}
		return boolValue(!stop), true
	case opEq:
		l, ok := x.eval(c, n.a)
		if !ok {
			return l, false
		}
		r, ok := x.eval(c, n.b)
		if !ok {
			return r, false
		}
		return equal(l, r)
	case opIsNull:
		if v, ok = x.eval(c, n.a); !ok {
			return v, false
		}
		return boolValue(v.k == kNull), true
	case opGt, opGe, opLt, opLe:
		return x.ordered(c, n)
	case opIn:
		if v, ok = x.eval(c, n.a); !ok || v.k != kString {
			return vNull, ok
		}
		var in bool
		if n.set != nil {
			_, in = n.set[string(v.s)]
		} else {
			for _, s := range n.list {
				if string(v.s) == s {
					in = true
					break
				}
			}
		}
		return boolValue(in != n.not), true
	case opContains, opStartsWith, opEndsWith:
		if len(n.search) == 0 {
			return vFalse, true // even NOT CONTAINS ''
		}
		if v, ok = x.eval(c, n.a); !ok {
			return v, false
		}
		if v.k != kString {
			return vFalse, true // NULL too, negated forms included
		}
		var r bool
		switch n.op {
		case opContains:
			r = bytes.Contains(v.s, n.search)
		case opStartsWith:
			r = bytes.HasPrefix(v.s, n.search)
		default:
			r = bytes.HasSuffix(v.s, n.search)
		}
		return boolValue(r != n.not), true
	}
	return vNull, false
}

// equal is ComparisonExpression's "=": NULL only when the left side alone
// is NULL, FALSE when the right side alone is, TRUE when both are.
func equal(l, r value) (value, bool) {
	if (l.k == kNull) != (r.k == kNull) {
		if l.k == kNull {
			return vNull, true
		}
		return vFalse, true
	}
	if l.k == kNull {
		return vTrue, true
	}
	c, ok := compare(l, r)
	if !ok {
		return vNull, false
	}
	return boolValue(c == 0), true
}

// ordered evaluates > >= < <=. Two strings are both read as Double;
// anything else goes through compare.
func (x *Expr) ordered(c *evalCtx, n *node) (value, bool) {
	l, ok := x.eval(c, n.a)
	if !ok || l.k == kNull {
		return vNull, ok
	}
	r, ok := x.eval(c, n.b)
	if !ok || r.k == kNull {
		return vNull, ok
	}
	var d int
	if l.k == kString && r.k == kString {
		lf, ok1 := parseJavaDouble(l.s)
		rf, ok2 := parseJavaDouble(r.s)
		if !ok1 || !ok2 {
			return vNull, false
		}
		d = javaDoubleCompare(lf, rf)
	} else if d, ok = compare(l, r); !ok {
		return vNull, false
	}
	switch n.op {
	case opGt:
		return boolValue(d > 0), true
	case opGe:
		return boolValue(d >= 0), true
	case opLt:
		return boolValue(d < 0), true
	}
	return boolValue(d <= 0), true
}

// compare is ComparisonExpression.__compare with string conversion on, for
// two non-NULL values: numbers widen, a string is parsed as the other
// side's type, mismatches that Java does not convert compare as -1. ok is
// false where Java throws.
func compare(l, r value) (int, bool) {
	if l.k != r.k {
		var ok bool
		switch l.k {
		case kBool:
			if r.k == kString {
				return 0, false // Java casts the Boolean to String
			}
			return -1, true
		case kInt, kLong:
			switch r.k {
			case kInt, kLong:
				l.k, r.k = kLong, kLong
			case kDouble:
				l = value{k: kDouble, f: float64(l.n)}
			case kString:
				if r.n, ok = parseJavaInt(r.s, l.k == kLong); !ok {
					return 0, false
				}
				r.k = l.k
			default:
				return -1, true
			}
		case kDouble:
			switch r.k {
			case kInt, kLong:
				r = value{k: kDouble, f: float64(r.n)}
			case kString:
				if r.f, ok = parseJavaDouble(r.s); !ok {
					return 0, false
				}
				r.k = kDouble
			default:
				return -1, true
			}
		case kString:
			switch r.k {
			case kBool:
				l = value{k: kBool, b: javaBool(l.s)}
			case kInt, kLong:
				if l.n, ok = parseJavaInt(l.s, r.k == kLong); !ok {
					return 0, false
				}
				l.k = r.k
			case kDouble:
				if l.f, ok = parseJavaDouble(l.s); !ok {
					return 0, false
				}
				l.k = kDouble
			default:
				return -1, true
			}
		default:
			return -1, true
		}
	}
	switch l.k {
	case kBool:
		switch {
		case l.b == r.b:
			return 0, true
		case l.b:
			return 1, true
		}
		return -1, true
	case kInt, kLong:
		return cmp.Compare(l.n, r.n), true
	case kDouble:
		return javaDoubleCompare(l.f, r.f), true
	case kString:
		return bytes.Compare(l.s, r.s), true
	}
	return 0, true
}
