package config

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// TestParseJavaEscapes: broker.conf values and keys read as
// java.util.Properties.load reads them, so a file RocketMQ accepts gives
// the same settings (regionId is a free-form string key).
func TestParseJavaEscapes(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"escaped backslash", `regionId=C:\\data\\store`, `C:\data\store`},
		{"unicode escape", `regionId=broker\u002Da\u00e9`, "broker-a\u00e9"},
		{"surrogate pair", `regionId=\uD83D\uDE00`, "\U0001F600"},
		{"control escapes", `regionId=a\tb\nc\rd\fe`, "a\tb\nc\rd\fe"},
		{"other escapes stand for themselves", `regionId=\#\!\=\:\ x\q`, "#!=: xq"},
		{"escaped trailing space kept", `regionId=abc\ `, "abc "},
		{"unescaped trailing space dropped", "regionId=abc \t", "abc"},
		{"escaped key", `region\Id=k`, "k"},
		{"unicode-escaped key", `region\u0049d=u`, "u"},
		{"one separator only", "regionId = = x", "= x"},
		{"colon and spaces", "regionId :  y", "y"},
		{"space separator", "regionId\t z", "z"},
		{"continuation drops next line's indent", "regionId=a\\\n   b", "ab"},
		{"three backslashes continue", "regionId=a\\\\\\\n b", `a\b`},
		{"two backslashes do not continue", "regionId=a\\\\\nregionId2=b", `a\`},
		{"continued line starting with #", "regionId=a\\\n#b", "a#b"},
		{"comment does not continue", "#regionId=no\\\nregionId=c", "c"},
		{"continued line at the end of the file", "regionId=end\\", "end"},
		{"CRLF lines", "regionId=crlf\r\nbrokerName=b\r\n", "crlf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			if err := Parse(strings.NewReader(tc.in), &cfg, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			if cfg.RegionID != tc.want {
				t.Fatalf("regionId %q, want %q", cfg.RegionID, tc.want)
			}
		})
	}
	// A malformed \uXXXX is an error naming the line, as Java refuses it.
	for _, in := range []string{`regionId=\u12`, `regionId=\uZZZZ`, `region\u00=x`} {
		cfg := Default()
		err := Parse(strings.NewReader("\n"+in+"\n"), &cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), `\u`) {
			t.Errorf("%q: error %v, want one naming line 2 and the escape", in, err)
		}
	}
}

// TestReadProperties: the keys and values of the properties syntax,
// separators escaped in keys included.
func TestReadProperties(t *testing.T) {
	in := "a\\:b=1\nkey\\ with\\ spaces : 2\nc\\=d 3\nalone\n  \n! bang comment\nempty=\nx=y=z\n"
	var got []string
	err := readProperties(strings.NewReader(in), func(_ int, k, v string) error {
		got = append(got, k+"|"+v)
		return nil
	})
	want := []string{"a:b|1", "key with spaces|2", "c=d|3", "alone|", "empty|", "x|y=z"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q %v\nwant %q", got, err, want)
	}
}

// FuzzParse: no broker.conf makes the loader panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"regionId=a\\\n b", `regionId=\uD83D\uDE00`, `a\:b=\u12`, "x\\", "#c\\\n!d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cfg := Default()
		_ = Parse(strings.NewReader(in), &cfg, slog.New(slog.DiscardHandler))
	})
}
