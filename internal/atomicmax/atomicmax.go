// Package atomicmax raises an atomic integer to a value, never lowering
// it: a high-water mark that several goroutines advance in any order.
package atomicmax

import "sync/atomic"

// Raise sets v to n if n is greater, atomically; a concurrent greater
// value wins.
func Raise(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if n <= cur || v.CompareAndSwap(cur, n) {
			return
		}
	}
}
