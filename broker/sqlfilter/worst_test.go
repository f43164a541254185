package sqlfilter

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkMatchWorst: an expression at the node and property limits
// against properties that match no term, so every term is evaluated: with
// 32 KiB of properties (the most a record holds) and with a few bytes.
func BenchmarkMatchWorst(b *testing.B) {
	var terms []string
	for i := 0; ; i++ {
		t := fmt.Sprintf("p%d = 'x'", i%MaxProperties)
		if _, err := Compile(strings.Join(append(terms, t, t), " OR ")); err != nil {
			break
		}
		terms = append(terms, t)
	}
	x, err := Compile(strings.Join(terms, " OR "))
	if err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for i := 0; sb.Len() < 32<<10-40; i++ {
		fmt.Fprintf(&sb, "k%d\x01v%d\x02", i, i)
	}
	for _, p := range [][]byte{[]byte(sb.String()), []byte("TAGS\x01A\x02p1\x01y")} {
		b.Run(fmt.Sprintf("props=%d", len(p)), func(b *testing.B) {
			b.Logf("%d nodes, %d names, %d bytes of properties", len(x.nodes), len(x.names), len(p))
			for b.Loop() {
				if x.Match(p) {
					b.Fatal("match")
				}
			}
		})
	}
}
