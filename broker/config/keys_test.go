package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/wiretls"
)

func TestTransactionConfigKeys(t *testing.T) {
	cfg := Default()
	if cfg.TransactionTimeOut != 6*time.Second || cfg.TransactionCheckInterval != time.Minute || cfg.TransactionCheckMax != 15 || cfg.RejectTransactionMessage {
		t.Fatalf("defaults %v %v %d %v", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax, cfg.RejectTransactionMessage)
	}
	conf := "transactionTimeOut=1500\ntransactionCheckInterval=250\ntransactionCheckMax=3\nrejectTransactionMessage=true\n"
	if err := Parse(strings.NewReader(conf), &cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if cfg.TransactionTimeOut != 1500*time.Millisecond || cfg.TransactionCheckInterval != 250*time.Millisecond ||
		cfg.TransactionCheckMax != 3 || !cfg.RejectTransactionMessage {
		t.Fatalf("parsed %v %v %d %v", cfg.TransactionTimeOut, cfg.TransactionCheckInterval, cfg.TransactionCheckMax, cfg.RejectTransactionMessage)
	}
	if err := Parse(strings.NewReader("transactionCheckMax=many\n"), &cfg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("transactionCheckMax=many accepted")
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.TransactionCheckMax = 0 },
		func(c *Config) { c.TransactionCheckInterval = 0 },
		func(c *Config) { c.TransactionTimeOut = -time.Second },
	} {
		c := Default()
		bad(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "transaction") {
			t.Errorf("Validate: %v", err)
		}
	}
}

// TestEnablePropertyFilterKey: the broker.conf key, off by default.
func TestEnablePropertyFilterKey(t *testing.T) {
	cfg := Default()
	if cfg.EnablePropertyFilter {
		t.Fatal("enablePropertyFilter on by default")
	}
	if err := Parse(strings.NewReader("enablePropertyFilter=TRUE\n"), &cfg, slog.New(slog.DiscardHandler)); err != nil || !cfg.EnablePropertyFilter {
		t.Fatalf("enablePropertyFilter=TRUE: %v, set %v", err, cfg.EnablePropertyFilter)
	}
}

