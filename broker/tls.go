package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/wharfmq/wharf/broker/config"
	"github.com/wharfmq/wharf/internal/wiretls"
)

// brokerTLS is the broker's TLS: one gatekeeper per listening port, both
// in tls.server.mode, and the configuration of its own connections.
type brokerTLS struct {
	remoting, ha *wiretls.Server
	client       *tls.Config // nil: plaintext (tls.enable=false)
}

// newBrokerTLS reads tls.config.file, if named, into cfg.TLS and loads the
// certificates: a missing or bad file stops the broker here, with an error
// that names it.
func newBrokerTLS(cfg *config.Config, log *slog.Logger) (brokerTLS, error) {
	var t brokerTLS
	if err := cfg.TLS.LoadConfigFile(); err != nil {
		return t, fmt.Errorf("broker: %w", err)
	}
	srv, err := cfg.TLS.ServerConfig()
	if err != nil {
		return t, fmt.Errorf("broker: %w", err)
	}
	if t.client, err = cfg.TLS.ClientConfig(); err != nil {
		return t, fmt.Errorf("broker: %w", err)
	}
	if t.remoting, err = wiretls.NewServer(cfg.TLS.Mode, srv, "remoting", log); err != nil {
		return t, fmt.Errorf("broker: %w", err)
	}
	if t.ha, err = wiretls.NewServer(cfg.TLS.Mode, srv, "ha", log); err != nil {
		return t, fmt.Errorf("broker: %w", err)
	}
	if cfg.TLS.Mode != wiretls.Disabled || cfg.TLS.Enable {
		log.Info("broker: TLS", "settings", cfg.TLS.String())
	}
	return t, nil
}
