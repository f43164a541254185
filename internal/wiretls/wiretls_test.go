package wiretls_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfmq/wharf/internal/testkit"
	"github.com/wharfmq/wharf/internal/wiretls"
)

func TestSettingsSet(t *testing.T) {
	var s wiretls.Settings
	for _, kv := range [][2]string{
		{"tls.server.mode", "Enforcing"}, {"tls.enable", "true"}, {"tls.server.certPath", "/c.pem"},
		{"tls.server.keyPath", "/k.pem"}, {"tls.server.need.client.auth", "optional"}, {"tls.server.authClient", "TRUE"},
		{"tls.client.authServer", "FALSE"}, {"tls.client.trustCertPath", "/ca.pem"}, {"tls.test.mode.enable", "false"},
	} {
		if known, err := s.Set(kv[0], kv[1]); !known || err != nil {
			t.Fatalf("Set(%s=%s): known %v, err %v", kv[0], kv[1], known, err)
		}
	}
	want := wiretls.Settings{Mode: wiretls.Enforcing, Enable: true, ServerCertPath: "/c.pem", ServerKeyPath: "/k.pem",
		ServerNeedClientAuth: "optional", ServerAuthClient: true, ClientTrustCertPath: "/ca.pem"}
	if s != want {
		t.Fatalf("settings\n got %+v\nwant %+v", s, want)
	}
	// authClient also takes need.client.auth's values, with verification.
	if _, err := s.Set("tls.server.authClient", "require"); err != nil || s.ServerNeedClientAuth != "require" || !s.ServerAuthClient {
		t.Fatalf("authClient=require: %+v %v", s, err)
	}
	for _, kv := range [][2]string{{"tls.server.mode", "strict"}, {"tls.server.need.client.auth", "always"}} {
		if known, err := s.Set(kv[0], kv[1]); !known || err == nil {
			t.Fatalf("Set(%s=%s): known %v, err %v; want an error", kv[0], kv[1], known, err)
		}
	}
	if known, _ := s.Set("brokerName", "x"); known || wiretls.IsTLSKey("listenPort") || !wiretls.IsTLSKey("tls.client.keyPath") {
		t.Fatal("a non-TLS key taken as one, or the reverse")
	}
}

// TestBooleanKeysRefuseTypos: the boolean tls.* keys take true and false
// in any case and refuse the rest (Java's Boolean.parseBoolean reads
// tls.client.authServer=ture as false: no server verification, silently);
// in a tls.config.file the error names the file, the line, the key and the
// value.
func TestBooleanKeysRefuseTypos(t *testing.T) {
	for _, k := range []string{"tls.enable", "tls.test.mode.enable", "tls.server.authClient", "tls.client.authServer"} {
		for _, v := range []string{"TRUE", "tRuE", "false", "False"} {
			var s wiretls.Settings
			if _, err := s.Set(k, v); err != nil {
				t.Errorf("%s=%s refused: %v", k, v, err)
			}
		}
		for _, v := range []string{"ture", "yes please", "yes", "1", "t"} {
			var s wiretls.Settings
			if known, err := s.Set(k, v); !known || err == nil {
				t.Errorf("%s=%s: known %v, err %v; want an error", k, v, known, err)
			}
		}
		path := filepath.Join(t.TempDir(), "tls.properties")
		if err := os.WriteFile(path, []byte("tls.server.certPath=/c.pem\n"+k+"=ture\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := wiretls.ReadFile(path, &wiretls.Settings{})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 2: "+k+`="ture"`) {
			t.Errorf("ReadFile with %s=ture: %v, want an error naming the file, line 2, the key and the value", k, err)
		}
	}
}

// tls.config.file overrides the keys set before, except the mode and
// tls.enable, as in RocketMQ.
func TestLoadConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tls.properties")
	body := "# RocketMQ's tls.properties\ntls.server.mode=disabled\ntls.enable=false\ntls.server.certPath = /file.pem\n" +
		"tls.client.authServer: true\nbrokerName=ignored\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s := wiretls.Settings{Mode: wiretls.Permissive, Enable: true, ServerCertPath: "/conf.pem", ConfigFile: path}
	if err := s.Validate(); err != nil {
		t.Fatalf("the key path may still come from the file: %v", err)
	}
	if err := s.LoadConfigFile(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerConfig(); err == nil || !strings.Contains(err.Error(), "tls.server.keyPath") {
		t.Fatalf("no key path in the file either: %v", err)
	}
	if s.Mode != wiretls.Permissive || !s.Enable || s.ServerCertPath != "/file.pem" || !s.ClientAuthServer {
		t.Fatalf("after the file: %+v", s)
	}
}

// echoServer serves lines back on ln until the test ends.
func echoServer(t *testing.T, ln net.Listener) {
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					_, _ = io.WriteString(c, line)
				}
			}()
		}
	}()
}

// roundTrip writes a line (starting with 0x00, as a frame does) on c and
// reads it back.
func roundTrip(c net.Conn) error {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, "\x00hello\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "\x00hello\n" {
		return errors.New("echo garbled: " + line)
	}
	return nil
}

