//go:build invariants

package invariants

import "fmt"

// Enabled is true in builds with the invariants tag.
const Enabled = true

// Check panics with the formatted message when ok is false.
func Check(ok bool, format string, args ...any) {
	if !ok {
		panic(fmt.Sprintf("invariant violated: "+format, args...))
	}
}

// Poison overwrites b so that a use after release shows as garbage.
func Poison(b []byte) {
	for i := range b {
		b[i] = 0xDB
	}
}
