package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/wharfmq/wharf/engine/commitlog"
)

// Run-dependent parts of the inspect outputs: wall-clock times, durations
// and scan speeds, and the whole-record checksums (they cover the store
// time).
var (
	transcriptCRC      = regexp.MustCompile(`(record checksum|computed|__CRC32# =) "?\d+"?`)
	transcriptTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)
	transcriptScanRate = regexp.MustCompile(`in [0-9.]+[µnm]?s \([0-9]+ MB/s\)`)
	transcriptVerdict  = regexp.MustCompile(`^(OK|FAILED: \d+ problems) \([0-9.]+[µnm]?s\)$`)
)

// TestInspectTranscripts runs the transcripts in testdata/inspect against
// the store populateDir writes (400 records in topics T and Other), one
// fresh store per file:
//
//	wharf ARGS...                 run the command line; $DATA is the data
//	                              directory; prints its output, then any error
//	flip record=I at=N bit=B      flip a bit N bytes into the I-th record put
//
// Times print as <time>, durations and scan rates as <elapsed>, record
// checksums as <crc>.
func TestInspectTranscripts(t *testing.T) {
	datadriven.Walk(t, "testdata/inspect", func(t *testing.T, path string) {
		dir, puts := populateDir(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "wharf":
				var args []string
				for _, a := range d.CmdArgs {
					args = append(args, strings.ReplaceAll(a.String(), "$DATA", dir))
				}
				out, err := run(t, args...)
				if err != nil {
					out += fmt.Sprintf("error: %v\n", err)
				}
				return normalizeTranscript(strings.ReplaceAll(out, dir, "$DATA"))
			case "flip":
				var rec, at, bit int
				d.ScanArgs(t, "record", &rec)
				d.ScanArgs(t, "at", &at)
				d.ScanArgs(t, "bit", &bit)
				phys := puts[rec].res.Phys
				seg := filepath.Join(dir, "commitlog", commitlog.SegmentName(phys-phys%testSegSize))
				data, err := os.ReadFile(seg)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				data[phys%testSegSize+int64(at)] ^= 1 << bit
				if err := os.WriteFile(seg, data, 0o644); err != nil {
					d.Fatalf(t, "%v", err)
				}
				return ""
			}
			d.Fatalf(t, "unknown command %q", d.Cmd)
			return ""
		})
	})
}

func normalizeTranscript(s string) string {
	s = transcriptTime.ReplaceAllString(s, "<time>")
	s = transcriptCRC.ReplaceAllString(s, "$1 <crc>")
	s = transcriptScanRate.ReplaceAllString(s, "in <elapsed>")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if m := transcriptVerdict.FindStringSubmatch(l); m != nil {
			lines[i] = m[1] + " (<elapsed>)"
		}
	}
	return strings.Join(lines, "\n")
}
