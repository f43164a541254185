package broker

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/testkit/tcpproxy"
)

// TestHAAdvertisedAddress: a master whose HA port is reached only through
// a proxy advertises the proxy (haAdvertisedAddress): the name server
// hands that address to its slave, the runtime table shows it, and the
// slave replicates through the proxy. A slave with brokerIP2 advertises
// that IP with its HA port.
func TestHAAdvertisedAddress(t *testing.T) {
	ns := startNameServer(t, nil)
	_, haPort, _ := net.SplitHostPort(testkit.FreePort(t))
	proxy := tcpproxy.Start(t, "127.0.0.1:"+haPort)

	mcfg := testConfig(t.TempDir())
	mcfg.NamesrvAddr = ns.Addr()
	mcfg.HAListenPort, _ = strconv.Atoi(haPort)
	mcfg.HAAdvertisedAddress = proxy.Addr()
	master := startBroker(t, mcfg)
	if got := master.HAServerAddr(); got != proxy.Addr() {
		t.Fatalf("master advertises %s, want the proxy %s", got, proxy.Addr())
	}
	tbl := map[string]string{}
	master.addRoleInfo(tbl)
	if tbl["haServerAddr"] != proxy.Addr() {
		t.Fatalf("runtime table haServerAddr %q, want %s", tbl["haServerAddr"], proxy.Addr())
	}
	newTestClient(t, master.Addr()).send("HaAdvT", 0, "", "through the proxy")

	slave, _ := startSlave(t, ns.Addr(), 50*time.Millisecond, func(c *config.Config) { c.BrokerIP2 = "127.0.0.2" })
	eventually(t, 10*time.Second, "the slave learns the master's advertised HA address", func() bool {
		a, h := slave.MasterAddrs()
		return a == master.Addr() && h == proxy.Addr()
	})
	eventually(t, 10*time.Second, "the slave holds the master's log", func() bool {
		return slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})
	if proxy.Accepted() == 0 {
		t.Fatal("the slave replicated without dialling the advertised address")
	}
	// Cut the proxy: the slave has no other way to its master.
	proxy.Refuse(true)
	proxy.Cut()
	newTestClient(t, master.Addr()).send("HaAdvT", 0, "", "while the proxy refuses")
	testkit.Never(t, time.Second, func() bool { return slave.store.MaxPhysOffset() == master.store.MaxPhysOffset() },
		"the slave caught up with its only route to the master refused")
	proxy.Refuse(false)
	eventually(t, 10*time.Second, "the slave catches up once the proxy accepts again", func() bool {
		return slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})

	_, slavePort, _ := net.SplitHostPort(slave.Addr())
	sp, _ := strconv.Atoi(slavePort)
	if got, want := slave.HAServerAddr(), "127.0.0.2:"+strconv.Itoa(sp+1); got != want {
		t.Fatalf("slave with brokerIP2 advertises %s, want %s", got, want)
	}
}
