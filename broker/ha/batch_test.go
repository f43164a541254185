package ha

import (
	"errors"
	"testing"
)

func TestPlannerNext(t *testing.T) {
	const seg, batch = 1024, 100
	p, err := NewPlanner(seg, batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name             string
		next, end        int64
		wantFrom, wantTo int64
	}{
		{"empty master", 0, 0, 0, 0},
		{"slave caught up", 500, 500, 500, 500},
		{"slave ahead (caller closes)", 600, 500, 600, 600},
		{"negative next", -1, 500, -1, -1},
		{"less than a batch readable", 0, 40, 0, 40},
		{"a full batch", 0, 500, 0, 100},
		{"batch cut at the segment end", 1000, 5000, 1000, 1024},
		{"last byte of a segment", 1023, 5000, 1023, 1024},
		{"first byte of a segment", 1024, 5000, 1024, 1124},
		{"end inside the next segment", 1000, 1030, 1000, 1024},
		{"end at the segment end", 1000, 1024, 1000, 1024},
		{"end before the segment end", 1000, 1010, 1000, 1010},
		{"later segment", 3*seg + 950, 10 * seg, 3*seg + 950, 3*seg + 1024},
		{"near the largest offset", 1<<62 + 10, 1<<62 + 50, 1<<62 + 10, 1<<62 + 50},
	} {
		from, to := p.Next(tc.next, tc.end)
		if from != tc.wantFrom || to != tc.wantTo {
			t.Errorf("%s: Next(%d, %d) = [%d, %d), want [%d, %d)", tc.name, tc.next, tc.end, from, to, tc.wantFrom, tc.wantTo)
		}
	}
}

// Full is where a frame from an offset stops being short: a batch on, or
// the end of its segment if that comes first.
func TestPlannerFull(t *testing.T) {
	const seg, batch = 1024, 100
	p, err := NewPlanner(seg, batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, want int64 }{
		{0, 100}, {500, 600}, {924, 1024}, {950, 1024}, {1023, 1024}, {1024, 1124}, {3*seg + 990, 4 * seg},
	} {
		if got := p.Full(tc.from); got != tc.want {
			t.Errorf("Full(%d) = %d, want %d", tc.from, got, tc.want)
		}
		if from, to := p.Next(tc.from, tc.want); p.Short(from, to) {
			t.Errorf("a frame [%d, %d) up to Full is still short", from, to)
		}
		if from, to := p.Next(tc.from, tc.want-1); tc.want-1 > tc.from && !p.Short(from, to) {
			t.Errorf("a frame [%d, %d) short of Full is not short", from, to)
		}
	}
}

// Walking a whole log batch by batch covers every byte once, in order,
// and no batch crosses a segment end or exceeds the batch size.
func TestPlannerNextWalk(t *testing.T) {
	for _, cfg := range []struct{ seg, batch int64 }{{1024, 100}, {1024, 1024}, {1024, 4096}, {1000, 333}, {64 << 20, 32 << 10}} {
		p, err := NewPlanner(cfg.seg, int(cfg.batch), 0)
		if err != nil {
			t.Fatal(err)
		}
		start, end := 2*cfg.seg, 7*cfg.seg+cfg.seg/3
		next, frames := start, 0
		for next < end && frames < 1_000_000 {
			from, to := p.Next(next, end)
			if from != next || to <= from || to-from > cfg.batch || from/cfg.seg != (to-1)/cfg.seg || to > end {
				t.Fatalf("seg %d batch %d: Next(%d, %d) = [%d, %d)", cfg.seg, cfg.batch, next, end, from, to)
			}
			next, frames = to, frames+1
		}
		if next != end {
			t.Fatalf("seg %d batch %d: walk ended at %d, want %d", cfg.seg, cfg.batch, next, end)
		}
	}
}

