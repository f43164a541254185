package controller

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/wharfmq/wharf/internal/confval"
)

// Defaults of Config.
const (
	DefaultGroup                = "group1"
	DefaultStorePath            = "./controller-data"
	DefaultHeartbeatTimeout     = 3 * time.Second
	DefaultBrokerLease          = 2 * time.Second
	DefaultLeaseMargin          = 500 * time.Millisecond
	DefaultScanInterval         = 250 * time.Millisecond
	DefaultElectMasterRetries   = 3
	DefaultRaftHeartbeatTimeout = 500 * time.Millisecond
)

// Peer is one controller of the Raft group: its id and the address of its
// shared Raft and remoting port.
type Peer struct {
	ID   string
	Addr string
}

// Config configures a Controller. Keys are RocketMQ 5's where it has one.
type Config struct {
	// EnableInNamesrv is enableControllerInNamesrv: a name server reading
	// this file hosts the controller.
	EnableInNamesrv bool
	// Group is controllerDLegerGroup (informational: reported by 1005).
	Group string
	// Peers is controllerDLegerPeers, "n0-host:port;n1-host:port;...".
	Peers []Peer
	// SelfID is controllerDLegerSelfId.
	SelfID string
	// StorePath is controllerStorePath: the Raft log, stable store and
	// snapshots.
	StorePath string
	// HeartbeatTimeout (controllerHeartBeatTimeoutMills) declares a broker
	// inactive after this long without a request, unless its heartbeat
	// names its own heartbeatTimeoutMills.
	HeartbeatTimeout time.Duration
	// BrokerLease (brokerLeaseMillis, Wharf) is how long a master may
	// keep acknowledging writes after it sent a lease renewal the leader
	// answered. Brokers must use the same value.
	BrokerLease time.Duration
	// LeaseMargin (brokerLeaseMarginMillis, Wharf) is added to the lease on
	// the controller's side for clock-rate differences and delays.
	LeaseMargin time.Duration
	// ScanInterval (scanNotActiveBrokerInterval) is how often the leader
	// looks for groups whose master is gone.
	ScanInterval time.Duration
	// ElectMasterRetries (electMasterMaxRetryCount) bounds the leader's
	// attempts to elect after one master loss is found.
	ElectMasterRetries int
	// ElectUnclean (enableElectUncleanMaster) lets replicas outside the
	// SyncStateSet be elected when no member qualifies; this can lose
	// acknowledged messages.
	ElectUnclean bool
	// NotifyBrokerRoleChanged (notifyBrokerRoleChanged) pushes 1008 after
	// an election.
	NotifyBrokerRoleChanged bool
	// RaftHeartbeatTimeout (controllerRaftHeartbeatTimeoutMillis, Wharf)
	// is Raft's heartbeat, election and leader lease timeout.
	RaftHeartbeatTimeout time.Duration
}

// DefaultConfig returns the defaults, with no peers.
func DefaultConfig() Config {
	return Config{
		Group:                   DefaultGroup,
		StorePath:               DefaultStorePath,
		HeartbeatTimeout:        DefaultHeartbeatTimeout,
		BrokerLease:             DefaultBrokerLease,
		LeaseMargin:             DefaultLeaseMargin,
		ScanInterval:            DefaultScanInterval,
		ElectMasterRetries:      DefaultElectMasterRetries,
		NotifyBrokerRoleChanged: true,
		RaftHeartbeatTimeout:    DefaultRaftHeartbeatTimeout,
	}
}

// ParsePeers reads controllerDLegerPeers.
func ParsePeers(s string) ([]Peer, error) {
	var peers []Peer
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "-")
		if !ok || id == "" {
			return nil, fmt.Errorf("controllerDLegerPeers: %q is not id-host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controllerDLegerPeers: %q: %w", part, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("controllerDLegerPeers: id %q twice", id)
		}
		seen[id] = true
		peers = append(peers, Peer{ID: id, Addr: addr})
	}
	return peers, nil
}

// FormatPeers writes peers as controllerDLegerPeers.
func FormatPeers(peers []Peer) string {
	parts := make([]string, len(peers))
	for i, p := range peers {
		parts[i] = p.ID + "-" + p.Addr
	}
	return strings.Join(parts, ";")
}

// Self returns this controller's peer entry.
func (c *Config) Self() (Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == c.SelfID {
			return p, true
		}
	}
	return Peer{}, false
}

// Validate checks the config.
func (c *Config) Validate() error {
	if len(c.Peers) == 0 {
		return errors.New("controller: controllerDLegerPeers is empty")
	}
	if _, ok := c.Self(); !ok {
		return fmt.Errorf("controller: controllerDLegerSelfId %q is not in controllerDLegerPeers %s", c.SelfID, FormatPeers(c.Peers))
	}
	if c.StorePath == "" {
		return errors.New("controller: controllerStorePath is empty")
	}
	if c.HeartbeatTimeout <= 0 || c.BrokerLease <= 0 || c.LeaseMargin < 0 || c.ScanInterval <= 0 || c.RaftHeartbeatTimeout <= 0 {
		return fmt.Errorf("controller: timeouts must be positive (heartbeat %v, lease %v, margin %v, scan %v, raft %v)",
			c.HeartbeatTimeout, c.BrokerLease, c.LeaseMargin, c.ScanInterval, c.RaftHeartbeatTimeout)
	}
	if c.ElectMasterRetries < 1 {
		return fmt.Errorf("controller: electMasterMaxRetryCount %d is below 1", c.ElectMasterRetries)
	}
	return nil
}