func gate(t *testing.T, s wiretls.Settings) net.Listener {
	t.Helper()
	cfg, err := s.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	g, err := wiretls.NewServer(s.Mode, cfg, "test", testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := g.Listen(ln)
	echoServer(t, l)
	return l
}

func dialTLS(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	return roundTrip(c)
}

func dialPlain(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return err
	}
	return roundTrip(c)
}

// Each mode serves what it should on one port: disabled plaintext only,
// permissive both, enforcing TLS only.
func TestModes(t *testing.T) {
	p := testkit.TLSFiles(t)
	ccfg, err := wiretls.ClientConfigFor(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode           wiretls.Mode
		plainOK, tlsOK bool
	}{
		{wiretls.Disabled, true, false},
		{wiretls.Permissive, true, true},
		{wiretls.Enforcing, false, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			addr := gate(t, p.Settings(tc.mode)).Addr().String()
			if err := dialPlain(addr); (err == nil) != tc.plainOK {
				t.Errorf("plaintext: err %v, want ok=%v", err, tc.plainOK)
			}
			if err := dialTLS(addr, ccfg); (err == nil) != tc.tlsOK {
				t.Errorf("TLS: err %v, want ok=%v", err, tc.tlsOK)
			}
		})
	}
}

// A client that connects and sends nothing holds up neither other clients
// nor Close.
func TestSilentClient(t *testing.T) {
	p := testkit.TLSFiles(t)
	l := gate(t, p.Settings(wiretls.Permissive))
	silent, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if err := dialPlain(l.Addr().String()); err != nil {
		t.Fatalf("a client behind a silent one: %v", err)
	}
	start := time.Now()
	l.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v with a silent client handshaking", d)
	}
}

// Client certificates: need.client.auth=require with authClient verifies
// against the trust file; optional lets a client without one in.
func TestClientAuth(t *testing.T) {
	p := testkit.TLSFiles(t)
	other := testkit.TLSFiles(t) // a second CA: its client certificate is not trusted
	withCert := func(cert, key string) *tls.Config {
		s := wiretls.Settings{Enable: true, ClientAuthServer: true, ClientTrustCertPath: p.CA, ClientCertPath: cert, ClientKeyPath: key}
		cfg, err := s.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tc := range []struct {
		need                    string
		none, trusted, stranger bool
	}{
		{"require", false, true, false},
		{"optional", true, true, false},
		{"none", true, true, true},
	} {
		t.Run(tc.need, func(t *testing.T) {
			s := p.Settings(wiretls.Enforcing)
			s.ServerNeedClientAuth, s.ServerAuthClient, s.ServerTrustCertPath = tc.need, true, p.CA
			addr := gate(t, s).Addr().String()
			for _, c := range []struct {
				name string
				cfg  *tls.Config
				ok   bool
			}{
				{"no certificate", withCert("", ""), tc.none},
				{"trusted certificate", withCert(p.ClientCert, p.ClientKey), tc.trusted},
				{"untrusted certificate", withCert(other.ClientCert, other.ClientKey), tc.stranger},
			} {
				// TLS 1.3 reports a refused client certificate on the
				// first read, which roundTrip does.
				if err := dialTLS(addr, c.cfg); (err == nil) != c.ok {
					t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
				}
			}
		})
	}
}

// The server certificate is verified when a trust file is given, and not
// when none is (the Go client's WithTls does the same).
func TestClientVerifiesServer(t *testing.T) {
	p := testkit.TLSFiles(t)
	other := testkit.TLSFiles(t)
	addr := gate(t, p.Settings(wiretls.Enforcing)).Addr().String()
	wrongCA, err := wiretls.ClientConfigFor(other.CA)
	if err != nil {
		t.Fatal(err)
	}
	if err := dialTLS(addr, wrongCA); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a server signed by another CA: err %v", err)
	}
	skip, err := wiretls.ClientConfigFor("")
	if err != nil {
		t.Fatal(err)
	}
	if err := dialTLS(addr, skip); err != nil {
		t.Fatalf("no trust file (no verification): %v", err)
	}
}

// tls.test.mode.enable serves a self-signed certificate with no files.
func TestTestMode(t *testing.T) {
	s := wiretls.Settings{Mode: wiretls.Enforcing, TestMode: true, Enable: true}
	addr := gate(t, s).Addr().String()
	ccfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := dialTLS(addr, ccfg); err != nil {
		t.Fatal(err)
	}
}

func TestServerConfigErrors(t *testing.T) {
	p := testkit.TLSFiles(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "trust.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*wiretls.Settings)
		want string
	}{
		{"no key path", func(s *wiretls.Settings) { s.ServerKeyPath = "" }, "tls.server.keyPath"},
		{"key of another certificate", func(s *wiretls.Settings) { s.ServerKeyPath = p.ClientKey }, p.ClientKey},
		{"trust file without certificates", func(s *wiretls.Settings) {
			s.ServerAuthClient, s.ServerNeedClientAuth, s.ServerTrustCertPath = true, "require", notPEM
		}, notPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := p.Settings(wiretls.Enforcing)
			tc.mut(&s)
			if _, err := s.ServerConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
	half := wiretls.Settings{Enable: true, ClientCertPath: p.ClientCert}
	if _, err := half.ClientConfig(); err == nil {
		t.Fatal("a client certificate without its key accepted")
	}
}
