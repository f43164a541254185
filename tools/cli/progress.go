package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/pflag"
	"github.com/wharfmq/wharf/engine"
	"golang.org/x/term"
)

// progressEvery is how often a bar reads its counters: the loops being
// watched only bump atomics, and the bar costs nothing between reads.
const progressEvery = 200 * time.Millisecond

// progressFlag is --progress auto|always|never: a bar on stderr, by default
// only when stderr is a terminal, so scripts and pipes see no escape codes.
type progressFlag struct{ mode string }

func (p *progressFlag) add(f *pflag.FlagSet) {
	f.StringVar(&p.mode, "progress", "auto", "progress bar on stderr: auto (when stderr is a terminal), always or never")
}

// on says whether to draw a bar on w.
func (p *progressFlag) on(w io.Writer) (bool, error) {
	switch p.mode {
	case "never":
		return false, nil
	case "always":
		return true, nil
	case "auto", "":
		f, ok := w.(*os.File)
		return ok && term.IsTerminal(int(f.Fd())), nil
	default:
		return false, fmt.Errorf("--progress %q: want auto, always or never", p.mode)
	}
}

// progressPoll reads a job's counters: bytes done, bytes in all (0: not
// known) and records done.
type progressPoll func() (done, total, records int64)

// progressBar draws a byte bar (count, rate, and ETA where the total is
// known) with the records in its description, refreshed from poll every
// progressEvery by one owned goroutine until end.
type progressBar struct {
	pb   *progressbar.ProgressBar
	desc string
	poll progressPoll
	stop chan struct{}
	wg   sync.WaitGroup
}

// startProgress starts a bar on w for the job poll follows, or returns nil
// when show is false (every method of a nil bar does nothing).
func startProgress(show bool, w io.Writer, desc string, poll progressPoll) *progressBar {
	if !show {
		return nil
	}
	b := &progressBar{desc: desc, poll: poll, stop: make(chan struct{})}
	b.pb = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(progressEvery/2),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	// Starts the bar's clock now: its rates are bytes over time since.
	_ = b.pb.RenderBlank()
	b.wg.Add(1)
	go b.loop()
	return b
}

func (b *progressBar) loop() {
	defer b.wg.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	var total, records int64 = -1, -1
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			total, records = b.update(total, records)
		}
	}
}

// update moves the bar to what poll says; last* avoid re-describing an
// unchanged bar.
func (b *progressBar) update(lastTotal, lastRecords int64) (total, records int64) {
	done, total, records := b.poll()
	if total > 0 && total != lastTotal {
		b.pb.ChangeMax64(max(total, done))
	}
	if records != lastRecords {
		b.pb.Describe(fmt.Sprintf("%s %d records", b.desc, records))
	}
	_ = b.pb.Set64(done)
	return total, records
}

// end stops the refresh and draws the final state: a full bar at what
// was done (the span may have been an upper bound), then a newline.
func (b *progressBar) end() {
	if b == nil {
		return
	}
	close(b.stop)
	b.wg.Wait()
	done, _, records := b.poll()
	b.pb.Describe(fmt.Sprintf("%s %d records", b.desc, records))
	b.pb.ChangeMax64(max(done, 1))
	_ = b.pb.Set64(done)
	_ = b.pb.Finish()
}

// storeProgress polls an engine job's counters.
func storeProgress(p *engine.Progress) progressPoll {
	return func() (int64, int64, int64) {
		done, total := p.Bytes()
		return done, total, p.Records.Load()
	}
}
