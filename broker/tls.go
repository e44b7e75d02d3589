package broker

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/cluster"
)

// TLSConfig is the TLS of the client listener and the HTTP listener: the node's certificate and, for
// mutual TLS, the CA that clients' certificates must be signed by. Empty: plain TCP (the default,
// for local development). Set, both listeners speak TLS only.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"` // PEM certificate chain of this node
	KeyFile  string `yaml:"key_file"`  // PEM private key of cert_file
	CAFile   string `yaml:"ca_file"`   // PEM CA certificates client certificates are checked against
	// ClientAuth: every client must present a certificate signed by ca_file.
	ClientAuth bool `yaml:"client_auth"`
}

// Enabled reports whether TLS is configured.
func (t *TLSConfig) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || t.ClientAuth
}

// validate checks the settings fit together and the files load.
func (t *TLSConfig) validate() error {
	if !t.Enabled() {
		return nil
	}
	_, err := t.server()
	return err
}

// ClusterConfig is the `cluster` section: how nodes talk to each other.
type ClusterConfig struct {
	// TLS between nodes (the Raft transport and the actor remote), always mutual: cert_file and
	// key_file are this node's certificate, which its peers check against their ca_file, and it
	// accepts only peers with a certificate signed by its ca_file. client_auth is implied.
	TLS TLSConfig `yaml:"tls"`
	// ReplaceAfter: a node down this long (as the metadata leader's probes see it) is replaced: every
	// channel with a replica on it gets one on a live node, as `sampan cluster remove` does, and it is
	// marked removed. 0: never (an operator removes dead nodes).
	ReplaceAfter Duration `yaml:"replace_after"`
	// MovesParallel is how many channel replicas one drain or replacement moves at once.
	MovesParallel int `yaml:"moves_parallel"`
}

// nodeTLS builds the TLS between nodes (nil when off).
func (c *ClusterConfig) nodeTLS() (*cluster.NodeTLS, error) {
	t := &c.TLS
	if !t.Enabled() {
		return nil, nil
	}
	if t.CertFile == "" || t.KeyFile == "" || t.CAFile == "" {
		return nil, errors.New("sampan: cluster.tls needs cert_file, key_file and ca_file (nodes check each other against the cluster CA)")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sampan: cluster.tls certificate: %w", err)
	}
	pool, err := client.LoadCAs(t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("sampan: cluster.tls ca_file: %w", err)
	}
	return &cluster.NodeTLS{
		Server: &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		Client: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
	}, nil
}

// server builds the listeners' tls.Config (nil when TLS is off).
func (t *TLSConfig) server() (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return nil, errors.New("sampan: tls needs both cert_file and key_file")
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("sampan: tls certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := client.LoadCAs(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("sampan: tls ca_file: %w", err)
		}
		cfg.ClientCAs = pool
	}
	if t.ClientAuth {
		if t.CAFile == "" {
			return nil, errors.New("sampan: tls client_auth needs ca_file (the CA client certificates are checked against)")
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
