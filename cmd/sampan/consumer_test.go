package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sampan-io/sampan/client"
	tu "github.com/sampan-io/sampan/internal/testutil"
)

// TestCLIConsumer drives a durable consumer the way a user does: consumer add/ls/info/rm against the
// HTTP API, sub --durable --ack reading and acknowledging, and a second sub --durable (without --ack)
// going on from where the first left off.
func TestCLIConsumer(t *testing.T) {
	s := startServer(t, t.TempDir(), tu.FreePort(t))
	run := func(args ...string) (string, error) {
		t.Helper()
		out, err := exec.Command(binPath, args...).CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("sampan %v: %v\n%s", args, err, out)
		}
		return out
	}
	status := func(out string) map[string]any {
		t.Helper()
		var st map[string]any
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("not a consumer status: %v\n%s", err, out)
		}
		return st
	}
	must("pub", "--server", s.addr, "cli.work", "a")
	must("pub", "--server", s.addr, "cli.work", "b")
	must("pub", "--server", s.addr, "cli.work", "c")
	must("pub", "--server", s.addr, "cli.work", "d")

	st := status(must("consumer", "add", "--http", s.http, "--from", "earliest", "--max-deliver", "3", "cli.work", "w"))
	if st["name"] != "w" || st["ack_floor"] != 0.0 || st["lag"] != 4.0 || st["max_deliver"] != 3.0 || st["mode"] != "shared" {
		t.Fatalf("consumer add printed %v", st)
	}
	if out := must("consumer", "ls", "--http", s.http, "cli.work"); !strings.Contains(out, `"name": "w"`) {
		t.Fatalf("consumer ls printed %s", out)
	}
	if out := must("sub", "--server", s.addr, "--durable", "w", "--ack", "--count", "2", "cli.work"); out != "a\nb\n" {
		t.Fatalf("sub --durable --ack printed %q", out)
	}
	// The acks were recorded before sub returned.
	if st := status(must("consumer", "info", "--http", s.http, "cli.work", "w")); st["ack_floor"] != 2.0 || st["acked"] != 2.0 || st["lag"] != 2.0 {
		t.Fatalf("after two acks: %v", st)
	}
	// The next reader goes on at c. Its attempt is 2: the first reader's window (2) got c once a was
	// acknowledged, and gave it back unprinted when it exited.
	out := must("sub", "--server", s.addr, "--durable", "w", "--count", "1", "--json", "cli.work")
	if !strings.Contains(out, `"seq":3`) || !strings.Contains(out, `"payload":"c"`) || !strings.Contains(out, `"attempt":2`) {
		t.Fatalf("sub --durable --json printed %q", out)
	}
	must("consumer", "rm", "--http", s.http, "cli.work", "w")
	if out, err := run("consumer", "info", "--http", s.http, "cli.work", "w"); err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("consumer info after rm: %v\n%s", err, out)
	}
	if out, err := run("consumer", "add", "--http", s.http, "--mode", "sideways", "cli.work", "x"); err == nil {
		t.Fatalf("consumer add accepted --mode sideways:\n%s", out)
	}
}

// TestConsumerKillNine SIGKILLs the broker while members of a durable consumer ack, restarts it on its
// data dir, and consumes the rest: no message whose ack was confirmed comes again, every other one
// does, and in the end every message is acked.
func TestConsumerKillNine(t *testing.T) {
	dir, raft := t.TempDir(), tu.FreePort(t)
	s := startServer(t, dir, raft)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const n = 2000
	pub, err := client.Connect(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	var last *client.PubFuture
	for i := 1; i <= n; i++ {
		if last, err = pub.PublishAsync(ctx, "kill.work", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	pub.Close()

	var mu sync.Mutex
	confirmed := map[uint64]bool{}
	var bad []string
	consume := func(addr string) *client.Client {
		c, err := client.Connect(ctx, addr, client.WithReconnect(false, 0))
		if err != nil {
			t.Fatal(err)
		}
		// A window far below what the member acks within the ack wait: a delivery waiting in the
		// member's queue past its ack wait would be handed out again before its ack (allowed).
		k, err := c.Consumer(ctx, "kill.work", "w", client.WithConsumerStart(client.StartEarliest()),
			client.WithAckWait(3*time.Second), client.WithConsumerWindow(32))
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Consume(ctx, func(d *client.Delivery) {
			mu.Lock()
			if confirmed[d.Seq] {
				bad = append(bad, fmt.Sprintf("seq %d delivered again (attempt %d) after its ack was confirmed", d.Seq, d.Attempt))
			}
			mu.Unlock()
			if d.Ack(ctx) == nil {
				mu.Lock()
				confirmed[d.Seq] = true
				mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(confirmed)
	}
	c1 := consume(s.addr)
	tu.Eventually(t, 30*time.Second, "some acks", func() bool { return count() >= n/4 })
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.exited
	<-c1.Done()
	before := count()
	t.Logf("%d acks confirmed before SIGKILL", before)

	s2 := startServer(t, dir, raft)
	c2 := consume(s2.addr)
	defer c2.Close()
	tu.Eventually(t, 60*time.Second, "every message acked", func() bool { return count() == n })
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d redeliveries of confirmed acks, first: %s", len(bad), bad[0])
	}
	if before == n {
		t.Fatal("every message was acked before the kill: nothing was tested")
	}
}
