package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sampan-io/sampan/broker"
)

// The benchmarks that need their own nodes (bench failover kills them, bench channels measures their
// memory and CPU) run `sampan serve` processes of this same binary on 127.0.0.1 free ports.

type benchNode struct {
	id                    int
	dir, raft, listen, hp string
	extra                 []string // more `sampan serve` flags
	cmd                   *exec.Cmd
	exited                chan struct{}
	out                   *tailBuffer // the end of its output when SAMPAN_BENCH_LOGS is not set
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// newBenchNodes allocates n nodes with data dirs under base and free ports, and the --peers list that
// names them all.
func newBenchNodes(base string, n int, extra ...string) ([]*benchNode, string, error) {
	ns := make([]*benchNode, n)
	var peers []string
	for i := range ns {
		nd := &benchNode{id: i + 1, dir: filepath.Join(base, fmt.Sprint(i+1)), extra: extra}
		for _, p := range []*string{&nd.raft, &nd.listen, &nd.hp} {
			var err error
			if *p, err = freeAddr(); err != nil {
				return nil, "", err
			}
		}
		ns[i] = nd
		peers = append(peers, fmt.Sprintf("%d@%s", nd.id, nd.raft))
	}
	return ns, strings.Join(peers, ","), nil
}

func (n *benchNode) start(peers string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"serve", "--node-id", fmt.Sprint(n.id), "--peers", peers, "--raft", n.raft,
		"--listen", n.listen, "--http", n.hp, "--data", n.dir, "--log-level", logLevel()}
	n.cmd = exec.Command(self, append(args, n.extra...)...)
	// The nodes log errors about a peer just killed; keep the report readable (SAMPAN_BENCH_LOGS=DIR
	// keeps each node's log there instead, at SAMPAN_BENCH_LOG_LEVEL, info by default). Without it the
	// end of the output is kept to explain a node that exits.
	if dir := os.Getenv("SAMPAN_BENCH_LOGS"); dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("node%d.log", n.id)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		n.cmd.Stdout, n.cmd.Stderr = f, f
	} else {
		n.out = &tailBuffer{max: 4096}
		n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	}
	if err := n.cmd.Start(); err != nil {
		return err
	}
	n.exited = make(chan struct{})
	go func() { _ = n.cmd.Wait(); close(n.exited) }()
	return nil
}

func (n *benchNode) ready(ctx context.Context) error {
	for {
		r, err := http.Get("http://" + n.hp + "/readyz")
		if err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d not ready: %w", n.id, ctx.Err())
		case <-n.exited:
			return fmt.Errorf("node %d exited%s", n.id, n.lastOutput())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// running reports whether the node's process was started and has not exited.
func (n *benchNode) running() bool {
	if n.cmd == nil || n.cmd.Process == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// stop shuts the node down with SIGTERM, and SIGKILLs it if it has not exited within grace (a clean
// shutdown waits for Raft and the actor system, which a benchmark must not hang on).
func (n *benchNode) stop(grace time.Duration) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(grace):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// lastOutput is ": " and the end of the node's output, or "" if none was kept.
func (n *benchNode) lastOutput() string {
	if n.out == nil {
		return ""
	}
	if s := strings.TrimSpace(n.out.String()); s != "" {
		return ": " + s
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func benchChannelStatus(httpAddr, name string) (broker.ChannelStatus, bool) {
	hc := &http.Client{Timeout: 2 * time.Second}
	r, err := hc.Get("http://" + httpAddr + "/channels/" + name)
	if err != nil {
		return broker.ChannelStatus{}, false
	}
	defer r.Body.Close()
	var cs broker.ChannelStatus
	if r.StatusCode != 200 || json.NewDecoder(r.Body).Decode(&cs) != nil {
		return cs, false
	}
	return cs, true
}

func logLevel() string {
	if os.Getenv("SAMPAN_BENCH_LOGS") == "" {
		return "error"
	}
	if l := os.Getenv("SAMPAN_BENCH_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}
