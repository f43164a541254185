package controller

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// Every key the controller reads is printed by Properties and read back
// to the same Config.
func TestConfigPropertiesRoundTrip(t *testing.T) {
	in := Config{EnableInNamesrv: true, Group: "g7", SelfID: "n1", StorePath: "/var/ctl",
		Peers:            []Peer{{ID: "n0", Addr: "127.0.0.1:9878"}, {ID: "n1", Addr: "127.0.0.1:9879"}},
		HeartbeatTimeout: 4 * time.Second, BrokerLease: 1500 * time.Millisecond, LeaseMargin: 300 * time.Millisecond,
		ScanInterval: 100 * time.Millisecond, RaftHeartbeatTimeout: 700 * time.Millisecond,
		ElectMasterRetries: 5, ElectUnclean: true, NotifyBrokerRoleChanged: false}
	var out Config
	if err := ParseConfig(bytes.NewReader(in.Properties()), &out, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("read back %+v\nwant %+v\nfrom:\n%s", out, in, in.Properties())
	}
	if n := bytes.Count(in.Properties(), []byte("\n")); n != len(configKeys) || n != reflect.TypeFor[Config]().NumField() {
		t.Fatalf("%d lines for %d keys and %d Config fields", n, len(configKeys), reflect.TypeFor[Config]().NumField())
	}
}
