package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/spf13/cobra"
)

// logSetup is how logger builds its handler: set once by a server
// command's --log-format and --log-level before it runs.
type logSetup struct {
	json  bool
	level slog.Level
}

var logConf atomic.Pointer[logSetup]

// logger is the server commands' logger, on stderr, as --log-format and
// --log-level say (text at info by default).
func logger() *slog.Logger { return newLogger(os.Stderr) }

func newLogger(w io.Writer) *slog.Logger {
	ls := logConf.Load()
	if ls == nil {
		ls = &logSetup{}
	}
	opts := &slog.HandlerOptions{Level: ls.level}
	if ls.json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// addLogFlags gives a server command --log-format and --log-level.
func addLogFlags(cmd *cobra.Command) {
	format, level := "text", "info"
	cmd.Flags().StringVar(&format, "log-format", format, "log format on stderr: text or json")
	cmd.Flags().StringVar(&level, "log-level", level, "least level logged: debug, info, warn or error")
	pre := cmd.PreRunE
	cmd.PreRunE = func(c *cobra.Command, args []string) error {
		ls, err := parseLogFlags(format, level)
		if err != nil {
			return err
		}
		logConf.Store(ls)
		if pre != nil {
			return pre(c, args)
		}
		return nil
	}
}

func parseLogFlags(format, level string) (*logSetup, error) {
	ls := &logSetup{}
	switch format {
	case "text":
	case "json":
		ls.json = true
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	if err := ls.level.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return ls, nil
}
