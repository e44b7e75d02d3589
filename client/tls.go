package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// WithTLS makes every connection of the client TLS, with cfg (its ServerName defaults to each
// server's host). A server address written tls://host:port turns TLS on too, with the system's CAs
// when no WithTLS is given.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// TLSFromFiles builds a client TLS config: caFile (PEM) holds the CAs the server's certificate must
// chain to (empty: the system's), and certFile with keyFile, when given, is the client's own
// certificate for servers that require one.
func TLSFromFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := LoadCAs(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("sampan: a client certificate needs both its cert and its key file")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("sampan: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// LoadCAs reads PEM CA certificates from path.
func LoadCAs(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sampan: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("sampan: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// splitScheme takes an optional tls:// or tcp:// off a server address.
func splitScheme(addr string) (hostport string, useTLS bool) {
	switch {
	case strings.HasPrefix(addr, "tls://"):
		return addr[len("tls://"):], true
	case strings.HasPrefix(addr, "tcp://"):
		return addr[len("tcp://"):], false
	}
	return addr, false
}

// TLSHandshake runs the client side of a TLS handshake on conn, checking the peer's certificate
// against addr's host (unless cfg names a server). conn is closed when it fails.
func TLSHandshake(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string) (net.Conn, error) {
	c := cfg.Clone()
	if c.ServerName == "" {
		c.ServerName, _, _ = net.SplitHostPort(addr)
	}
	tc := tls.Client(conn, c)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sampan: TLS with %s: %w", addr, err)
	}
	return tc, nil
}
