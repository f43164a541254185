package cli

import (
	"strings"
	"testing"
)

// The role summary of `broker status` counts only the slaves the name
// servers list, and names the other peers on the HA port apart.
func TestRoleSummaryTellsStrangersApart(t *testing.T) {
	table := map[string]string{
		"brokerRole": "SYNC_MASTER", "brokerId": "0", "haSlaveCount": "1", "haUntrustedPeerCount": "2",
		"haSlave.127.0.0.1:5000": "acked=10 lagBytes=0 lagMillis=0 trusted=true frames=1",
	}
	sum := roleSummary(table)
	if !strings.Contains(sum, "1 slave(s) connected (and 2 HA peer(s) the name servers do not list as slaves)") {
		t.Fatalf("summary %q", sum)
	}
	delete(table, "haUntrustedPeerCount")
	if sum := roleSummary(table); strings.Contains(sum, "HA peer(s)") {
		t.Fatalf("summary %q names strangers where there are none", sum)
	}
}
