package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sampan-io/sampan/broker"
	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

type clusterProc struct {
	servers []*server
	dirs    []string
	rafts   []string
	peers   string
}

func startClusterProcs(t *testing.T, n int) *clusterProc {
	t.Helper()
	cp := &clusterProc{}
	var peers []string
	for i := 0; i < n; i++ {
		cp.dirs = append(cp.dirs, t.TempDir())
		cp.rafts = append(cp.rafts, tu.FreePort(t))
		peers = append(peers, fmt.Sprintf("%d@%s", i+1, cp.rafts[i]))
	}
	cp.peers = strings.Join(peers, ",")
	cp.servers = make([]*server, n)
	for i := 0; i < n; i++ {
		cp.servers[i] = cp.startNode(t, i)
	}
	for i := range cp.servers {
		waitReady(t, cp.servers[i])
	}
	return cp
}

func (cp *clusterProc) startNode(t *testing.T, i int) *server {
	return startServer(t, cp.dirs[i], cp.rafts[i], "--node-id", fmt.Sprint(i+1), "--peers", cp.peers)
}

func waitReady(t *testing.T, s *server) {
	t.Helper()
	tu.Eventually(t, 60*time.Second, "node ready", func() bool {
		r, err := http.Get("http://" + s.http + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

// TestClusterKillLeaderNode runs three `sampan serve` processes talking over real TCP, kills the node
// leading a channel with SIGKILL while a client keeps publishing, and checks: publishing resumes on the
// survivors, every acked message is there once, in order, with no seq used twice; the killed node
// restarts on its data dir and catches up.
func TestClusterKillLeaderNode(t *testing.T) {
	cp := startClusterProcs(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	all := cp.servers[0].addr + "," + cp.servers[1].addr + "," + cp.servers[2].addr
	pub, err := client.Connect(ctx, all)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const ch = "kill.ch"
	acked := map[uint64]string{}
	next := 0
	publishOne := func() time.Duration {
		payload := fmt.Sprintf("m-%d", next)
		next++
		start := time.Now()
		for {
			seq, err := pub.Publish(ctx, ch, []byte(payload), client.WithIdempotencyKey(payload))
			if err == nil {
				if prev, dup := acked[seq]; dup && prev != payload {
					t.Fatalf("seq %d acked for %q and %q", seq, prev, payload)
				}
				acked[seq] = payload
				return time.Since(start)
			}
			if ctx.Err() != nil {
				t.Fatalf("publish %s: %v", payload, err)
			}
		}
	}
	for i := 0; i < 300; i++ {
		publishOne()
	}
	cs, ok := benchChannelStatus(cp.servers[0].http, ch)
	if !ok || cs.Leader == 0 {
		t.Fatalf("no leader known for %s: %+v", ch, cs)
	}
	victim := int(cs.Leader) - 1
	t.Logf("killing node %d (leader of %s)", victim+1, ch)
	if err := cp.servers[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-cp.servers[victim].exited
	failover := publishOne()
	t.Logf("first publish after SIGKILL acked in %v", failover)
	for i := 0; i < 300; i++ {
		publishOne()
	}
	var last uint64
	for seq := range acked {
		last = max(last, seq)
	}
	// Read everything back from a survivor.
	survivor := cp.servers[(victim+1)%3]
	rd, err := client.Connect(ctx, survivor.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got := make(chan *client.Message, 1024)
	if _, err := rd.Subscribe(ctx, ch, client.StartEarliest(), func(m *client.Message) { got <- m }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]uint64{}
	for want := uint64(1); want <= last; want++ {
		select {
		case m := <-got:
			if m.Seq != want {
				t.Fatalf("seq %d, want %d", m.Seq, want)
			}
			if p, ok := acked[m.Seq]; ok && p != string(m.Payload) {
				t.Fatalf("seq %d holds %q, acked for %q", m.Seq, m.Payload, p)
			}
			if prev, dup := seen[string(m.Payload)]; dup {
				t.Fatalf("%q stored twice: seq %d and %d", m.Payload, prev, m.Seq)
			}
			seen[string(m.Payload)] = m.Seq
		case <-ctx.Done():
			t.Fatalf("read %d of %d", want-1, last)
		}
	}
	if len(seen) != next {
		t.Fatalf("%d distinct messages stored, %d published", len(seen), next)
	}
	// The killed node comes back on its data dir and catches up.
	cp.servers[victim] = cp.startNode(t, victim)
	waitReady(t, cp.servers[victim])
	// Catching up happens while the channel is active (a cold channel's replicas all stop): keep
	// publishing until the returning node's replica holds everything acked.
	deadline := time.Now().Add(60 * time.Second)
	for {
		publishOne()
		cs, ok := benchChannelStatus(cp.servers[victim].http, ch)
		if ok && cs.LastSeq == uint64(len(acked)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted node %d has not caught up: %+v, %d acked", victim+1, cs, len(acked))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCLIClusterAdmin drives `sampan cluster status` and `sampan channel ls|info|transfer-leader`.
func TestCLIClusterAdmin(t *testing.T) {
	cp := startClusterProcs(t, 3)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binPath, args...).CombinedOutput()
		return string(out), err
	}
	s := cp.servers[0]
	if out, err := run("pub", "--server", s.addr, "admin.ch", "x"); err != nil || out != "seq 1\n" {
		t.Fatalf("pub: %v %q", err, out)
	}
	out, err := run("cluster", "status", "--http", s.http)
	if err != nil || !strings.Contains(out, `"nodes_up": 3`) {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	out, err = run("channel", "ls", "--http", s.http)
	if err != nil || !strings.Contains(out, `"name": "admin.ch"`) {
		t.Fatalf("channel ls: %v\n%s", err, out)
	}
	if out, err := run("pub", "--server", s.addr, "admin.other", "y"); err != nil || out != "seq 1\n" {
		t.Fatalf("pub: %v %q", err, out)
	}
	var page broker.ChannelList
	out, err = run("channel", "ls", "--http", s.http, "--prefix", "admin.", "--limit", "1")
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Channels) != 1 || page.Channels[0].Name != "admin.ch" || page.Next != "admin.ch" {
		t.Fatalf("channel ls --prefix admin. --limit 1: %v\n%s", err, out)
	}
	out, err = run("channel", "ls", "--http", s.http, "--prefix", "admin.", "--all")
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Channels) != 2 || page.Channels[1].Name != "admin.other" || page.Next != "" {
		t.Fatalf("channel ls --all: %v\n%s", err, out)
	}
	if out, err := run("channel", "ls", "--http", s.http, "--limit", "0x"); err == nil {
		t.Fatalf("channel ls with a bad limit: %s", out)
	}
	var cs broker.ChannelStatus
	out, err = run("channel", "info", "--http", s.http, "admin.ch")
	if err != nil || json.Unmarshal([]byte(out), &cs) != nil || cs.LastSeq != 1 || len(cs.Replicas) != 3 {
		t.Fatalf("channel info: %v\n%s", err, out)
	}
	to := cs.Leader%3 + 1
	out, err = run("channel", "transfer-leader", "--http", s.http, "--to", fmt.Sprint(to), "admin.ch")
	if err != nil || !strings.Contains(out, fmt.Sprintf(`"leader": %d`, to)) {
		t.Fatalf("transfer-leader: %v\n%s", err, out)
	}
	if out, err := run("channel", "info", "--http", s.http, "no.such"); err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("unknown channel: %v %s", err, out)
	}
	// Removing a node of three with R = 3 channels: refused, nowhere to move them.
	if out, err := run("cluster", "remove", "--http", s.http, "3"); err == nil || !strings.Contains(out, "add a node first") {
		t.Fatalf("cluster remove with nowhere to go: %v %s", err, out)
	}
	if out, err := run("cluster", "add", "--http", s.http, "4"); err == nil || !strings.Contains(out, "ID@RAFT_ADDR") {
		t.Fatalf("cluster add without an address: %v %s", err, out)
	}
	// Add node 4, start it with --join, then remove node 3 and wait for it to be gone.
	raft4 := tu.FreePort(t)
	if out, err := run("cluster", "add", "--http", s.http, "4@"+raft4); err != nil || !strings.Contains(out, `"state": "pending"`) {
		t.Fatalf("cluster add: %v %s", err, out)
	}
	n4 := startServer(t, t.TempDir(), raft4, "--node-id", "4", "--join")
	waitReady(t, n4)
	out, err = run("cluster", "remove", "--http", s.http, "--wait", "60s", "3")
	if err != nil || !strings.Contains(out, `"state": "removed"`) {
		t.Fatalf("cluster remove: %v %s", err, out)
	}
	// The channel lives on nodes 1, 2 and 4, and node 4 serves it.
	out, err = run("channel", "info", "--http", n4.http, "admin.ch")
	if err != nil || json.Unmarshal([]byte(out), &cs) != nil || len(cs.Replicas) != 3 || cs.Replicas[2].NodeID != 4 {
		t.Fatalf("channel info after the removal: %v\n%s", err, out)
	}
	if out, err := run("sub", "--server", n4.addr, "--from", "earliest", "--count", "1", "admin.ch"); err != nil || !strings.Contains(out, "x") {
		t.Fatalf("sub through node 4: %v %q", err, out)
	}
}
