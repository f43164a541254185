package queue

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
)

// CorruptionError is a Pebble file of meta/ that failed a checksum or
// could not be decoded (a bad sector, a torn copy). It says which file on
// one line; errors.Is(err, pebble.ErrCorruption) holds. Consume queues are
// derived from the CommitLog, but the same files hold consumer offsets and
// configs: the store cannot tell what was lost, so it stops.
type CorruptionError struct {
	// Path is the damaged file ("" when Pebble did not say: then the
	// detail names it, as for a MANIFEST).
	Path string
	// Detail is Pebble's first error line (block, checksums).
	Detail string
	err    error
}

func (e *CorruptionError) Error() string {
	if e.Path == "" {
		return "queue: on-disk corruption: " + e.Detail
	}
	return fmt.Sprintf("queue: on-disk corruption in %s: %s", e.Path, e.Detail)
}

func (e *CorruptionError) Unwrap() error { return e.err }

// Is makes the standard errors.Is see Pebble's corruption mark, which only
// cockroachdb/errors' Is (pebble.IsCorruptionError) finds.
func (e *CorruptionError) Is(target error) bool { return target == pebble.ErrCorruption }

// corruption turns a Pebble error marked as corruption (with the file in a
// DataCorruptionInfo, or named in its text, as for a MANIFEST) into a
// CorruptionError; any other error is returned as is. Pebble's own error
// text spans lines (a hint and a detail carrier joined to it), and a
// client's remark or a start-up error must be one line.
func corruption(err error) error {
	if err == nil {
		return nil
	}
	var ce *CorruptionError
	if errors.As(err, &ce) {
		return err
	}
	info := pebble.ExtractDataCorruptionInfo(err)
	if info == nil {
		if pebble.IsCorruptionError(err) {
			return &CorruptionError{Detail: firstLine(err.Error()), err: err}
		}
		return err
	}
	detail := err.Error()
	if info.Details != nil {
		detail = info.Details.Error()
	}
	return &CorruptionError{Path: info.Path, Detail: firstLine(detail), err: err}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// eventListener makes Pebble report corruption as errors of the reads
// that meet it. Pebble's default DataCorruption listener calls
// Logger.Fatalf, which panics: start-up died with a 131-line stack, and a
// pull that read a bad block panicked its handler. After Open each
// corruption met is logged at Error, one line (at most one per
// pebbleErrorEvery); during Open (opening set) only at Debug, as Open
// returns it and start-up prints it as its one error line. A flush or
// compaction that meets it fails with a background error, logged on one
// line at Error.
func eventListener(p *pebbleLogger, opening *atomic.Bool) *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			detail := ""
			if info.Details != nil {
				detail = firstLine(info.Details.Error())
			}
			if opening.Load() {
				p.Infof("on-disk corruption in %s: %s", info.Path, detail)
				return
			}
			p.Errorf("on-disk corruption in %s: %s", info.Path, detail)
		},
		BackgroundError: func(err error) {
			p.Errorf("background error: %s", firstLine(corruption(err).Error()))
		},
	}
}

// pebbleFatal is the panic value of pebbleLogger.Fatalf: Pebble calls it on
// what it cannot continue from (a failed MANIFEST or WAL write), and
// expects it not to return.
type pebbleFatal struct{ msg string }

func (f *pebbleFatal) String() string { return f.msg }

// recoverFatal, deferred in Open, turns a Fatalf that Pebble called while
// opening into the error *err; that DB is abandoned, never used. Every
// other panic goes on.
func recoverFatal(dir string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	f, ok := r.(*pebbleFatal)
	if !ok {
		panic(r)
	}
	*err = fmt.Errorf("queue: open pebble at %s: fatal error: %s", dir, firstLine(f.msg))
}
