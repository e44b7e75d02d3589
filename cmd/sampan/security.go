package main

import (
	"crypto/tls"
	"os"

	"github.com/spf13/cobra"

	"github.com/sampan-io/sampan/client"
)

// clientSecurity is how the client commands (pub, sub, bench, cluster, channel) reach a secured
// node: the root command's persistent flags, with environment variables as their defaults. Set once
// by cobra's flag parsing, before any command runs; read by connect and adminCall.
var clientSecurity struct {
	tlsCA, tlsCert, tlsKey string
}

func addSecurityFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&clientSecurity.tlsCA, "tls-ca", os.Getenv("SAMPAN_TLS_CA"), "PEM CA certificates the server's certificate must chain to (turns TLS on; env SAMPAN_TLS_CA)")
	f.StringVar(&clientSecurity.tlsCert, "tls-cert", os.Getenv("SAMPAN_TLS_CERT"), "PEM client certificate, for servers that require one (env SAMPAN_TLS_CERT)")
	f.StringVar(&clientSecurity.tlsKey, "tls-key", os.Getenv("SAMPAN_TLS_KEY"), "PEM private key of --tls-cert (env SAMPAN_TLS_KEY)")
}

// clientTLS is the TLS the flags ask for; nil: plain (unless a server address says tls://).
func clientTLS() (*tls.Config, error) {
	s := &clientSecurity
	if s.tlsCA == "" && s.tlsCert == "" && s.tlsKey == "" {
		return nil, nil
	}
	return client.TLSFromFiles(s.tlsCA, s.tlsCert, s.tlsKey)
}

// securityOptions are the client options the flags ask for.
func securityOptions() ([]client.Option, error) {
	cfg, err := clientTLS()
	if err != nil || cfg == nil {
		return nil, err
	}
	return []client.Option{client.WithTLS(cfg)}, nil
}
