package testkit

import "github.com/wharfmq/wharf/broker/config"

// Sizes for the stores of test servers: small, so that a test broker
// allocates megabytes, not the 1 GiB segment and 420 MiB index files of
// the defaults, and still holds the largest message (4 MiB by default).
const (
	// SegmentSize is the CommitLog segment size (mappedFileSizeCommitLog).
	SegmentSize = 8 << 20
	// IndexSlots and IndexEntries size a key-index file (maxHashSlotNum,
	// maxIndexNum): about 5 MiB.
	IndexSlots, IndexEntries = 1 << 16, 1 << 18
	// Listen is the address test servers listen on: loopback, any port.
	Listen = "127.0.0.1:0"
)

// BrokerConfig is the broker configuration of a test: the defaults,
// listening on Listen, with its store in dir sized as above. brokertest
// and the broker's own tests both start from it.
func BrokerConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Listen = Listen
	cfg.StorePathRootDir = dir
	cfg.MappedFileSizeCommitLog = SegmentSize
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = IndexSlots, IndexEntries
	return cfg
}
