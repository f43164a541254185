// Command wharf runs Wharf's name server and broker; see `wharf --help`.
package main

import (
	"os"

	"github.com/wharfmq/wharf/tools/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		os.Exit(1)
	}
}
