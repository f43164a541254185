package wiretls

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/wharfmq/wharf/internal/confval"
)

// Mode is a server mode (tls.server.mode).
type Mode int

// The server modes; see the package documentation.
const (
	Disabled Mode = iota
	Permissive
	Enforcing
)

// String returns the mode as tls.server.mode spells it.
func (m Mode) String() string {
	switch m {
	case Permissive:
		return "permissive"
	case Enforcing:
		return "enforcing"
	}
	return "disabled"
}

// ParseMode parses a tls.server.mode value, in any case.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "disabled", "":
		return Disabled, nil
	case "permissive":
		return Permissive, nil
	case "enforcing":
		return Enforcing, nil
	}
	return Disabled, fmt.Errorf("tls.server.mode %q: want disabled, permissive or enforcing", s)
}

// Client-certificate policies of a server (tls.server.need.client.auth).
const (
	ClientAuthNone     = "none"
	ClientAuthOptional = "optional"
	ClientAuthRequire  = "require"
)

// Settings holds the TLS keys of one process, server and client side. The
// zero value is TLS off on both sides.
type Settings struct {
	// Mode is tls.server.mode.
	Mode Mode
	// ServerCertPath and ServerKeyPath are the PEM certificate chain and
	// private key of the server side (tls.server.certPath,
	// tls.server.keyPath).
	ServerCertPath, ServerKeyPath string
	// ServerKeyPassword is tls.server.keyPassword: accepted, but an
	// encrypted key is refused at start (see the package documentation).
	ServerKeyPassword string
	// ServerTrustCertPath holds the CAs that sign client certificates
	// (tls.server.trustCertPath); empty means the system's.
	ServerTrustCertPath string
	// ServerNeedClientAuth is none, optional or require
	// (tls.server.need.client.auth, none): whether a client must present
	// a certificate.
	ServerNeedClientAuth string
	// ServerAuthClient verifies a presented client certificate against
	// ServerTrustCertPath (tls.server.authClient, false: any certificate
	// is taken, as RocketMQ does).
	ServerAuthClient bool

	// Enable makes this process's outgoing connections (to name servers,
	// the master's HA port, controllers) use TLS (tls.enable).
	Enable bool
	// ClientCertPath and ClientKeyPath are the certificate offered to a
	// server that asks for one (tls.client.certPath, tls.client.keyPath).
	ClientCertPath, ClientKeyPath string
	// ClientKeyPassword is tls.client.keyPassword, as ServerKeyPassword.
	ClientKeyPassword string
	// ClientTrustCertPath holds the CAs that sign server certificates
	// (tls.client.trustCertPath); empty means the system's.
	ClientTrustCertPath string
	// ClientAuthServer verifies the server's certificate
	// (tls.client.authServer, false: not verified, as RocketMQ does).
	ClientAuthServer bool

	// TestMode is tls.test.mode.enable (RocketMQ defaults it to true,
	// Wharf to false): the server uses a self-signed certificate made at
	// start and no certificate files, and the client verifies nothing.
	TestMode bool
	// ConfigFile is tls.config.file: a properties file of the keys above
	// (except tls.server.mode and tls.enable, as in RocketMQ) read by
	// LoadConfigFile, its values over those set before.
	ConfigFile string
}

// IsTLSKey reports whether key is one of the keys Set takes.
func IsTLSKey(key string) bool {
	var s Settings
	known, _ := s.Set(key, "")
	return known
}

