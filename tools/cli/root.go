// Package cli holds the wharf command line: one cobra command per file.
package cli

import (
	"github.com/spf13/cobra"
)

// NewRoot builds the wharf root command.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "wharf",
		Short:         "Wharf: a RocketMQ-compatible message broker in one binary",
		SilenceUsage:  true,
		SilenceErrors: false,
		// --version prints the same line as `wharf version`.
		Version: readBuildInfo().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.AddCommand(newNamesrv(), newController(), newBroker(), newStandalone(), newInspect(), newReplay(), newCompact(), newBench(), newAdmin(), newProduce(), newConsume(), newVersion(), newDashboard())
	for _, c := range root.Commands() {
		if c.Name() == "broker" || c.Name() == "standalone" || c.Name() == "namesrv" {
			addProfileFlag(c)
		}
	}
	return root
}
