package wiretls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// ServerConfig returns the tls.Config of a listening port, or nil when
// the mode is Disabled. Every file problem is an error naming the key and
// the file, so a broker that cannot serve TLS as configured does not start.
func (s *Settings) ServerConfig() (*tls.Config, error) {
	if s.Mode == Disabled {
		return nil, nil
	}
	file := *s
	file.ConfigFile = "" // read already: the keys must be here now
	if err := file.Validate(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TestMode {
		cert, err := SelfSigned()
		if err != nil {
			return nil, err
		}
		// RocketMQ's test mode asks for a client certificate but takes
		// any, or none.
		cfg.Certificates = []tls.Certificate{cert}
		cfg.ClientAuth = tls.RequestClientCert
		return cfg, nil
	}
	cert, err := loadKeyPair("tls.server", s.ServerCertPath, s.ServerKeyPath)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	need, err := parseClientAuth(s.ServerNeedClientAuth)
	if err != nil {
		return nil, fmt.Errorf("tls: tls.server.need.client.auth %w", err)
	}
	switch {
	case need == ClientAuthNone:
		cfg.ClientAuth = tls.NoClientCert
	case need == ClientAuthOptional && s.ServerAuthClient:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case need == ClientAuthOptional:
		cfg.ClientAuth = tls.RequestClientCert
	case s.ServerAuthClient:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		cfg.ClientAuth = tls.RequireAnyClientCert
	}
	if s.ServerAuthClient && s.ServerTrustCertPath != "" {
		if cfg.ClientCAs, err = loadPool("tls.server.trustCertPath", s.ServerTrustCertPath); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// ClientConfig returns the tls.Config of outgoing connections, or nil
// when tls.enable is off.
func (s *Settings) ClientConfig() (*tls.Config, error) {
	if !s.Enable {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.TestMode || !s.ClientAuthServer {
		// RocketMQ's default: encrypted, the server not verified.
		cfg.InsecureSkipVerify = true
	} else if s.ClientTrustCertPath != "" {
		pool, err := loadPool("tls.client.trustCertPath", s.ClientTrustCertPath)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if s.TestMode {
		return cfg, nil
	}
	switch {
	case s.ClientCertPath != "" && s.ClientKeyPath != "":
		cert, err := loadKeyPair("tls.client", s.ClientCertPath, s.ClientKeyPath)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	case s.ClientCertPath != "" || s.ClientKeyPath != "":
		return nil, errors.New("tls: tls.client.certPath and tls.client.keyPath go together: set both or neither")
	}
	return cfg, nil
}

// ClientConfigFor is the tls.Config of a command-line tool's --tls: the
// server is verified against the CAs in trustFile, or not at all when
// trustFile is empty (the Go client's WithTls does the same).
func ClientConfigFor(trustFile string) (*tls.Config, error) {
	s := Settings{Enable: true, ClientAuthServer: trustFile != "", ClientTrustCertPath: trustFile}
	return s.ClientConfig()
}

// loadKeyPair reads a PEM certificate chain and private key, refusing an
// encrypted key with an error that names the file.
func loadKeyPair(prefix, certPath, keyPath string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %s.certPath: %w", prefix, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %s.keyPath: %w", prefix, err)
	}
	if b, _ := pem.Decode(keyPEM); b != nil && (b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED") {
		return tls.Certificate{}, fmt.Errorf("tls: %s.keyPath %s: %w", prefix, keyPath, errEncryptedKey)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: %s.certPath %s with %s.keyPath %s: %w", prefix, certPath, prefix, keyPath, err)
	}
	return cert, nil
}

// loadPool reads the PEM certificates of a trust file.
func loadPool(key, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls: %s: %w", key, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tls: %s %s: no PEM certificate in the file", key, path)
	}
	return pool, nil
}

// SelfSigned makes an ECDSA P-256 certificate for localhost and the
// loopback addresses, valid for a year: tls.test.mode.enable's server
// certificate.
func SelfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: self-signed key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: self-signed serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "wharf test mode"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
