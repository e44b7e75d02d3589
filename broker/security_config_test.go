package broker_test

import (
	"strings"
	"testing"

	"github.com/sampan-io/sampan/auth"
	"github.com/sampan-io/sampan/broker"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// Wrong security settings are refused at start with an error that says what is wrong.
func TestBadSecurityConfigRejected(t *testing.T) {
	certs := tu.GenCerts(t, t.TempDir())
	for _, tc := range []struct {
		name string
		mod  func(*broker.Config)
		want string
	}{
		{"cert without key", func(c *broker.Config) { c.TLS.CertFile = certs.ServerCert }, "cert_file and key_file"},
		{"client_auth without a CA", func(c *broker.Config) {
			c.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, ClientAuth: true}
		}, "client_auth needs ca_file"},
		{"missing certificate file", func(c *broker.Config) {
			c.TLS = broker.TLSConfig{CertFile: "/nonexistent.pem", KeyFile: certs.ServerKey}
		}, "tls certificate"},
		{"cluster TLS without a CA", func(c *broker.Config) {
			c.Cluster.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey}
		}, "cluster.tls needs"},
		{"a CA file without certificates", func(c *broker.Config) {
			c.Cluster.TLS = broker.TLSConfig{CertFile: certs.ServerCert, KeyFile: certs.ServerKey, CAFile: certs.ServerKey}
		}, "no PEM certificate"},
		{"plain-text password", func(c *broker.Config) {
			c.Auth = auth.Config{Users: []auth.User{{Name: "a", Password: "hunter2"}}}
		}, "sampan passwd"},
		{"handshake timeout 0", func(c *broker.Config) { c.Limits.HandshakeTimeout = 0 }, "handshake timeout"},
	} {
		cfg := tu.Config(t, t.TempDir())
		tc.mod(&cfg)
		err := cfg.Validate()
		if err == nil {
			if b, serr := broker.Start(cfg, tu.Logger(t)); serr == nil {
				b.Close(t.Context())
				t.Fatalf("%s: accepted", tc.name)
			} else {
				err = serr
			}
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}
