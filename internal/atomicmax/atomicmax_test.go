package atomicmax

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Concurrent raises in any order leave the greatest value; a smaller one
// never lowers it.
func TestRaise(t *testing.T) {
	var v atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				Raise(&v, int64(i*8+g))
			}
		}()
	}
	wg.Wait()
	if got := v.Load(); got != 999*8+7 {
		t.Fatalf("after concurrent raises: %d, want %d", got, 999*8+7)
	}
	Raise(&v, 3)
	if got := v.Load(); got != 999*8+7 {
		t.Fatalf("a smaller value lowered it to %d", got)
	}
}
