package testutil

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
	"sync/atomic"
	"testing"
	"time"
)

// Certs are PEM files a test generated in its temp dir: a CA, a server certificate for 127.0.0.1
// and localhost, and a client certificate, both signed by the CA; and a second CA that signed
// nothing here (a client trusting only it must fail).
type Certs struct {
	CA, OtherCA             string
	ServerCert, ServerKey   string
	ClientCert, ClientKey   string
	ForeignCert, ForeignKey string // a client certificate signed by OtherCA
}

// GenCerts writes a fresh set of Certs under dir.
func GenCerts(t testing.TB, dir string) Certs {
	t.Helper()
	ca, caKey, caFile := genCA(t, dir, "ca")
	other, otherKey, otherFile := genCA(t, dir, "other-ca")
	c := Certs{CA: caFile, OtherCA: otherFile}
	c.ServerCert, c.ServerKey = genLeaf(t, dir, "server", ca, caKey, true)
	c.ClientCert, c.ClientKey = genLeaf(t, dir, "client", ca, caKey, false)
	c.ForeignCert, c.ForeignKey = genLeaf(t, dir, "foreign", other, otherKey, false)
	return c
}

var serial atomic.Int64 // certificate serial numbers, unique within the test process

func template(name string) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano() + serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
}

func genCA(t testing.TB, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
}

func genLeaf(t testing.TB, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if server {
		// A node's certificate also authenticates it as a client (its NATS bridge connects to its own
		// listener; with client_auth it presents this certificate).
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der),
		writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kder)
}

func writePEM(t testing.TB, path, typ string, der []byte) string {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
