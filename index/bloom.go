package index

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bits-and-blooms/bloom/v3"
)

const (
	// DefaultBloomBlock is the number of consume-queue entries one tag
	// filter covers. 1,024 entries are 20 KiB of consume queue: big enough
	// that a filter (about 1.2 KiB at the default rate) is small beside what
	// it lets a pull skip, small enough that a sparse tag still rules out
	// most blocks of a busy queue.
	DefaultBloomBlock = 1024

	// DefaultBloomFPRate is the target false-positive rate. A false positive
	// only costs reading one block that holds no match; at 1 % that waste is
	// noise next to the matching blocks, and the filter needs ~9.6 bits and
	// 7 hash probes per tag. Going to 0.1 % would add half again the size
	// for little gain.
	DefaultBloomFPRate = 0.01

	bloomVersion = 1
	// maxBloomK bounds the probes a decoded filter may ask for, so a damaged
	// filter cannot make MayContain slow.
	maxBloomK = 64
	// maxBloomBits bounds a decoded filter's size (64 MiB of bits).
	maxBloomBits = 1 << 29
)

// TagBloom is a Bloom filter over tag hash codes (Java String.hashCode of
// the tag, sign-extended to int64, as consume-queue entries store them) for
// one block of a consume queue. It is not safe for concurrent Add.
//
// Serialized form (MarshalBinary): one version byte (1), then the bloom/v3
// binary form: m (uint64, bits), k (uint64, probes), the bitset length
// (uint64, = m) and ceil(m/64) big-endian uint64 words.
type TagBloom struct {
	f *bloom.BloomFilter
}

// NewTagBloom returns a filter sized for expected distinct tags at the
// false-positive rate fpRate. Out-of-range arguments fall back to 1 tag and
// DefaultBloomFPRate.
func NewTagBloom(expected uint, fpRate float64) *TagBloom {
	if expected == 0 {
		expected = 1
	}
	if !(fpRate > 0 && fpRate < 1) {
		fpRate = DefaultBloomFPRate
	}
	return &TagBloom{f: bloom.NewWithEstimates(expected, fpRate)}
}

// Add adds a tag hash.
func (b *TagBloom) Add(tagHash int64) {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(tagHash))
	b.f.Add(k[:])
}

// MayContain reports whether tagHash may have been added; false is certain.
func (b *TagBloom) MayContain(tagHash int64) bool {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], uint64(tagHash))
	return b.f.Test(k[:])
}

// MayContainAny reports whether any of hashes may have been added (a
// subscription to "TagA || TagB"). It is false for no hashes.
func (b *TagBloom) MayContainAny(hashes []int64) bool {
	for _, h := range hashes {
		if b.MayContain(h) {
			return true
		}
	}
	return false
}

// MarshalBinary returns the serialized filter.
func (b *TagBloom) MarshalBinary() ([]byte, error) {
	p, err := b.f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("index: marshal tag bloom: %w", err)
	}
	return append([]byte{bloomVersion}, p...), nil
}

var errBadBloom = errors.New("index: bad tag bloom")

// UnmarshalTagBloom parses what MarshalBinary returned. Damaged input gets an
// error; sizes are checked before anything is allocated.
func UnmarshalTagBloom(p []byte) (*TagBloom, error) {
	const fixed = 1 + 3*8
	if len(p) < fixed {
		return nil, fmt.Errorf("%w: %d bytes", errBadBloom, len(p))
	}
	if p[0] != bloomVersion {
		return nil, fmt.Errorf("%w: version %d", errBadBloom, p[0])
	}
	m := binary.BigEndian.Uint64(p[1:])
	k := binary.BigEndian.Uint64(p[9:])
	length := binary.BigEndian.Uint64(p[17:])
	switch {
	case m == 0 || m > maxBloomBits:
		return nil, fmt.Errorf("%w: %d bits", errBadBloom, m)
	case k == 0 || k > maxBloomK:
		return nil, fmt.Errorf("%w: %d probes", errBadBloom, k)
	case length != m:
		return nil, fmt.Errorf("%w: bitset of %d bits for m = %d", errBadBloom, length, m)
	case uint64(len(p)-fixed) != (m+63)/64*8:
		return nil, fmt.Errorf("%w: %d bytes of bits for m = %d", errBadBloom, len(p)-fixed, m)
	}
	f := &bloom.BloomFilter{}
	if err := f.UnmarshalBinary(p[1:]); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadBloom, err)
	}
	return &TagBloom{f: f}, nil
}
