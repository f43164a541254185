package cli

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// Set at link time by `make release` (-ldflags "-X
// github.com/wharfmq/wharf/tools/cli.stampedVersion=v1.2.3" and so on);
// empty in other builds, which report what the Go toolchain recorded (the
// module version, and the VCS revision and time when it stamped them).
var (
	stampedVersion  string
	stampedRevision string
	stampedTime     string
)

// BuildInfo is what `wharf version` reports.
type BuildInfo struct {
	Version   string `json:"version"`
	Module    string `json:"module"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"time,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// readBuildInfo reads the binary's build information.
func readBuildInfo() BuildInfo {
	bi := BuildInfo{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		bi.Module, bi.GoVersion = info.Main.Path, info.GoVersion
		if info.Main.Version != "" {
			bi.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				bi.Revision = s.Value
			case "vcs.time":
				bi.Time = s.Value
			case "vcs.modified":
				bi.Modified = s.Value == "true"
			}
		}
	}
	if stampedVersion != "" {
		bi.Version = stampedVersion
	}
	if stampedRevision != "" {
		bi.Revision, bi.Time, bi.Modified = stampedRevision, stampedTime, strings.HasSuffix(stampedVersion, "-dirty")
	}
	return bi
}

// String is the one-line form: version, revision (with "+dirty" when the
// tree was modified), commit time, Go version and platform.
func (b BuildInfo) String() string {
	s := "wharf " + b.Version
	if b.Revision != "" {
		rev := b.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if b.Modified {
			rev += "+dirty"
		}
		s += " (" + rev
		if b.Time != "" {
			s += " " + b.Time
		}
		s += ")"
	}
	return s + " " + b.GoVersion + " " + b.Platform
}

func newVersion() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, VCS revision and time, and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi := readBuildInfo()
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(bi)
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), bi)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
