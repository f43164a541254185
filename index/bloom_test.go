package index

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestTagBloomNoFalseNegatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := NewTagBloom(100_000, DefaultBloomFPRate)
	hashes := make([]int64, 100_000)
	for i := range hashes {
		hashes[i] = int64(int32(rng.Uint32())) // sign-extended Java hashCodes
		b.Add(hashes[i])
	}
	for _, h := range hashes {
		if !b.MayContain(h) {
			t.Fatalf("false negative for %d", h)
		}
	}
}

func TestTagBloomFalsePositiveRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, target := range []float64{DefaultBloomFPRate, 0.001} {
		b := NewTagBloom(DefaultBloomBlock, target)
		added := map[int64]bool{}
		for len(added) < DefaultBloomBlock {
			h := int64(int32(rng.Uint32()))
			added[h] = true
			b.Add(h)
		}
		const probes = 200_000
		fp, n := 0, 0
		for n < probes {
			h := int64(int32(rng.Uint32()))
			if added[h] {
				continue
			}
			n++
			if b.MayContain(h) {
				fp++
			}
		}
		rate := float64(fp) / probes
		p, _ := b.MarshalBinary()
		t.Logf("target %.3f: measured %.4f over %d probes, %d tags, filter %d bytes", target, rate, probes, DefaultBloomBlock, len(p))
		if rate > 2*target || rate < target/4 {
			t.Errorf("target %.3f: measured fp rate %.4f", target, rate)
		}
	}
}

func TestTagBloomMayContainAny(t *testing.T) {
	b := NewTagBloom(10, DefaultBloomFPRate)
	b.Add(111)
	b.Add(-222)
	if !b.MayContainAny([]int64{5, -222}) || !b.MayContainAny([]int64{111}) {
		t.Fatal("MayContainAny missed an added hash")
	}
	if b.MayContainAny(nil) {
		t.Fatal("MayContainAny(nil) = true")
	}
	// Small, sparse filter: 50 absent hashes all answered yes would mean a
	// broken filter, not bad luck.
	yes := 0
	for h := int64(1000); h < 1050; h++ {
		if b.MayContainAny([]int64{h, h + 1_000_000}) {
			yes++
		}
	}
	if yes > 10 {
		t.Fatalf("%d of 50 absent pairs matched", yes)
	}
}

func TestTagBloomMarshalRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []uint{0, 1, 7, 64, DefaultBloomBlock} {
		b := NewTagBloom(n, DefaultBloomFPRate)
		var added []int64
		for i := uint(0); i < n; i++ {
			h := int64(int32(rng.Uint32()))
			added = append(added, h)
			b.Add(h)
		}
		p, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		c, err := UnmarshalTagBloom(p)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for _, h := range added {
			if !c.MayContain(h) {
				t.Fatalf("n=%d: round trip lost %d", n, h)
			}
		}
		for i := 0; i < 1000; i++ {
			h := int64(int32(rng.Uint32()))
			if b.MayContain(h) != c.MayContain(h) {
				t.Fatalf("n=%d: answers differ for %d", n, h)
			}
		}
		q, _ := c.MarshalBinary()
		if !bytes.Equal(p, q) {
			t.Fatalf("n=%d: re-marshal differs", n)
		}
	}
}

func TestTagBloomUnmarshalGarbage(t *testing.T) {
	good, _ := NewTagBloom(100, DefaultBloomFPRate).MarshalBinary()
	mut := func(f func(p []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	cases := map[string][]byte{
		"nil":     nil,
		"short":   good[:10],
		"version": mut(func(p []byte) []byte { p[0] = 9; return p }),
		"m=0":     mut(func(p []byte) []byte { binary.BigEndian.PutUint64(p[1:], 0); return p }),
		"huge m": mut(func(p []byte) []byte {
			binary.BigEndian.PutUint64(p[1:], 1<<62)
			binary.BigEndian.PutUint64(p[17:], 1<<62)
			return p
		}),
		"k=0":       mut(func(p []byte) []byte { binary.BigEndian.PutUint64(p[9:], 0); return p }),
		"huge k":    mut(func(p []byte) []byte { binary.BigEndian.PutUint64(p[9:], 1<<40); return p }),
		"len!=m":    mut(func(p []byte) []byte { binary.BigEndian.PutUint64(p[17:], 5); return p }),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
	}
	for name, p := range cases {
		if _, err := UnmarshalTagBloom(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := 0; i < 2000; i++ {
		p := make([]byte, rng.IntN(64))
		for j := range p {
			p[j] = byte(rng.IntN(256))
		}
		if b, err := UnmarshalTagBloom(p); err == nil {
			b.MayContain(1)
		}
	}
}
