package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sampan-io/sampan/bridge"
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
