package retry

import (
	"math"
	"testing"
)

func TestNames(t *testing.T) {
	if Topic("G") != "%RETRY%G" || DLQTopic("G") != "%DLQ%G" {
		t.Fatalf("names %q %q", Topic("G"), DLQTopic("G"))
	}
	if g, ok := GroupOf("%RETRY%G"); !ok || g != "G" {
		t.Errorf("GroupOf retry topic: %q %v", g, ok)
	}
	if _, ok := GroupOf("%DLQ%G"); ok {
		t.Error("GroupOf a DLQ topic: ok")
	}
	if !Drops(0) || Drops(1) {
		t.Error("Drops: want true for 0 retry queues only")
	}
}

// TestSendBack: the decision for a message given back, as Java's
// asyncConsumerSendMsgBack makes it.
func TestSendBack(t *testing.T) {
	for _, tt := range []struct {
		name                        string
		reconsume, maxTimes, level  int32
		wantDLQ                     bool
		wantTopic                   string
		wantLevel, wantReconsumeCnt int32
	}{
		{"first failure, broker picks the level", 0, 16, 0, false, "%RETRY%G", 3, 1},
		{"fifth failure, broker picks the level", 4, 16, 0, false, "%RETRY%G", 7, 5},
		{"level asked for", 1, 16, 2, false, "%RETRY%G", 2, 2},
		{"retries exhausted", 2, 2, 0, true, "%DLQ%G", 0, 3},
		{"beyond max", 5, 2, 4, true, "%DLQ%G", 0, 6},
		{"negative level: DLQ at once", 0, 16, -1, true, "%DLQ%G", 0, 1},
		{"max 0 goes straight to the DLQ", 0, 0, 0, true, "%DLQ%G", 0, 1},
		{"no overflow", math.MaxInt32, math.MaxInt32, 0, true, "%DLQ%G", 0, math.MaxInt32},
		{"no level overflow", math.MaxInt32 - 1, math.MaxInt32, 0, false, "%RETRY%G", math.MaxInt32, math.MaxInt32},
	} {
		d := SendBack(Back{Group: "G", ReconsumeTimes: tt.reconsume, MaxReconsumeTimes: tt.maxTimes, DelayLevel: tt.level,
			RetryQueueNums: 1, RetryWriteQueues: 1})
		if d.DLQ != tt.wantDLQ || d.Topic != tt.wantTopic || d.DelayLevel != tt.wantLevel ||
			d.ReconsumeTimes != tt.wantReconsumeCnt || d.QueueID != 0 {
			t.Errorf("%s: %+v, want DLQ %v topic %s queue 0 level %d reconsumeTimes %d",
				tt.name, d, tt.wantDLQ, tt.wantTopic, tt.wantLevel, tt.wantReconsumeCnt)
		}
	}
}

// TestSendBackQueue: the retry queue is drawn below both the group's retry
// queue count and the retry topic's write queues, and reaches each.
func TestSendBackQueue(t *testing.T) {
	seen := map[int32]bool{}
	for range 1000 {
		d := SendBack(Back{Group: "G", MaxReconsumeTimes: 16, RetryQueueNums: 3, RetryWriteQueues: 8})
		if d.QueueID < 0 || d.QueueID >= 3 {
			t.Fatalf("queue %d, want [0, 3)", d.QueueID)
		}
		seen[d.QueueID] = true
	}
	if len(seen) != 3 {
		t.Errorf("queues drawn %v, want all of 0..2", seen)
	}
	if d := SendBack(Back{Group: "G", MaxReconsumeTimes: 16, RetryQueueNums: 4, RetryWriteQueues: 0}); d.QueueID != 0 {
		t.Errorf("no write queues: queue %d, want 0", d.QueueID)
	}
}
