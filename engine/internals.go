package engine

import (
	"github.com/wharfmq/wharf/engine/commitlog"
	"github.com/wharfmq/wharf/engine/dispatch"
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

// Dispatcher exposes the dispatcher (tests hold it between two rounds).
func (s *Store) Dispatcher() *dispatch.Dispatcher { return s.disp }
