// Package sqlfilter compiles RocketMQ SQL92 message filter expressions (a
// consumer's MessageSelector of type SQL92) and evaluates them against a
// stored message's properties string (name \x01 value, pairs split by \x02).
//
// It follows RocketMQ's filter module (org.apache.rocketmq.filter, 4.9 and
// 5.x; itself derived from ActiveMQ's JMS selector): the SelectorParser.jj
// grammar and the generated parser, ComparisonExpression, LogicExpression,
// UnaryExpression, UnaryInExpression, ConstantExpression and the broker's
// ExpressionMessageFilter / MessageEvaluationContext. The rules below are
// what those classes do, quirks included, so that a selector matches the same
// messages on Wharf as on a RocketMQ broker.
//
// # Grammar
//
// Keywords (case-insensitive): NOT AND OR BETWEEN IN TRUE FALSE NULL IS, and
// the 5.x string operators CONTAINS STARTSWITH ENDSWITH. Identifiers are
// [A-Za-z_$][A-Za-z0-9_$]* and name properties, case-sensitively (system
// properties such as TAGS and KEYS included). Literals: 'strings' (a
// doubled quote is a quote), integers ("0" or [1-9][0-9]* with an optional
// L), decimals (1.5, 1., .5, 1e3, 1.5E-2). Comments: "--" to the end of the line (only when a
// line break follows) and "/* */". Precedence, loosest first:
//
//	OR
//	AND
//	=  <>  IS NULL  IS NOT NULL                        (left to right)
//	>  >=  <  <=  [NOT] BETWEEN x AND y  [NOT] IN ('a', ...)
//	[NOT] CONTAINS 's'  [NOT] STARTSWITH 's'  [NOT] ENDSWITH 's'
//	unary + - NOT
//
// NOT is a unary operator that binds tighter than comparisons, as in
// RocketMQ: "NOT a > 1" is "(NOT a) > 1", which does not compile; write
// "NOT (a > 1)". As in RocketMQ, whatever follows a complete expression is
// not read ("a = 1 b" compiles as "a = 1"), except that the next token must
// lex and must not start an operator ("a = 1 IS x" fails).
//
// Compile-time checks (errors, as RocketMQ's parser throws them): operands of
// > >= < <= and BETWEEN may not be string, boolean or NULL literals nor
// boolean expressions; = and <> may not have a NULL literal, and a TRUE/FALSE
// literal on the left may only be compared with another boolean literal; the
// left of IN must be a property; BETWEEN with two numeric literals needs low
// <= high; decimal literals must fit a Java long and floating literals must
// be finite and not below Double.MIN_VALUE (so 0.0 is rejected: write 0);
// AND, OR, NOT and the whole expression need a boolean operand, where a bare
// property counts as one (see below). Negation is not folded: "-5" is an
// expression, not a literal, so these literal checks skip it.
//
// # Values and comparisons
//
// Property values are strings; a property is missing (NULL) when absent or
// when its value is empty (MessageDecoder.string2messageProperties drops
// empty names and values; a repeated name keeps its last value). Literals are
// Integer (fits 32 bits), Long, Double, String, Boolean or NULL. When the two
// sides of a comparison differ in type, ComparisonExpression converts:
// numbers widen (Integer to Long to Double); a string meets a number by being
// parsed as that number's Java type (Integer.valueOf, Long.valueOf,
// Double.valueOf); a string meets a boolean through Boolean.valueOf. A string
// that does not parse is an evaluation error (below), not false: with a =
// "abc", "a > 5" and "a = 5" are errors, and with a = "7.5", "a > 5" is an
// error while "a > 5.0" is true. Two strings under > >= < <= are both parsed
// as Double (error if either fails); under = they compare as text. A boolean
// against a number is unequal (and never ordered); a TRUE/FALSE value on the
// left of = with a string on the right is an error (RocketMQ casts the
// boolean to String there).
//
// # NULL and three-valued logic
//
// Comparisons return TRUE, FALSE or NULL. > >= < <= give NULL if either side
// is NULL. = gives NULL if only its left side is NULL, FALSE if only its right
// side is, and TRUE if both are (so "a = b" holds when both are missing, and
// "'x' <> a" holds when a is missing while "a <> 'x'" does not). <> is NOT(=),
// IS NOT NULL is NOT(IS NULL). [NOT] IN gives NULL for a missing property.
// [NOT] CONTAINS/STARTSWITH/ENDSWITH give FALSE (not NULL) for a missing or
// non-string left side and for an empty search string, negated forms
// included. NOT NULL is NULL; AND and OR are SQL's three-valued ones,
// evaluated left to right with short circuit (FALSE AND x, TRUE OR x do not
// evaluate x). BETWEEN is (>= AND <=); NOT BETWEEN is (< OR >). A bare
// property used as a boolean is NULL when missing and FALSE otherwise (its
// value is a string, never a Boolean), so "NOT a" holds exactly when a is
// present.
//
// # Matching
//
// A message matches only if the expression evaluates to TRUE. FALSE, NULL and
// evaluation errors do not match; an error ends the whole evaluation, OR
// branches still to come included (ExpressionMessageFilter catches the
// exception and answers false).
//
// # Limits
//
// RocketMQ has none; Wharf bounds what one consumer can make the broker do
// per message: an expression is at most MaxLength bytes, nests at most
// MaxDepth levels (parentheses, unary operators and operator chains), builds
// at most MaxNodes nodes and names at most MaxProperties distinct
// properties. IN lists are sets (no node per element). Evaluation does not
// allocate; the properties string is read once per message, on the first
// property the evaluation needs.
//
// Strings are compared byte by byte, which equals Java's UTF-16 comparison
// for valid UTF-8. Numeric parsing follows Java: Integer/Long accept a sign
// and decimal digits of any script in the Basic Multilingual Plane;
// Double.valueOf accepts surrounding control characters and spaces, NaN,
// Infinity, hexadecimal floats and a trailing f/F/d/D.
package sqlfilter
