//go:build !invariants

package invariants

// Enabled is true in builds with the invariants tag.
const Enabled = false

// Check panics with the formatted message when ok is false (invariants
// builds only; here it does nothing and costs nothing).
func Check(bool, string, ...any) {}

// Poison overwrites b in invariants builds only.
func Poison([]byte) {}
