// Package confval reads values of Wharf's configuration files (broker.conf,
// namesrv.conf, controller.conf, a tls.config.file, plain_acl.yml) one way
// for all of them.
package confval

import (
	"errors"
	"strings"
)

// ErrNotBool is ParseBool's refusal. It does not repeat the value: callers
// name the file, the line or key and the value.
var ErrNotBool = errors.New("not a boolean: want true or false")

// ParseBool reads a boolean: "true" or "false" in any case, surrounding
// whitespace ignored. Everything else is ErrNotBool.
//
// RocketMQ reads these keys with Java's Boolean.parseBoolean, which takes
// anything but "true" as false, so a typo such as aclEnable=ture silently
// turns a feature off. Wharf refuses instead. It refuses Go's extra forms
// too (strconv.ParseBool's 1, t, F, ...): Java reads "1" as false and Go as
// true, and a file must not mean the opposite to Wharf of what it means to
// RocketMQ.
func ParseBool(s string) (bool, error) {
	switch s = strings.TrimSpace(s); {
	case strings.EqualFold(s, "true"):
		return true, nil
	case strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, ErrNotBool
}
