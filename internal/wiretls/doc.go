// Package wiretls is TLS for Wharf's TCP ports, configured with RocketMQ's
// keys (TlsSystemConfig): the server modes of a listening port, the
// certificates of both sides, and the sniffing that lets one port serve TLS
// and plaintext at once.
//
// # Server modes (tls.server.mode)
//
//   - disabled (Wharf's default; RocketMQ defaults to permissive): plaintext
//     only. The remoting server recognises a TLS client by its first byte
//     and says so in its log.
//   - permissive: the first byte of a connection decides. 0x16 is a TLS
//     handshake record; a remoting frame starts with its length, whose
//     first byte is 0x00 for any frame under 16 MiB. TLS connections are
//     handshaken, plaintext ones served as they are.
//   - enforcing: plaintext connections are closed, with one log line each
//     (rate-bounded).
//
// # Keys
//
// Settings.Set takes RocketMQ's property names: tls.server.mode, tls.enable,
// tls.config.file, tls.test.mode.enable, tls.server.{certPath, keyPath,
// keyPassword, trustCertPath, need.client.auth, authClient} and
// tls.client.{certPath, keyPath, keyPassword, trustCertPath, authServer}.
// Keys are PEM files; encrypted private keys are refused with an error that
// names the file (decrypt them first: openssl pkcs8 -in k.pem -out k2.pem).
package wiretls
