package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sampan-io/sampan/bridge"
	"github.com/sampan-io/sampan/client"
	"github.com/sampan-io/sampan/internal/natsembed"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// Bad NATS bridge flags stop `sampan serve` at once with an error that names the problem.
func TestNATSBadFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--nats", "nats://127.0.0.1:1", "--nats-export", "orders.*=sampan.orders"}, "wildcards do not match"},
		{[]string{"serve", "--nats", "nats://127.0.0.1:1", "--nats-import", "ext..x=in"}, "empty token"},
		{[]string{"serve", "--nats", "nats://127.0.0.1:1", "--nats-export", "orders"}, "want CHANNEL_PATTERN=SUBJECT"},
		{[]string{"serve", "--nats-export", "a=b"}, "no NATS url"},
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

// The YAML `nats:` section and the flags together: rules from both run, GET /bridges shows them.
func TestNATSConfigFileAndFlags(t *testing.T) {
	ns, err := natsembed.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer natsembed.Stop(ns)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sampan.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`nats:
  url: %s
  name: yaml-bridge
  export:
    - name: orders
      channels: orders.*
      subject: sampan.orders.*
  import:
    - subject: ext.>
      channel: fromnats.>
`, ns.ClientURL())), 0o644)
	s := startServer(t, filepath.Join(dir, "data"), tu.FreePort(t), "--config", cfg, "--nats-export", "audit=sampan.audit")
	var st bridge.Status
	tu.Eventually(t, 30*time.Second, "the bridge's three rules running", func() bool {
		r, err := http.Get("http://" + s.http + "/bridges")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		if err := json.NewDecoder(r.Body).Decode(&st); err != nil || len(st.Rules) != 3 {
			return false
		}
		for _, r := range st.Rules {
			if !r.Connected {
				return false
			}
		}
		return true
	})
	names := []string{st.Rules[0].Name, st.Rules[1].Name, st.Rules[2].Name}
	if strings.Join(names, " ") != "orders export:audit=sampan.audit import:ext.>=fromnats.>" {
		t.Fatalf("rules %v", names)
	}
}

// SIGKILL of the broker while it exports: after the restart the export resumes from the replicated
// cursor. Nothing is lost and order holds; the tail after the last cursor write may be sent twice
// (at-least-once), which the test reports.
func TestNATSExportSurvivesKill9(t *testing.T) {
	ns, err := natsembed.Start(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer natsembed.Stop(ns)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"sampan.orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	count := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			return 0
		}
		return info.State.Msgs
	}
	dir, raft := t.TempDir(), tu.FreePort(t)
	args := []string{"--nats", ns.ClientURL(), "--nats-export", "orders.*=sampan.orders.*"}
	s := startServer(t, dir, raft, args...)
	c, err := client.Connect(ctx, s.addr, client.WithReconnect(false, 0))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; ctx.Err() == nil; i++ {
			if _, err := c.PublishAsync(ctx, "orders.eu", []byte(fmt.Sprint(i))); err != nil {
				return // the server was killed
			}
		}
	}()
	tu.Eventually(t, 30*time.Second, "export under way", func() bool { return count() >= 2000 })
	_ = s.cmd.Process.Kill()
	<-s.exited
	c.Close()
	s = startServer(t, dir, raft, args...)
	c2, err := client.Connect(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	last, err := c2.Publish(ctx, "orders.eu", []byte("last"))
	if err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, "the export to reach the last message", func() bool {
		m, err := stream.GetLastMsgForSubject(ctx, "sampan.orders.eu")
		return err == nil && m.Header.Get(bridge.HeaderSeq) == fmt.Sprint(last)
	})
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	dups := 0
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseUint(m.Header.Get(bridge.HeaderSeq), 10, 64)
		if seen[n] {
			dups++
			continue
		}
		if n > 1 && !seen[n-1] {
			t.Fatalf("seq %d exported before seq %d", n, n-1)
		}
		seen[n] = true
	}
	if uint64(len(seen)) != last {
		t.Fatalf("%d distinct seqs exported, want %d", len(seen), last)
	}
	t.Logf("%d messages exported across the kill, %d sent twice", last, dups)
}
