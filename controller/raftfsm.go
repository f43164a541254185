package controller

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/wharfmq/wharf/controller/fsm"
)

// raftFSM is the Raft state machine: fsm.State behind a lock. Raft applies
// entries from one goroutine; handlers read under the read lock.
type raftFSM struct {
	log *slog.Logger
	// onApply, if set, runs after an event changed the state, outside the
	// lock, on the Raft apply goroutine.
	onApply func(fsm.Event)

	mu    sync.RWMutex
	state *fsm.State // guarded by mu
}

func newRaftFSM(log *slog.Logger) *raftFSM {
	return &raftFSM{log: log, state: fsm.New()}
}

// read runs fn with the state under the read lock; fn must not keep it.
func (f *raftFSM) read(fn func(s *fsm.State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Apply implements raft.FSM. A log entry that does not decode is skipped
// with an error log on every node alike, so states stay equal.
func (f *raftFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	ev, err := fsm.DecodeEvent(l.Data)
	if err != nil {
		f.log.Error("controller: raft entry skipped", "index", l.Index, "err", err)
		return err
	}
	f.mu.Lock()
	changed := f.state.Apply(ev)
	f.mu.Unlock()
	if changed && f.onApply != nil {
		f.onApply(ev)
	}
	return changed
}

// Snapshot implements raft.FSM.
func (f *raftFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return snapshot(f.state.Snapshot()), nil
}

// Restore implements raft.FSM.
func (f *raftFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("controller: read snapshot: %w", err)
	}
	s, err := fsm.Restore(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = s
	f.mu.Unlock()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() {}

// hclogger routes the Raft library's hclog output into slog at warn and
// above, with component=raft.
func hclogger(log *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Warn,
		Output:      slogWriter{log.With("component", "raft")},
		DisableTime: true,
	})
}

type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	if strings.Contains(line, "[ERROR]") {
		w.log.Error(line)
	} else {
		w.log.Warn(line)
	}
	return len(p), nil
}
