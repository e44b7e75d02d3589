package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"
	"time"
)

// TestBenchChannels runs a small `sampan bench channels` on one node and checks its JSON report: every
// channel created and woken without errors, the node got cold, and memory and CPU were measured.
func TestBenchChannels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "bench", "channels", "--count", "50", "--wake-sample", "10",
		"--idle-timeout", "1s", "--idle-window", "1s", "--cold-timeout", "30s", "--dir", t.TempDir(), "--json")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("bench channels: %v\n%s%s", err, out, stderr)
	}
	var r benchChannelsResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out)
	}
	if r.Create == nil || r.Create.OK != 50 || r.Create.Errors != 0 || r.Create.PerSec <= 0 || r.Create.P50ms <= 0 || r.Create.MaxMs < r.Create.P99ms {
		t.Fatalf("create: %+v", r.Create)
	}
	if r.Cold == nil || !r.Cold.Reached {
		t.Fatalf("channels never went cold: %+v", r.Cold)
	}
	if r.WakeSerial == nil || r.WakeSerial.OK != 10 || r.WakeSerial.Errors != 0 || r.WakeSerial.NotCold != 0 || r.WakeSerial.P50ms <= 0 {
		t.Fatalf("serial wakes: %+v", r.WakeSerial)
	}
	if r.WakeConc == nil || r.WakeConc.OK != 40 || r.WakeConc.Errors != 0 {
		t.Fatalf("concurrent wakes: %+v", r.WakeConc)
	}
	m := r.ColdMemory
	if m == nil || len(m.Baseline) != 1 || len(m.After) != 1 || m.Baseline[0].HeapInuse <= 0 || m.After[0].RSS <= 0 {
		t.Fatalf("memory: %+v", m)
	}
	for _, c := range []*cpuResult{r.EmptyCPU, r.ColdCPU} {
		if c == nil || len(c.PerNodePct) != 1 || c.WindowS < 1 || c.TotalPct < 0 {
			t.Fatalf("idle CPU: %+v", c)
		}
	}
}
