package engine

import (
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/queue"
	"github.com/wharfmq/wharf/index"
)

// The parts of the store, for tools (inspect, compact) and tests only. The
// broker goes through the Store's own methods (types.go, logpos.go,
// meta.go, query.go, get.go, put.go): `make lint` fails if a package under
// broker/ imports engine/commitlog, engine/queue or index.

// CommitLog exposes the log.
func (s *Store) CommitLog() *commitlog.CommitLog { return s.cl }

// Meta exposes the Pebble-backed queues and metadata (configs, offsets).
func (s *Store) Meta() *queue.DB { return s.qdb }

// Index exposes the key index.
func (s *Store) Index() *index.Index { return s.idx }

// PauseDispatch holds the dispatcher between two rounds until resume is
// called, which returns once it runs again (tests: reads racing it).
func (s *Store) PauseDispatch() (resume func() error) {
	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.disp.Rewind(func() (int64, error) {
			close(held)
			<-release
			return -1, nil // move nothing
		})
	}()
	select {
	case <-held:
		return func() error { close(release); return <-done }
	case err := <-done: // closed: never held
		return func() error { return err }
	}
}
