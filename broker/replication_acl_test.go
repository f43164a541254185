package broker

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/broker/ha"
	"github.com/wharfmq/wharf/engine/msg"
)

// A master with aclEnable replicates to the slave the name server lists,
// and sends nothing to another peer on its HA port: its messages are not
// for whoever can reach the port.
func TestACLMasterShipsOnlyToItsSlaves(t *testing.T) {
	ns, cfg := aclNameServer(t)
	master := startBroker(t, cfg)
	for i := range 10 {
		if _, err := master.store.Put(&msg.Message{Topic: "T", Body: []byte{byte(i)}, BornTimestamp: time.Now().UnixMilli(),
			BornHost: netip.MustParseAddrPort("127.0.0.1:5555"), StoreHost: master.storeHost}); err != nil {
			t.Fatal(err)
		}
	}
	slave, _ := startSlave(t, ns.Addr(), 50*time.Millisecond, func(c *config.Config) {
		c.AccessKey, c.SecretKey = "brokerAK", "brokerSecret"
	})
	eventually(t, 10*time.Second, "the slave to be trusted and copy the log", func() bool {
		st := master.repl.master.Load().Slaves()
		return len(st) == 1 && st[0].Trusted && slave.store.MaxPhysOffset() == master.store.MaxPhysOffset()
	})

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", master.repl.master.Load().Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var rep [ha.ReportSize]byte // 0: an empty slave
	if _, err := c.Write(rep[:]); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("a peer the name server does not list was sent %d bytes", n)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("the stranger's connection failed: %v", err)
	}
}
