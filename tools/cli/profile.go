package cli

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"

	"github.com/spf13/cobra"
)

// addProfileFlag gives cmd --cpuprofile and --trace flags: the command's
// whole run is profiled, or traced with runtime/trace, into the file
// (servers: until they stop on a signal). The trace shows where a request
// waits (scheduling, network, fsync), which a CPU profile cannot.
func addProfileFlag(cmd *cobra.Command) {
	var cpuPath, tracePath string
	var cpuFile, traceFile *os.File
	cmd.Flags().StringVar(&cpuPath, "cpuprofile", "", "write a CPU profile of this process to the file")
	cmd.Flags().StringVar(&tracePath, "trace", "", "write a runtime execution trace of this process to the file")
	pre, post := cmd.PreRunE, cmd.PostRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		if cpuPath != "" {
			var err error
			if cpuFile, err = os.Create(cpuPath); err != nil {
				return fmt.Errorf("cpuprofile: %w", err)
			}
			if err := pprof.StartCPUProfile(cpuFile); err != nil {
				cpuFile.Close()
				cpuFile = nil
				return fmt.Errorf("cpuprofile: %w", err)
			}
		}
		if tracePath != "" {
			var err error
			if traceFile, err = os.Create(tracePath); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
			if err := trace.Start(traceFile); err != nil {
				traceFile.Close()
				traceFile = nil
				return fmt.Errorf("trace: %w", err)
			}
		}
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
	cmd.PostRunE = func(c *cobra.Command, args []string) error {
		var errs []error
		if cpuFile != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpuFile.Close())
		}
		if traceFile != nil {
			trace.Stop()
			errs = append(errs, traceFile.Close())
		}
		if post != nil {
			errs = append(errs, post(c, args))
		}
		return errors.Join(errs...)
	}
}