// A slave a batch or more behind gets frames of up to the catch-up size;
// only a frame shorter than a batch may be held, and the largest frame
// never crosses a segment.
func TestPlannerCatchUpFrames(t *testing.T) {
	const seg, batch, catchUp = 1024, 100, 300
	p, err := NewPlanner(seg, batch, catchUp)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxFrame() != catchUp {
		t.Errorf("MaxFrame() = %d, want %d", p.MaxFrame(), catchUp)
	}
	for _, tc := range []struct {
		name             string
		next, end        int64
		wantFrom, wantTo int64
		short            bool
	}{
		{"less than a batch readable", 0, 40, 0, 40, true},
		{"a batch and a bit", 0, 150, 0, 150, false},
		{"a backlog", 0, 5000, 0, 300, false},
		{"backlog cut at the segment end", 900, 5000, 900, 1024, false},
		{"short tail at the segment end", 1000, 5000, 1000, 1024, false},
	} {
		from, to := p.Next(tc.next, tc.end)
		if from != tc.wantFrom || to != tc.wantTo {
			t.Errorf("%s: Next(%d, %d) = [%d, %d), want [%d, %d)", tc.name, tc.next, tc.end, from, to, tc.wantFrom, tc.wantTo)
		}
		if got := p.Short(from, to); got != tc.short {
			t.Errorf("%s: Short(%d, %d) = %v, want %v", tc.name, from, to, got, tc.short)
		}
	}
	// A catch-up size below the batch size leaves RocketMQ's frames.
	q, err := NewPlanner(seg, batch, batch/2)
	if err != nil {
		t.Fatal(err)
	}
	if from, to := q.Next(0, 5000); to-from != batch || q.MaxFrame() != batch {
		t.Errorf("catch-up below the batch: Next(0, 5000) = [%d, %d), MaxFrame %d; want frames of %d", from, to, q.MaxFrame(), batch)
	}
}

func TestPlannerStart(t *testing.T) {
	const seg = 1024
	p, err := NewPlanner(seg, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name                string
		report, minOff, end int64
		lastFile            bool
		want                int64
		err                 error
	}{
		{"empty master, empty slave", 0, 0, 0, false, 0, nil},
		{"empty master, empty slave, last file", 0, 0, 0, true, 0, nil},
		{"empty slave: oldest retained segment", 0, 2 * seg, 5*seg + 10, false, 2 * seg, nil},
		{"empty slave: last file (RocketMQ)", 0, 2 * seg, 5*seg + 10, true, 5 * seg, nil},
		{"empty slave, master end at a segment start, last file", 0, 0, 3 * seg, true, 3 * seg, nil},
		{"empty slave, master in its first segment, last file", 0, 0, 500, true, 0, nil},
		{"returning slave resumes from its end", 3*seg + 7, 2 * seg, 5 * seg, false, 3*seg + 7, nil},
		{"returning slave ignores lastFile", 3*seg + 7, 2 * seg, 5 * seg, true, 3*seg + 7, nil},
		{"slave at the master's end", 5 * seg, 2 * seg, 5 * seg, false, 5 * seg, nil},
		{"slave at the oldest retained offset", 2 * seg, 2 * seg, 5 * seg, false, 2 * seg, nil},
		{"slave behind retention (rocketmq#3388)", 2*seg - 1, 2 * seg, 5 * seg, false, 0, ErrBehindRetention},
		{"slave beyond the master's end", 5*seg + 1, 2 * seg, 5 * seg, false, 0, ErrBeyondEnd},
		{"negative report", -8, 0, 5 * seg, false, 0, ErrBadOffset},
	} {
		got, err := p.Start(tc.report, tc.minOff, tc.end, tc.lastFile)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: Start(%d, %d, %d, %v) = %d, %v; want %v", tc.name, tc.report, tc.minOff, tc.end, tc.lastFile, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: Start(%d, %d, %d, %v) = %d, %v; want %d", tc.name, tc.report, tc.minOff, tc.end, tc.lastFile, got, err, tc.want)
		}
	}
}

func TestNewPlannerLimits(t *testing.T) {
	for _, tc := range []struct {
		seg            int64
		batch, catchUp int
		ok             bool
	}{
		{1 << 30, DefaultTransferBatchSize, 0, true},
		{1 << 30, DefaultTransferBatchSize, DefaultCatchUpBatchSize, true},
		{1 << 30, MaxBodySize, 0, true},
		{1 << 30, MaxBodySize, MaxBodySize, true},
		{1 << 30, DefaultTransferBatchSize, MaxBodySize + 1, false},
		{1 << 30, MaxBodySize + 1, 0, false},
		{1 << 30, 0, 0, false},
		{0, 100, 0, false},
	} {
		_, err := NewPlanner(tc.seg, tc.batch, tc.catchUp)
		if (err == nil) != tc.ok {
			t.Errorf("NewPlanner(%d, %d, %d) = %v, want ok=%v", tc.seg, tc.batch, tc.catchUp, err, tc.ok)
		}
	}
}