// LoadConfig reads a properties file (namesrv.conf or controller.conf) over
// the defaults. Keys it does not know are logged once and ignored: a name
// server's file holds its own keys too.
func LoadConfig(path string, log *slog.Logger) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("controller config: %w", err)
	}
	defer f.Close()
	cfg := DefaultConfig()
	if err := ParseConfig(f, &cfg, log); err != nil {
		return Config{}, fmt.Errorf("controller config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads "key=value" lines into cfg. Lines starting with '#'
// or '!' are comments; ':' also separates, as in Java properties. Line
// continuations and escapes are not supported (no controller key needs
// them).
func ParseConfig(r io.Reader, cfg *Config, log *slog.Logger) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			return fmt.Errorf("line %d: no '=' in %q", n, line)
		}
		key, val := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		known, err := setKey(cfg, key, val)
		if err != nil {
			return fmt.Errorf("line %d: %s=%q: %w", n, key, val, err)
		}
		if !known && log != nil {
			log.Debug("controller config: key not used by the controller", "key", key)
		}
	}
	return sc.Err()
}

// configKey is one key of the controller's file: how to read it into a
// Config and how to print it back (GET_CONTROLLER_CONFIG).
type configKey struct {
	name string
	set  func(cfg *Config, val string) error
	get  func(cfg *Config) string
}

func millisKey(name string, f func(*Config) *time.Duration) configKey {
	return configKey{name,
		func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			*f(c) = time.Duration(n) * time.Millisecond
			return err
		},
		func(c *Config) string { return strconv.FormatInt(f(c).Milliseconds(), 10) }}
}

func boolKey(name string, f func(*Config) *bool) configKey {
	return configKey{name,
		func(c *Config, v string) (err error) { *f(c), err = confval.ParseBool(v); return err },
		func(c *Config) string { return strconv.FormatBool(*f(c)) }}
}

func stringKey(name string, f func(*Config) *string) configKey {
	return configKey{name,
		func(c *Config, v string) error { *f(c) = v; return nil },
		func(c *Config) string { return *f(c) }}
}

// configKeys lists every key the controller reads, in the order
// GET_CONTROLLER_CONFIG prints them.
var configKeys = []configKey{
	boolKey("enableControllerInNamesrv", func(c *Config) *bool { return &c.EnableInNamesrv }),
	stringKey("controllerDLegerGroup", func(c *Config) *string { return &c.Group }),
	{"controllerDLegerPeers",
		func(c *Config, v string) (err error) { c.Peers, err = ParsePeers(v); return err },
		func(c *Config) string { return FormatPeers(c.Peers) }},
	stringKey("controllerDLegerSelfId", func(c *Config) *string { return &c.SelfID }),
	stringKey("controllerStorePath", func(c *Config) *string { return &c.StorePath }),
	millisKey("controllerHeartBeatTimeoutMills", func(c *Config) *time.Duration { return &c.HeartbeatTimeout }),
	millisKey("brokerLeaseMillis", func(c *Config) *time.Duration { return &c.BrokerLease }),
	millisKey("brokerLeaseMarginMillis", func(c *Config) *time.Duration { return &c.LeaseMargin }),
	millisKey("scanNotActiveBrokerInterval", func(c *Config) *time.Duration { return &c.ScanInterval }),
	millisKey("controllerRaftHeartbeatTimeoutMillis", func(c *Config) *time.Duration { return &c.RaftHeartbeatTimeout }),
	{"electMasterMaxRetryCount",
		func(c *Config, v string) (err error) { c.ElectMasterRetries, err = strconv.Atoi(v); return err },
		func(c *Config) string { return strconv.Itoa(c.ElectMasterRetries) }},
	boolKey("enableElectUncleanMaster", func(c *Config) *bool { return &c.ElectUnclean }),
	boolKey("notifyBrokerRoleChanged", func(c *Config) *bool { return &c.NotifyBrokerRoleChanged }),
}

// IsConfigKey reports whether key is one the controller reads (a name
// server tells the keys of its namesrv.conf that nobody uses with it).
func IsConfigKey(key string) bool {
	for _, k := range configKeys {
		if k.name == key {
			return true
		}
	}
	return false
}

func setKey(cfg *Config, key, val string) (bool, error) {
	for _, k := range configKeys {
		if k.name == key {
			return true, k.set(cfg, val)
		}
	}
	return false, nil
}

// Properties prints cfg as "key=value" lines, every key the controller
// reads (the body of GET_CONTROLLER_CONFIG, as RocketMQ's
// properties2String).
func (c *Config) Properties() []byte {
	var b strings.Builder
	for _, k := range configKeys {
		b.WriteString(k.name)
		b.WriteByte('=')
		b.WriteString(k.get(c))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