// Set applies one property. It returns false for a key that is not a TLS
// key, and an error for a malformed value of one.
func (s *Settings) Set(key, value string) (known bool, err error) {
	value = strings.TrimSpace(value)
	// Not Java's Boolean.parseBoolean, which reads a typo as false: see
	// confval.ParseBool.
	boolean := func(b *bool) { *b, err = confval.ParseBool(value) }
	switch key {
	case "tls.server.mode":
		s.Mode, err = ParseMode(value)
	case "tls.enable":
		boolean(&s.Enable)
	case "tls.config.file":
		s.ConfigFile = value
	case "tls.test.mode.enable":
		boolean(&s.TestMode)
	case "tls.server.certPath":
		s.ServerCertPath = value
	case "tls.server.keyPath":
		s.ServerKeyPath = value
	case "tls.server.keyPassword":
		s.ServerKeyPassword = value
	case "tls.server.trustCertPath":
		s.ServerTrustCertPath = value
	case "tls.server.need.client.auth":
		s.ServerNeedClientAuth, err = parseClientAuth(value)
	case "tls.server.authClient":
		// RocketMQ's is a boolean; none|optional|require is also taken
		// here, as need.client.auth with verification (a shorthand).
		switch v := strings.ToLower(value); v {
		case ClientAuthNone, ClientAuthOptional, ClientAuthRequire:
			s.ServerNeedClientAuth, s.ServerAuthClient = v, v != ClientAuthNone
		default:
			if s.ServerAuthClient, err = confval.ParseBool(value); err != nil {
				err = errors.New("want true, false, none, optional or require")
			}
		}
	case "tls.client.certPath":
		s.ClientCertPath = value
	case "tls.client.keyPath":
		s.ClientKeyPath = value
	case "tls.client.keyPassword":
		s.ClientKeyPassword = value
	case "tls.client.trustCertPath":
		s.ClientTrustCertPath = value
	case "tls.client.authServer":
		boolean(&s.ClientAuthServer)
	default:
		return false, nil
	}
	return true, err
}

func parseClientAuth(v string) (string, error) {
	switch v = strings.ToLower(v); v {
	case "", ClientAuthNone:
		return ClientAuthNone, nil
	case ClientAuthOptional, ClientAuthRequire:
		return v, nil
	}
	return "", fmt.Errorf("%q: want none, optional or require", v)
}

// LoadConfigFile applies the keys of ConfigFile, if set, over s. Its
// tls.server.mode and tls.enable are ignored, as RocketMQ ignores them
// there; other keys are ignored too. A missing file is an error (RocketMQ
// skips it silently; Wharf reads the file only when it is named).
func (s *Settings) LoadConfigFile() error {
	if s.ConfigFile == "" {
		return nil
	}
	mode, enable := s.Mode, s.Enable
	err := ReadFile(s.ConfigFile, s)
	s.Mode, s.Enable = mode, enable
	return err
}

// ReadFile applies the TLS keys of a properties file ("key=value" or
// "key: value" lines, '#' and '!' comments) to s and skips every other
// key: a name server reads its TLS keys from its namesrv.conf with it.
func ReadFile(path string, s *Settings) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tls: config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue // a key without value; not one of ours
		}
		key, val := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		if _, err := s.Set(key, val); err != nil {
			return fmt.Errorf("tls: config %s: line %d: %s=%q: %w", path, n, key, val, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tls: config %s: %w", path, err)
	}
	return nil
}

// Validate checks what can be checked without reading files. The
// certificate keys may still come from ConfigFile: they are checked again
// when ServerConfig runs after LoadConfigFile.
func (s *Settings) Validate() error {
	if s.Mode == Disabled || s.TestMode || s.ConfigFile != "" {
		return nil
	}
	var missing []string
	if s.ServerCertPath == "" {
		missing = append(missing, "tls.server.certPath")
	}
	if s.ServerKeyPath == "" {
		missing = append(missing, "tls.server.keyPath")
	}
	if len(missing) > 0 {
		return fmt.Errorf("tls: tls.server.mode=%v needs %s (or tls.test.mode.enable=true for a self-signed certificate)",
			s.Mode, strings.Join(missing, " and "))
	}
	return nil
}

// errEncryptedKey is returned for a password-protected private key.
var errEncryptedKey = errors.New("the private key is encrypted, which Wharf does not support: decrypt it first (openssl pkcs8 -in KEY -out PLAIN.pem, or openssl ec/rsa)")

// formatBool is strconv.FormatBool, for String.
var formatBool = strconv.FormatBool

// String lists the settings without secrets, for the start-up log.
func (s *Settings) String() string {
	return "mode=" + s.Mode.String() + " enable=" + formatBool(s.Enable) + " testMode=" + formatBool(s.TestMode) +
		" serverCert=" + s.ServerCertPath + " needClientAuth=" + s.ServerNeedClientAuth +
		" authClient=" + formatBool(s.ServerAuthClient) + " authServer=" + formatBool(s.ClientAuthServer)
}
