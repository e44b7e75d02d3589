package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchJetStream runs `sampan bench jetstream` against one server with fsync always and a cluster
// of three, one publish at a time and pipelined, and checks the reports: every publish acked and its latency measured.
func TestBenchJetStream(t *testing.T) {
	for _, tc := range []struct {
		args []string
		n    int
	}{
		{[]string{"--replicas", "1", "--sync-always", "--window", "1"}, 200},
		{[]string{"--replicas", "3", "--window", "64", "--channels", "2", "--publishers", "2"}, 2000},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			args := append([]string{"bench", "jetstream", "--dir", t.TempDir(), "--count", strconv.Itoa(tc.n), "--json"}, tc.args...)
			out, err := exec.CommandContext(ctx, binPath, args...).Output()
			if err != nil {
				stderr := ""
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = string(ee.Stderr)
				}
				t.Fatalf("bench jetstream: %v\n%s%s", err, out, stderr)
			}
			var r benchJSResult
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("report is not JSON: %v\n%s", err, out)
			}
			if r.Count != tc.n || r.Errors != 0 || r.MsgsPerSec <= 0 || r.P50us <= 0 || r.MaxUs < r.P99us {
				t.Fatalf("report: %+v", r)
			}
		})
	}
}
