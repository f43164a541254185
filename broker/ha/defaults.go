package ha

import "time"

// RocketMQ 4.9.8's defaults for the HA keys (MessageStoreConfig), which a
// Wharf broker uses when its configuration does not set them.
const (
	// DefaultHeartbeatInterval is haSendHeartbeatInterval: a side that has
	// written nothing for this long sends a report (slave) or an empty
	// frame (master).
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultHousekeepingInterval is haHousekeepingInterval: a connection
	// with nothing read for this long is closed.
	DefaultHousekeepingInterval = 20 * time.Second
	// DefaultTransferBatchSize is haTransferBatchSize: the largest frame
	// body a master sends.
	DefaultTransferBatchSize = 32 << 10
	// DefaultSlaveFallbehindMax is haSlaveFallbehindMax: a slave whose
	// acknowledged offset is this far or further behind the master's end
	// does not count as in sync.
	DefaultSlaveFallbehindMax = 256 << 20
	// DefaultSlaveTimeout is slaveTimeout: how long a SYNC_MASTER send
	// waits for a slave's acknowledgement.
	DefaultSlaveTimeout = 3 * time.Second
)

// DefaultCatchUpBatchSize is Wharf's haCatchUpBatchSize: the largest
// frame body a master sends a slave that is a batch or more behind. On
// the dev box a slave catching up on 1 KiB records took 1 MiB frames at
// about 1.3x the rate of 32 KiB ones, spending less CPU per byte (one
// pwrite and one report per frame); a RocketMQ slave reads frames of up
// to 4 MiB.
const DefaultCatchUpBatchSize = 1 << 20

// DefaultMaxHold is Wharf's bound on how long a master holds a short frame
// while the slave has not reported the frames before it (MasterOptions.
// MaxHold): about three replication round trips on loopback under load,
// far below slaveTimeout.
const DefaultMaxHold = time.Millisecond

// DefaultMaxUntrusted is Wharf's bound on the HA connections a master
// keeps open at once from peers the name servers do not list as its
// slaves (MasterOptions.MaxUntrusted): room for slaves whose registration
// the master has not seen yet, or that connect through NAT, while a
// flood of strangers is turned away.
const DefaultMaxUntrusted = 16

// AdmitUntrusted reports whether c, a connection from a peer that is not
// a listed replica, may stay open: fewer than max of the other
// connections in conns are untrusted. Both masters (classic and
// AutoSwitch) ask it, under the lock that guards conns.
func AdmitUntrusted[C comparable](conns map[C]struct{}, c C, trusted func(C) bool, max int) bool {
	n := 0
	for x := range conns {
		if x != c && !trusted(x) {
			n++
		}
	}
	return n < max
}
