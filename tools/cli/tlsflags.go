package cli

import (
	"crypto/tls"

	"github.com/spf13/pflag"
	"github.com/wharfmq/wharf/internal/wiretls"
)

// tlsFlags are the client-side TLS flags of admin and bench.
type tlsFlags struct {
	on    bool
	trust string
}

func (f *tlsFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.on, "tls", false, "connect with TLS (the server's certificate is not verified unless --tls-trust is given, as the Go client's WithTls)")
	fs.StringVar(&f.trust, "tls-trust", "", "PEM file of the CAs that sign the servers' certificates: verify them (implies --tls)")
}

// config returns the TLS configuration, nil for plaintext.
func (f *tlsFlags) config() (*tls.Config, error) {
	if !f.on && f.trust == "" {
		return nil, nil
	}
	return wiretls.ClientConfigFor(f.trust)
}
