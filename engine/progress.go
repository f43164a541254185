package engine

import (
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/wharfmq/wharf/engine/commitlog"
)

// Progress tells how far a long offline job (Check, Rebuild) got, so that
// a tool can draw a progress bar. The job stores into it as it goes, with
// atomic counters only (no allocation, no lock); any goroutine may read it.
type Progress struct {
	// From and To bound the CommitLog span the job covers; To is 0 until
	// the job knows it.
	From, To atomic.Int64
	// At is the CommitLog offset the job has reached.
	At atomic.Int64
	// Records counts the records done so far.
	Records atomic.Int64
}

// Bytes is how much of the span is done and how large it is (total 0:
// not known yet).
func (p *Progress) Bytes() (done, total int64) {
	from, to, at := p.From.Load(), p.To.Load(), p.At.Load()
	if to > from {
		total = to - from
	}
	if at > from {
		done = at - from
	}
	return done, total
}

// setSpan sets p's span to the segment files in dir: from the first
// segment's base to the end of the last one (the scan ends inside it, so
// the total is an upper bound). A directory that cannot be listed leaves
// the total unknown; the scan reports the error.
func setSpan(fs vfs.FS, dir string, segSize int64, p *Progress) {
	names, err := fs.List(dir)
	if err != nil {
		return
	}
	first, last := int64(-1), int64(-1)
	for _, n := range names {
		base, ok := commitlog.ParseSegmentName(n)
		if !ok {
			continue
		}
		if first < 0 || base < first {
			first = base
		}
		last = max(last, base)
	}
	if first < 0 {
		return
	}
	p.From.Store(first)
	p.At.Store(first)
	p.To.Store(last + segSize)
}

// replayProgress is the dispatcher's OnCommit hook feeding p, or nil.
func replayProgress(p *Progress) func(pos int64, records int) {
	if p == nil {
		return nil
	}
	return func(pos int64, records int) {
		p.At.Store(pos)
		p.Records.Add(int64(records))
	}
}
