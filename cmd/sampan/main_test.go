package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sampan-bin")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "sampan")
	out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build sampan: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a `sampan serve` process.
type server struct {
	cmd             *exec.Cmd
	addr, http, dir string
	raft            string
	log             *bytes.Buffer
	exited          chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func startServer(t *testing.T, dir, raft string, extra ...string) *server {
	t.Helper()
	// The client and HTTP ports come from FreePort, which another test process can take between our
	// probe and the server's listen: a server that exits at once because of it is started again on new
	// ports. (The Raft port is the node's identity and is kept.)
	for attempt := 1; ; attempt++ {
		s, out := tryStartServer(t, dir, raft, extra...)
		if s != nil {
			return s
		}
		if attempt == 3 || !strings.Contains(out, "address already in use") {
			t.Fatalf("server exited early:\n%s", out)
		}
		t.Logf("server could not listen (port taken meanwhile); retrying:\n%s", out)
	}
}

func tryStartServer(t *testing.T, dir, raft string, extra ...string) (*server, string) {
	t.Helper()
	s := &server{addr: tu.FreePort(t), http: tu.FreePort(t), dir: dir, raft: raft, log: &bytes.Buffer{}, exited: make(chan struct{})}
	args := append([]string{"serve", "--data", dir, "--listen", s.addr, "--http", s.http, "--raft", raft, "--log-level", "warn"}, extra...)
	s.cmd = exec.Command(binPath, args...)
	lb := &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = &lockedWriter{lb}, &lockedWriter{lb}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	logText := func() string {
		lb.mu.Lock()
		defer lb.mu.Unlock()
		return lb.b.String()
	}
	deadline := time.Now().Add(30 * time.Second)
	health, hc := "http://"+s.http+"/healthz", http.DefaultClient
	for _, a := range extra {
		if a == "--tls-cert" { // the HTTP listener speaks TLS too; this only asks whether it is up
			health = "https://" + s.http + "/healthz"
			hc = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		}
	}
	for {
		select {
		case <-s.exited:
			return nil, logText()
		default:
		}
		if r, err := hc.Get(health); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.exited
			t.Fatalf("server not healthy after 30s:\n%s", logText())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("server log:\n%s", logText())
		}
	})
	return s, ""
}

type lockedWriter struct{ b *syncBuffer }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.b.Write(p)
}

