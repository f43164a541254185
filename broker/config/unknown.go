package config

import (
	"io"
	"log/slog"
)

// UnknownKeys reports the keys of a properties file that the server reading
// it does not use: once per key, as a warning naming the file, the key and
// the line it is first on. The broker reports broker.conf's, the name server
// namesrv.conf's.
type UnknownKeys struct {
	file   string
	logger *slog.Logger
	seen   map[string]bool
}

// NewUnknownKeys returns a reporter for file (the name the warning gives,
// such as "broker.conf"); logger may be nil (slog.Default()).
func NewUnknownKeys(file string, logger *slog.Logger) *UnknownKeys {
	if logger == nil {
		logger = slog.Default()
	}
	return &UnknownKeys{file: file, logger: logger, seen: map[string]bool{}}
}

// Report warns about key, found on line lineNo, unless it was reported
// before.
func (u *UnknownKeys) Report(lineNo int, key string) {
	if u.seen[key] {
		return
	}
	u.seen[key] = true
	u.logger.Warn(u.file+": unknown or unsupported key ignored", "key", key, "line", lineNo)
}

// ReadPropertiesFunc calls fn with each key and value of Java properties
// text and the line each ends on, as Parse reads broker.conf (see
// readProperties).
func ReadPropertiesFunc(r io.Reader, fn func(lineNo int, key, value string) error) error {
	return readProperties(r, fn)
}
