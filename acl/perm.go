package acl

import "strings"

// Perm is a RocketMQ permission bit set. The values are RocketMQ's.
type Perm uint8

// Permissions.
const (
	// Deny overrides every other bit.
	Deny Perm = 1
	// Any asks for PUB or SUB, whichever the account has.
	Any Perm = 1 << 1
	// Pub allows sending.
	Pub Perm = 1 << 2
	// Sub allows pulling, committing offsets and joining a group.
	Sub Perm = 1 << 3
)

// ParsePerm reads "PUB", "SUB", "PUB|SUB" (or "SUB|PUB") and "DENY";
// anything else, and the empty string, is Deny, as in RocketMQ.
func ParsePerm(s string) Perm {
	p, _ := LookupPerm(s)
	return p
}

// LookupPerm reads a permission word of plain_acl.yml as RocketMQ's
// Permission.parsePermFromString does (surrounding whitespace ignored,
// case kept), and reports whether s is one: "DENY", "PUB", "SUB",
// "PUB|SUB" or "SUB|PUB". For anything else it returns Deny, false.
func LookupPerm(s string) (Perm, bool) {
	switch strings.TrimSpace(s) {
	case "DENY":
		return Deny, true
	case "PUB":
		return Pub, true
	case "SUB":
		return Sub, true
	case "PUB|SUB", "SUB|PUB":
		return Pub | Sub, true
	}
	return Deny, false
}

// permWords lists what LookupPerm takes, for error messages.
const permWords = "DENY, PUB, SUB, PUB|SUB or SUB|PUB"

// String returns the name used in plain_acl.yml.
func (p Perm) String() string {
	switch {
	case p&Deny != 0:
		return "DENY"
	case p&(Pub|Sub) == Pub|Sub:
		return "PUB|SUB"
	case p&Pub != 0:
		return "PUB"
	case p&Sub != 0:
		return "SUB"
	case p&Any != 0:
		return "ANY"
	}
	return "NONE"
}

// Allows reports whether an account owning p may do what needed asks.
func (p Perm) Allows(needed Perm) bool {
	if p&Deny != 0 {
		return false
	}
	if needed&Any != 0 {
		return p&(Pub|Sub) != 0
	}
	return needed&p != 0
}