// TestKillNineKeepsAckedMessages kills the broker process hard while a client publishes with many acks
// in flight, restarts it on the same data dir, and checks every acked message is there, in order, with
// its seq and payload, and that no seq is used twice.
func TestKillNineKeepsAckedMessages(t *testing.T) {
	dir := t.TempDir()
	raft := tu.FreePort(t)
	s := startServer(t, dir, raft)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	// No reconnect: the publisher must see its connection die with the process.
	c, err := client.Connect(ctx, s.addr, client.WithMaxInflight(1024), client.WithReconnect(false, 0))
	if err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{} // seq -> payload
	var mu sync.Mutex
	type pending struct {
		f       *client.PubFuture
		payload string
	}
	q := make(chan pending, 4096)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		for p := range q {
			a, err := p.f.Result()
			if err != nil {
				continue // unknown outcome: the connection died with it in flight
			}
			mu.Lock()
			if prev, dup := acked[a.Seq]; dup {
				t.Errorf("seq %d acked twice (%q and %q)", a.Seq, prev, p.payload)
			}
			acked[a.Seq] = p.payload
			mu.Unlock()
		}
	}()
	killed := false
	for i := 0; ; i++ {
		payload := fmt.Sprintf("msg-%d", i)
		f, err := c.PublishAsync(ctx, "crash.test", []byte(payload))
		if err != nil {
			break // connection gone
		}
		q <- pending{f, payload}
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20000 && !killed {
			if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	close(q)
	<-waited
	c.Close()
	<-s.exited
	if !killed {
		t.Fatal("publisher stopped before the kill")
	}
	t.Logf("%d publishes acked before SIGKILL", len(acked))

	s2 := startServer(t, dir, raft)
	c2, err := client.Connect(ctx, s2.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	var maxAcked uint64
	for seq := range acked {
		maxAcked = max(maxAcked, seq)
	}
	got := make(chan *client.Message, 1024)
	sub, err := c2.Subscribe(ctx, "crash.test", client.StartEarliest(), func(m *client.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for next := uint64(1); next <= maxAcked; next++ {
		select {
		case m := <-got:
			if m.Seq != next {
				t.Fatalf("after restart: seq %d, want %d", m.Seq, next)
			}
			if want, ok := acked[m.Seq]; ok && want != string(m.Payload) {
				t.Fatalf("seq %d holds %q, was acked for %q", m.Seq, m.Payload, want)
			}
			if prev, dup := seen[string(m.Payload)]; dup {
				t.Fatalf("payload %q stored twice (seq %d and %d)", m.Payload, prev, m.Seq)
			}
			seen[string(m.Payload)] = m.Seq
		case <-ctx.Done():
			t.Fatalf("after restart only %d of %d acked messages", next-1, maxAcked)
		}
	}
	_ = sub.Unsubscribe(ctx)
	// New publishes continue after the highest stored seq: no seq is reused.
	last := maxAcked
	for len(got) > 0 {
		last = max(last, (<-got).Seq)
	}
	seq, err := c2.Publish(ctx, "crash.test", []byte("after restart"))
	if err != nil {
		t.Fatal(err)
	}
	if seq <= maxAcked {
		t.Fatalf("new publish got seq %d, already used (acked up to %d)", seq, maxAcked)
	}
}

// TestCLIPubSub drives the binary as a user would.
func TestCLIPubSub(t *testing.T) {
	s := startServer(t, t.TempDir(), tu.FreePort(t))
	run := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(binPath, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sampan %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := run("", "pub", "--server", s.addr, "cli.test", "hello"); out != "seq 1\n" {
		t.Fatalf("pub printed %q", out)
	}
	if out := run("a\nb\nc\n", "pub", "--server", s.addr, "-H", "k=v", "cli.test"); out != "seq 4\n" {
		t.Fatalf("pub from stdin printed %q", out)
	}
	if out := run("", "sub", "--server", s.addr, "--from", "earliest", "--count", "4", "cli.test"); out != "hello\na\nb\nc\n" {
		t.Fatalf("sub printed %q", out)
	}
	out := run("", "sub", "--server", s.addr, "--from", "3", "--count", "1", "--json", "cli.test")
	if !strings.Contains(out, `"seq":3`) || !strings.Contains(out, `"payload":"b"`) || !strings.Contains(out, `"headers":{"k":"v"}`) {
		t.Fatalf("sub --json printed %q", out)
	}
	// A subscriber started before the publish gets only new messages by default.
	cmd := exec.Command(binPath, "sub", "--server", s.addr, "--count", "1", "cli.test")
	var buf syncBuffer
	cmd.Stdout = &lockedWriter{&buf}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run("", "pub", "--server", s.addr, "cli.test", "live")
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			buf.mu.Lock()
			got := buf.b.String()
			buf.mu.Unlock()
			if got != "live\n" {
				t.Fatalf("live sub printed %q", got)
			}
			return
		case <-time.After(200 * time.Millisecond):
			// The subscriber may not have subscribed yet; publish again.
		}
		if time.Now().After(deadline) {
			t.Fatal("live subscriber got nothing")
		}
	}
}

func TestBadConfigRejected(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: 127.0.0.1:1\nnot_a_key: 1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--config", bad}, "not_a_key"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"serve", "--listen", "nonsense"}, "listen address"},
		{[]string{"serve", "--log-level", "loud"}, "log level"},
		{[]string{"serve", "--raft", "127.0.0.1:0"}, "fixed port"},
		{[]string{"sub", "--from", "yesterday", "x"}, "start"},
	} {
		out, err := exec.Command(binPath, tc.args...).CombinedOutput()
		if err == nil {
			t.Fatalf("%v succeeded", tc.args)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Fatalf("%v: error %q does not mention %q", tc.args, out, tc.want)
		}
	}
}

// TestConfigFileAndFlags: the YAML file sets the listener, a flag overrides the file's HTTP address.
func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	listen, httpAddr, fileHTTP := tu.FreePort(t), tu.FreePort(t), tu.FreePort(t)
	cfg := filepath.Join(dir, "sampan.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("data: %s\nlisten: %s\nhttp: %s\nraft: %s\nlog_level: warn\nchannels:\n  idle_timeout: 30s\n  max_msgs: 5\n",
		filepath.Join(dir, "data"), listen, fileHTTP, tu.FreePort(t))), 0o644)
	cmd := exec.Command(binPath, "serve", "--config", cfg, "--http", httpAddr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	tu.Eventually(t, 30*time.Second, "HTTP on the flag's address", func() bool {
		r, err := http.Get("http://" + httpAddr + "/healthz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, listen)
	if err != nil {
		t.Fatalf("client listener from the file: %v", err)
	}
	defer c.Close()
	for i := 0; i < 8; i++ {
		if _, err := c.Publish(ctx, "cfg", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.Subscribe(ctx, "cfg", client.StartEarliest(), func(*client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	if sub.StartSeq() != 4 {
		t.Fatalf("max_msgs 5 from the file: earliest is %d, want 4", sub.StartSeq())
	}
}

// TestSIGTERMShutsDownCleanly: SIGTERM exits 0 and logs the clean stop.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, tu.FreePort(t), "--log-level", "info")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Connect(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Publish(ctx, "term", []byte("x")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-ctx.Done():
		t.Fatal("no exit after SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
