package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

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
