package remoting

import (
	"errors"
)

// tlsHandshakeRecord is the first byte of a TLS connection (a handshake
// record). A frame begins with its length, whose first byte is 0x00 below
// 16 MiB, so a first byte of 0x16 is a TLS client, never a frame.
const tlsHandshakeRecord = 0x16

// errTLSOnPlaintext ends a plaintext server connection whose peer began a
// TLS handshake.
var errTLSOnPlaintext = errors.New("remoting: TLS handshake on a plaintext port")