// TestHAConfigKeys: RocketMQ's replication keys, their defaults (package
// ha's), their units, both names of the slave gap, and the one-line
// errors of bad values.
func TestHAConfigKeys(t *testing.T) {
	def := Default()
	if def.HAListenPort != 0 || def.HASendHeartbeatInterval != 5*time.Second || def.HAHousekeepingInterval != 20*time.Second ||
		def.HATransferBatchSize != 32<<10 || def.HAFrameHold != time.Millisecond || def.HAMaxHold() != time.Millisecond || def.HAMaxGapNotInSync != 256<<20 || def.SlaveTimeout != 3*time.Second ||
		def.SlaveReadEnable || def.HAMasterAddress != "" || def.SyncFromLastFile || def.IsSlave() {
		t.Fatalf("defaults %+v", def)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for _, c := range []struct {
		conf  string
		check func(c *Config) bool
	}{
		{"haListenPort=20912", func(c *Config) bool { return c.HAListenPort == 20912 }},
		{"haSendHeartbeatInterval=250", func(c *Config) bool { return c.HASendHeartbeatInterval == 250*time.Millisecond }},
		{"haHousekeepingInterval=1500", func(c *Config) bool { return c.HAHousekeepingInterval == 1500*time.Millisecond }},
		{"haTransferBatchSize=65536", func(c *Config) bool { return c.HATransferBatchSize == 65536 }},
		{"haCatchUpBatchSize=262144", func(c *Config) bool { return c.HACatchUpBatchSize == 262144 }},
		{"haFrameHoldMicros=250", func(c *Config) bool { return c.HAFrameHold == 250*time.Microsecond }},
		{"haFrameHoldMicros=0", func(c *Config) bool { return c.HAFrameHold == 0 && c.HAMaxHold() < 0 }},
		{"haMaxGapNotInSync=1048576", func(c *Config) bool { return c.HAMaxGapNotInSync == 1<<20 }},
		{"haSlaveFallbehindMax=2097152", func(c *Config) bool { return c.HAMaxGapNotInSync == 2<<20 }},
		{"slaveTimeout=700", func(c *Config) bool { return c.SlaveTimeout == 700*time.Millisecond }},
		{"slaveReadEnable=true", func(c *Config) bool { return c.SlaveReadEnable }},
		{"haMasterAddress=10.0.0.1:10912", func(c *Config) bool { return c.HAMasterAddress == "10.0.0.1:10912" }},
		{"haMasterAddress=", func(c *Config) bool { return c.HAMasterAddress == "" }},
		{"haAdvertisedAddress=ha.example:30912", func(c *Config) bool { return c.HAAdvertisedAddress == "ha.example:30912" }},
		{"brokerIP2=10.0.0.2", func(c *Config) bool { return c.BrokerIP2 == "10.0.0.2" }},
		{"syncFromLastFile=TRUE", func(c *Config) bool { return c.SyncFromLastFile }},
		{"brokerRole=SLAVE\nbrokerId=1", func(c *Config) bool { return c.IsSlave() }},
		{"brokerRole=SYNC_MASTER", func(c *Config) bool { return !c.IsSlave() }},
	} {
		cfg := Default()
		if err := Parse(strings.NewReader(c.conf+"\n"), &cfg, slog.New(slog.DiscardHandler)); err != nil {
			t.Errorf("%q: %v", c.conf, err)
			continue
		}
		if !c.check(&cfg) {
			t.Errorf("%q: parsed %+v", c.conf, cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%q refused: %v", c.conf, err)
		}
	}
	// Values Parse refuses, naming the line.
	for _, conf := range []string{"haListenPort=x", "haTransferBatchSize=big", "haCatchUpBatchSize=big", "haMaxGapNotInSync=1.5",
		"haSlaveFallbehindMax=", "slaveTimeout=3s", "haSendHeartbeatInterval=-", "haMasterAddress=nohost",
		"haMasterAddress=h:0", "haMasterAddress=:10912", "haMasterAddress=h:70000",
		"haAdvertisedAddress=nohost", "haAdvertisedAddress=h:0"} {
		cfg := Default()
		if err := Parse(strings.NewReader(conf+"\n"), &cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("%q: %v, want an error naming line 1", conf, err)
		}
	}
	// Values Validate refuses, with the key's name in the error.
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.HAListenPort = -1 }, "haListenPort"},
		{func(c *Config) { c.HAListenPort = 65536 }, "haListenPort"},
		{func(c *Config) { c.ListenPort = 65535 }, "haListenPort"},
		{func(c *Config) { c.HASendHeartbeatInterval = 0 }, "haSendHeartbeatInterval"},
		{func(c *Config) { c.HAHousekeepingInterval = -time.Second }, "haHousekeepingInterval"},
		{func(c *Config) { c.HATransferBatchSize = 0 }, "haTransferBatchSize"},
		{func(c *Config) { c.HAFrameHold = -time.Microsecond }, "haFrameHoldMicros"},
		{func(c *Config) { c.HAFrameHold = 2 * time.Second }, "haFrameHoldMicros"},
		{func(c *Config) { c.HATransferBatchSize = 4 << 20 }, "haTransferBatchSize"},
		{func(c *Config) { c.HACatchUpBatchSize = 0 }, "haCatchUpBatchSize"},
		{func(c *Config) { c.HACatchUpBatchSize = 4 << 20 }, "haCatchUpBatchSize"},
		{func(c *Config) { c.HAMaxGapNotInSync = 0 }, "haMaxGapNotInSync"},
		{func(c *Config) { c.SlaveTimeout = 0 }, "slaveTimeout"},
		{func(c *Config) { c.HAMasterAddress = "10.0.0.1" }, "haMasterAddress"},
		{func(c *Config) { c.HAAdvertisedAddress = "10.0.0.1" }, "haAdvertisedAddress"},
		{func(c *Config) { c.BrokerIP2 = "ha.example" }, "brokerIP2"},
	} {
		cfg := Default()
		c.mut(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: Validate %v, want a one-line error naming it", c.want, err)
		}
	}
	// The largest batch a RocketMQ slave can read is accepted.
	cfg := Default()
	cfg.HATransferBatchSize = 4<<20 - 12
	if err := cfg.Validate(); err != nil {
		t.Errorf("haTransferBatchSize=ha.MaxBodySize refused: %v", err)
	}
}

