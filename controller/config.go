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
	// is Raft's heartbeat and election timeout; the leader lease timeout is
	// half of it.
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
			return fmt.Errorf("line %d: %s: %w", n, key, err)
		}
		if !known && log != nil {
			log.Debug("controller config: key not used by the controller", "key", key)
		}
	}
	return sc.Err()
}

func setKey(cfg *Config, key, val string) (bool, error) {
	var err error
	ms := func(d *time.Duration) {
		var v int64
		v, err = strconv.ParseInt(val, 10, 64)
		*d = time.Duration(v) * time.Millisecond
	}
	boolean := func(b *bool) { *b, err = strconv.ParseBool(val) }
	switch key {
	case "enableControllerInNamesrv":
		boolean(&cfg.EnableInNamesrv)
	case "controllerDLegerGroup":
		cfg.Group = val
	case "controllerDLegerPeers":
		cfg.Peers, err = ParsePeers(val)
	case "controllerDLegerSelfId":
		cfg.SelfID = val
	case "controllerStorePath":
		cfg.StorePath = val
	case "controllerHeartBeatTimeoutMills":
		ms(&cfg.HeartbeatTimeout)
	case "brokerLeaseMillis":
		ms(&cfg.BrokerLease)
	case "brokerLeaseMarginMillis":
		ms(&cfg.LeaseMargin)
	case "scanNotActiveBrokerInterval":
		ms(&cfg.ScanInterval)
	case "controllerRaftHeartbeatTimeoutMillis":
		ms(&cfg.RaftHeartbeatTimeout)
	case "electMasterMaxRetryCount":
		cfg.ElectMasterRetries, err = strconv.Atoi(val)
	case "enableElectUncleanMaster":
		boolean(&cfg.ElectUnclean)
	case "notifyBrokerRoleChanged":
		boolean(&cfg.NotifyBrokerRoleChanged)
	default:
		return false, nil
	}
	return true, err
}
