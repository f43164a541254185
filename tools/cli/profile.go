package cli

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// addProfileFlag gives cmd a --cpuprofile flag: the command's whole run is
// profiled into the file (servers: until they stop on a signal).
func addProfileFlag(cmd *cobra.Command) {
	var path string
	var f *os.File
	cmd.Flags().StringVar(&path, "cpuprofile", "", "write a CPU profile of this process to the file")
	pre, post := cmd.PreRunE, cmd.PostRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if path != "" {
			var err error
			if f, err = os.Create(path); err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				f.Close()
				return fmt.Errorf("cpuprofile: %w", err)
			}
		}
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
	cmd.PostRunE = func(c *cobra.Command, args []string) error {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if post != nil {
			return post(c, args)
		}
		return nil
	}
}