// TestControllerModeKeys: a RocketMQ 5 controller-mode broker.conf loads
// (brokerId and brokerRole ignored), and the mode's own checks hold.
func TestControllerModeKeys(t *testing.T) {
	cfg := Default()
	if cfg.EnableControllerMode || !cfg.AllAckInSyncStateSet || cfg.EnableElectUncleanMaster || cfg.BrokerElectionPriority != 1<<31-1 {
		t.Fatalf("defaults: %+v", cfg)
	}
	conf := "brokerId=-1\nbrokerRole=SLAVE\nenableControllerMode=true\ncontrollerAddr=127.0.0.1:9878; 127.0.0.1:9868;\n" +
		"allAckInSyncStateSet=false\nhaMaxTimeSlaveNotCatchup=5000\nenableElectUncleanMaster=true\nbrokerElectionPriority=3\n" +
		"controllerHeartBeatTimeoutMills=4000\nbrokerHeartbeatInterval=500\nbrokerLeaseMillis=1500\n" +
		"syncBrokerMetadataPeriod=700\ncheckSyncStateSetPeriod=800\n"
	if err := Parse(strings.NewReader(conf), &cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a controller-mode file with brokerId=-1: %v", err)
	}
	if got := cfg.ControllerAddrs(); len(got) != 2 || got[1] != "127.0.0.1:9868" {
		t.Fatalf("controllerAddr split as %q", got)
	}
	if cfg.AllAckInSyncStateSet || cfg.HAMaxTimeSlaveNotCatchup != 5*time.Second || !cfg.EnableElectUncleanMaster ||
		cfg.BrokerElectionPriority != 3 || cfg.ControllerHeartBeatTimeout != 4*time.Second || cfg.BrokerHeartbeatInterval != 500*time.Millisecond ||
		cfg.BrokerLease != 1500*time.Millisecond || cfg.SyncBrokerMetadataPeriod != 700*time.Millisecond || cfg.CheckSyncStateSetPeriod != 800*time.Millisecond {
		t.Fatalf("parsed: %+v", cfg)
	}
	for _, c := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.ControllerAddr = " ; " }, "needs controllerAddr"},
		{func(c *Config) { c.ControllerAddr = "nohost" }, "controllerAddr"},
		{func(c *Config) { c.BrokerLease = 5 * time.Second }, "brokerLeaseMillis"},
		{func(c *Config) { c.CheckSyncStateSetPeriod = 0 }, "checkSyncStateSetPeriod"},
	} {
		bad := cfg
		c.mut(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
}

// TestTLSKeys: RocketMQ's tls.* keys load from broker.conf (no
// "unknown key" line), a bad mode names its line, and an enforcing mode
// without certificate files does not validate.
func TestTLSKeys(t *testing.T) {
	var logs strings.Builder
	cfg := Default()
	conf := "tls.server.mode=permissive\ntls.server.certPath=/c.pem\ntls.server.keyPath=/k.pem\n" +
		"tls.server.need.client.auth=require\ntls.server.authClient=true\ntls.server.trustCertPath=/ca.pem\n" +
		"tls.enable=true\ntls.client.authServer=true\ntls.client.trustCertPath=/ca.pem\n"
	if err := Parse(strings.NewReader(conf), &cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("TLS keys reported:\n%s", logs.String())
	}
	tl := cfg.TLS
	if tl.Mode.String() != "permissive" || tl.ServerCertPath != "/c.pem" || tl.ServerNeedClientAuth != "require" || !tl.ServerAuthClient ||
		!tl.Enable || !tl.ClientAuthServer || tl.ClientTrustCertPath != "/ca.pem" {
		t.Fatalf("parsed: %+v", tl)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	err := Parse(strings.NewReader("brokerName=x\ntls.server.mode=on\n"), &cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad mode: %v", err)
	}
	bad := Default()
	bad.TLS.Mode = wiretls.Enforcing // no files
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "tls.server.certPath") {
		t.Fatalf("enforcing without files: %v", err)
	}
}
