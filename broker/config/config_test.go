package config

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.conf")
	conf := `# RocketMQ sample
brokerClusterName = MyCluster
brokerName=broker-b
brokerId=0
namesrvAddr=127.0.0.1:9876;127.0.0.2:9876
deleteWhen=04
fileReservedTime=48
brokerRole=ASYNC_MASTER
flushDiskType=SYNC_FLUSH
listenPort: 10921
autoCreateTopicEnable=false
defaultTopicQueueNums 4
registerNameServerPeriod=15000
maxMessageSize=1048576
! another comment
storePathRootDir=/tmp/\
wharf
`
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cfg, err := Load(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.BrokerClusterName, want.BrokerName = "MyCluster", "broker-b"
	want.NamesrvAddr = "127.0.0.1:9876;127.0.0.2:9876"
	want.FileReservedTime = 48 * time.Hour
	want.FlushDiskType = SyncFlush
	want.ListenPort = 10921
	want.AutoCreateTopicEnable = false
	want.DefaultTopicQueueNums = 4
	want.RegisterNameServerPeriod = 15 * time.Second
	want.MaxMessageSize = 1 << 20
	want.StorePathRootDir = "/tmp/wharf"
	if cfg != want {
		t.Fatalf("config\n got %+v\nwant %+v", cfg, want)
	}
	if got := cfg.NameServers(); len(got) != 2 || got[1] != "127.0.0.2:9876" {
		t.Fatalf("name servers %q", got)
	}
	// Unknown keys are reported, not fatal; brokerRole is known.
	if strings.Contains(logs.String(), "key=brokerRole") {
		t.Fatalf("brokerRole reported as unknown:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "key=deleteWhen") {
		t.Fatalf("deleteWhen not reported:\n%s", logs.String())
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, in := range []string{"listenPort=abc", "flushDiskType=FAST", "brokerId=x"} {
		cfg := Default()
		err := Parse(strings.NewReader("\n"+in+"\n"), &cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: error %v, want one naming line 2", in, err)
		}
	}
	cfg := Default()
	cfg.BrokerID = 1
	if err := cfg.Validate(); err == nil {
		t.Error("brokerId 1 accepted")
	}
}

// TestBrokerRole: brokerRole is read and must agree with brokerId (issue
// 11: a slave file with brokerId=0 used to run silently as a master).
func TestBrokerRole(t *testing.T) {
	for _, c := range []struct {
		conf string
		want string // "" accepted, else a part of the error
	}{
		{"brokerRole=ASYNC_MASTER\nbrokerId=0\n", ""},
		{"brokerRole=SYNC_MASTER\nbrokerId=0\n", ""},
		{"brokerRole=SLAVE\nbrokerId=0\n", "a slave needs a brokerId above 0"},
		{"brokerRole=ASYNC_MASTER\nbrokerId=1\n", "a master has brokerId=0"},
		{"brokerRole=SYNC_MASTER\nbrokerId=2\n", "a master has brokerId=0"},
		{"brokerId=1\n", "a master has brokerId=0"},
		{"brokerRole=SLAVE\nbrokerId=1\n", ""},
		{"brokerRole=SLAVE\nbrokerId=2\n", ""},
	} {
		cfg := Default()
		if err := Parse(strings.NewReader(c.conf), &cfg, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("%q: %v", c.conf, err)
		}
		err := cfg.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q refused: %v", c.conf, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: error %v, want one saying %q", c.conf, err, c.want)
		}
	}
	cfg := Default()
	if err := Parse(strings.NewReader("brokerRole=MASTER\n"), &cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("brokerRole=MASTER: %v, want an error naming line 1", err)
	}
}

// TestHAListenPortOfItsOwn: an haListenPort equal to the client port is
// refused as such at start, not reported later as a port "already in use"
// (by the broker itself).
func TestHAListenPortOfItsOwn(t *testing.T) {
	for _, c := range []struct {
		conf, listen string
		bad          bool
	}{
		{"listenPort=10911\nhaListenPort=10911\n", "", true},
		{"listenPort=10911\nhaListenPort=10912\n", "", false},
		{"haListenPort=20911\n", "127.0.0.1:20911", true},
		{"listenPort=20911\nhaListenPort=20911\n", "127.0.0.1:30911", false}, // --listen wins
		{"haListenPort=0\n", "127.0.0.1:0", false},
	} {
		cfg := Default()
		if err := Parse(strings.NewReader(c.conf), &cfg, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("%q: %v", c.conf, err)
		}
		cfg.Listen = c.listen
		err := cfg.Validate()
		if bad := err != nil && strings.Contains(err.Error(), "is the listenPort"); bad != c.bad || (err != nil && !bad) {
			t.Errorf("%q with --listen %q: %v", c.conf, c.listen, err)
		}
	}
}
