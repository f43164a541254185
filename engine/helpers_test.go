package engine

import (
	"bytes"
	"sync"

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

// syncBuffer is a log sink that tests read while the store writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
