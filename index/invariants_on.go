//go:build invariants

package index

// invariants turns on expensive self-checks (every hash chain after each
// truncation and recovery). Built with -tags invariants.
const invariants = true
