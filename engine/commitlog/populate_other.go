//go:build !linux

package commitlog

import "errors"

// populate is unsupported without MADV_POPULATE_READ: stores into the
// mapping fault their pages in themselves.
func populate([]byte) error { return errors.ErrUnsupported }
