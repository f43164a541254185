package brokertest_test

import (
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/brokertest"
	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/remoting"
	"go.uber.org/goleak"
)

// TestMain fails the package if a helper leaves a goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestClusterServesEveryBroker starts two brokers with a name server (which
// then lists both) and checks that each stores a message sent through the
// raw client.
func TestClusterServesEveryBroker(t *testing.T) {
	c := brokertest.StartCluster(t, 2, func(i int, cfg *config.Config) {
		cfg.RegisterNameServerPeriod = 10 * time.Second
	})
	if len(c.Brokers) != 2 || c.Brokers[0].Config().BrokerName == c.Brokers[1].Config().BrokerName {
		t.Fatalf("brokers %v", c.Brokers)
	}
	for _, b := range c.Brokers {
		cl := brokertest.NewClient(t, b.Addr())
		cl.MustOK(remoting.CodeUpdateAndCreateTopic, map[string]string{
			"topic": "KitT", "readQueueNums": "2", "writeQueueNums": "2", "perm": "6"}, nil)
		cl.Send("KitT", 1, "", "hello")
		brokertest.Eventually(t, 5*time.Second, func() bool {
			st, ok := b.Store().QueueState("KitT", 1)
			return ok && st.Max == 1
		}, "message stored on %s", b.Addr())
	}
}
