package testkit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/wiretls"
)

// TLSPaths are the PEM files TLSFiles writes: a CA, a server certificate
// for 127.0.0.1 and localhost signed by it, and a client certificate
// signed by it.
type TLSPaths struct {
	CA                    string // the CA certificate: a trust file for both sides
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// TLSFiles makes a fresh CA and two certificates (ECDSA P-256) in
// t.TempDir() and returns their paths.
func TLSFiles(t testing.TB) TLSPaths {
	t.Helper()
	dir := t.TempDir()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "wharf test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("TLSFiles: CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("TLSFiles: CA: %v", err)
	}
	p := TLSPaths{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client.key"),
	}
	writePEM(t, p.CA, "CERTIFICATE", caDER)
	leaf := func(serial int64, name string, usage x509.ExtKeyUsage, certPath, keyPath string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatalf("TLSFiles: %s: %v", name, err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("TLSFiles: %s key: %v", name, err)
		}
		writePEM(t, certPath, "CERTIFICATE", der)
		writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	}
	leaf(2, "wharf test server", x509.ExtKeyUsageServerAuth, p.ServerCert, p.ServerKey)
	leaf(3, "wharf test client", x509.ExtKeyUsageClientAuth, p.ClientCert, p.ClientKey)
	return p
}

// Settings returns TLS settings that serve mode with the server
// certificate and, for outgoing connections, use TLS and verify the server
// against the CA.
func (p TLSPaths) Settings(mode wiretls.Mode) wiretls.Settings {
	return wiretls.Settings{
		Mode: mode, ServerCertPath: p.ServerCert, ServerKeyPath: p.ServerKey,
		Enable: true, ClientAuthServer: true, ClientTrustCertPath: p.CA,
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("TLSFiles: key: %v", err)
	}
	return k
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatalf("TLSFiles: %v", err)
	}
}
