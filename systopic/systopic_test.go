package systopic

import "testing"

type names struct{}

func (names) IsCluster(n string) bool { return n == "C1" }
func (names) IsBroker(n string) bool  { return n == "broker-a" }

func TestIs(t *testing.T) {
	for topic, want := range map[string]bool{
		"TBW102": true, "SCHEDULE_TOPIC_XXXX": true, "RMQ_SYS_TRACE_TOPIC": true, "rmq_sys_x": true,
		"C1": true, "broker-a": true, "C1_REPLY_TOPIC": true, "MyTrace": true,
		"C2_REPLY_TOPIC": false, "_REPLY_TOPIC": false, "TopicTest": false, "%RETRY%G": false,
	} {
		if got := Is(topic, names{}, "MyTrace"); got != want {
			t.Errorf("Is(%q) = %v, want %v", topic, got, want)
		}
	}
	if Is("C1", nil) || !Is("TBW102", nil) {
		t.Error("nil Names: only fixed names and the prefix")
	}
}
