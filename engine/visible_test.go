package engine

import (
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
)

// TestAwaitVisible: a read that finds nothing while the dispatcher is
// behind waits for it to reach what was readable, and then finds the
// message; with the dispatcher caught up it does not wait at all.
func TestAwaitVisible(t *testing.T) {
	for _, mode := range []commitlog.FlushMode{commitlog.SyncFlush, commitlog.AsyncFlush} {
		t.Run(mode.String(), func(t *testing.T) {
			s := openStore(t, testOptions(vfs.NewMem(), mode))
			defer s.Close()
			if _, err := s.Put(newMsg("T", 0, 0, "")); err != nil {
				t.Fatal(err)
			}
			if err := s.WaitDispatched(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			if s.AwaitVisible(time.Second) {
				t.Fatal("waited with the dispatcher caught up")
			}

			resume := s.PauseDispatch()
			if _, err := s.Put(newMsg("T", 0, 1, "")); err != nil {
				t.Fatal(err)
			}
			if res, err := s.Get("T", 0, 1, 1, nil, nil); err != nil || res.Status == Found {
				t.Fatalf("found the message with the dispatcher held: %+v %v", res, err)
			}
			resumed := make(chan error, 1)
			time.AfterFunc(50*time.Millisecond, func() { resumed <- resume() })
			start := time.Now()
			if !s.AwaitVisible(5 * time.Second) {
				t.Fatal("did not wait with the dispatcher behind")
			}
			if waited := time.Since(start); waited < 40*time.Millisecond {
				t.Fatalf("returned after %v, before the dispatcher was released", waited)
			}
			if res, err := s.Get("T", 0, 1, 1, nil, nil); err != nil || res.Status != Found || res.Count != 1 {
				t.Fatalf("after the wait: %+v %v", res, err)
			}
			if err := <-resumed; err != nil {
				t.Fatal(err)
			}
		})
	}
}
