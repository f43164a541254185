package engine

import (
	"github.com/wharfmq/wharf/engine/dispatch"
	"github.com/wharfmq/wharf/engine/queue"
)

type queueEntry = queue.Entry

// newDispatcherForTest restarts a store's dispatcher after a test stopped it.
func newDispatcherForTest(s *Store) (*dispatch.Dispatcher, error) {
	d, err := dispatch.New(dispatch.Options{Log: s.cl, Queues: s.qdb, Index: s.idx, Logger: s.log, OnDispatch: s.onDispatch})
	if err != nil {
		return nil, err
	}
	d.Start()
	return d, nil
}
