package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	tu "github.com/sampan-io/sampan/internal/testutil"
)

// Through the binary: `sampan passwd` makes the hash the config takes; a TLS node with users serves
// pub and sub given the CA and a login (flags or environment), and refuses a wrong login, an
// untrusted server certificate and a denied channel with clear errors.
func TestCLISecurity(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binPath, "passwd")
	cmd.Stdin = strings.NewReader("alice-pw\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.TrimSpace(string(out))
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte("alice-pw")) != nil {
		t.Fatalf("sampan passwd printed %q, not a bcrypt hash of the password", hash)
	}
	certs := tu.GenCerts(t, dir)
	conf := filepath.Join(dir, "sampan.yaml")
	yaml := "auth:\n  users:\n    - name: alice\n      password: \"" + hash + "\"\n      publish: {allow: [\"orders.>\"]}\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, filepath.Join(dir, "data"), tu.FreePort(t), "--config", conf,
		"--tls-cert", certs.ServerCert, "--tls-key", certs.ServerKey)
	run := func(env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(binPath, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	ok := func(env []string, want string, args ...string) {
		t.Helper()
		out, err := run(env, args...)
		if err != nil || out != want {
			t.Fatalf("sampan %v: %v\n%s (want %q)", args, err, out, want)
		}
	}
	fails := func(env []string, want string, args ...string) {
		t.Helper()
		out, err := run(env, args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("sampan %v: %v\n%s (want a failure saying %q)", args, err, out, want)
		}
		if strings.Contains(out, "alice-pw") {
			t.Fatalf("the output shows the password:\n%s", out)
		}
	}
	srv := "tls://" + s.addr
	ok(nil, "seq 1\n", "pub", "--server", srv, "--tls-ca", certs.CA, "--user", "alice", "--password", "alice-pw", "orders.eu", "hello")
	ok([]string{"SAMPAN_USER=alice", "SAMPAN_PASSWORD=alice-pw", "SAMPAN_TLS_CA=" + certs.CA}, "seq 2\n", "pub", "--server", srv, "orders.eu", "again")
	ok([]string{"SAMPAN_PASSWORD=alice-pw"}, "hello\nagain\n", "sub", "--server", srv, "--tls-ca", certs.CA, "--user", "alice",
		"--from", "earliest", "--count", "2", "orders.eu")
	fails(nil, "auth_failed", "pub", "--server", srv, "--tls-ca", certs.CA, "--user", "alice", "--password", "nope", "orders.eu", "x")
	fails(nil, "auth_failed", "pub", "--server", srv, "--tls-ca", certs.CA, "orders.eu", "x")
	fails(nil, "certificate", "pub", "--server", srv, "--tls-ca", certs.OtherCA, "--user", "alice", "--password", "alice-pw", "orders.eu", "x")
	fails(nil, "permission_denied", "pub", "--server", srv, "--tls-ca", certs.CA, "--user", "alice", "--password", "alice-pw", "payroll", "x")
}
